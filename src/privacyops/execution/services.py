"""Recording downloads of export artifacts."""

from __future__ import annotations

from django.db import transaction

from privacyops.audit.services import audit_record
from privacyops.execution.models import Artifact
from privacyops.tenancy.actors import Actor


@transaction.atomic(durable=True)
def artifact_download_record(*, artifact: Artifact, actor: Actor) -> None:
    audit_record(actor=actor, action="job.downloaded", tenant_id=artifact.tenant_id,
                 target_type="job", target_id=artifact.job_id,
                 metadata={"artifact": str(artifact.pk), "size": artifact.size})
