"""Reading artifacts: a signed, expiring link that only an authorised viewer may follow."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from privacyops.errors import NotFound
from privacyops.execution.executors import DOWNLOAD_SALT
from privacyops.execution.models import Artifact
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import can


def artifact_from_token(token: str) -> Artifact:
    """The artifact a signed link names, if the link is intact, unexpired and not deleted."""
    max_age = settings.DOWNLOAD_LINK_DAYS * 86400
    try:
        artifact_id = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise NotFound("This download link has expired. Run the export again for a new link.",
                       code="link_expired") from None
    except signing.BadSignature:
        raise NotFound("This download link is not valid.") from None
    artifact = Artifact.objects.filter(pk=artifact_id, deleted_at__isnull=True).first()
    if artifact is None:
        raise NotFound("This export no longer exists (it expired or its subject was erased).",
                       code="link_expired")
    return artifact


def artifact_for_viewer(token: str, viewer: User) -> Artifact:
    artifact = artifact_from_token(token)
    tenant = Tenant.objects.filter(pk=artifact.tenant_id).first()
    if tenant is None or not can(viewer, "job.view", tenant):
        # Another tenant's export is indistinguishable from a missing one.
        raise NotFound("This export does not exist.")
    return artifact
