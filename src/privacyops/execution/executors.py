"""EXPORT, ERASE and PURGE: the bridge between a job row and its tenant's datastore."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from privacyops.connectors import (
    ConnectorError,
    PreconditionFailure,
    PreconditionsFailed,
    PurgeProgress,
    TargetNotFound,
)
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.execution.guards import hold_guard, refuse_if_held
from privacyops.execution.ledger import (
    categories_by_table,
    datamap_snapshot_take,
    vacuum_after_erase,
)
from privacyops.execution.packaging import build_package
from privacyops.execution.registry import datastore_for, target_for
from privacyops.execution.storage import artifact_store, artifacts_delete_for_target
from privacyops.jobs.models import Job
from privacyops.jobs.services import job_heartbeat
from privacyops.tenancy.models import Tenant

DOWNLOAD_SALT = "privacyops.download"


def signed_download_path(artifact_id: str) -> str:
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign(artifact_id)
    return reverse("artifact-download", kwargs={"token": token})


def _not_found(job: Job, error: ConnectorError) -> JobBlocked:
    return JobBlocked(f"{job.target_type} {job.target_id} was not found: {error}. Check the "
                      "target id and tenant.", code="target_not_found")


def run_export(job: Job, worker: str) -> dict[str, Any]:
    datastore = datastore_for(job.tenant)
    target = target_for(job.tenant, job.target_type, job.target_id)
    if not datastore.exists(target):
        raise _not_found(job, ConnectorError("no such row in the datastore"))
    header = {"exported_at": datetime.now(tz=UTC).isoformat(), "job_id": job.pk,
              "target_type": job.target_type, "target_id": job.target_id,
              "datastore": datastore.datamap.name}
    with tempfile.TemporaryDirectory(prefix="privacyops-export-") as workdir:
        special = datastore.datamap.special_categories_exported()
        package = build_package(datastore.iter_export(target), Path(workdir), header,
                                special_categories=special)
        if not job_heartbeat(job_id=job.pk, worker_id=worker):
            raise LeaseLost(job.pk)
        stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S")
        artifact = artifact_store(
            job=job, package=package,
            file_name=f"export-{job.target_type}-{job.target_id}-{stamp}.zip",
        )
    return {
        "download_url": signed_download_path(str(artifact.pk)),
        "expires_at": artifact.expires_at.isoformat(),
        "sections": package.sections,
        "size": package.size,
        "sha256": package.sha256,
        "file_name": artifact.file_name,
        "special_categories": special,
    }


def precondition_sentence(failures: list[PreconditionFailure]) -> str:
    return "Refused. " + " ".join(f"The person {f.message}" for f in failures)


def run_erase(job: Job, worker: str) -> dict[str, Any]:
    datastore = datastore_for(job.tenant)
    target = target_for(job.tenant, job.target_type, job.target_id)
    refuse_if_held(tenant_id=job.tenant_id, target=target, target_type=job.target_type,
                   datastore=datastore)
    failures = datastore.check_preconditions(target)
    if failures:
        raise JobBlocked(precondition_sentence(failures),
                         code="precondition")
    snapshot = datamap_snapshot_take(job.tenant)
    at = datetime.now(tz=UTC).replace(microsecond=0)
    try:
        with hold_guard(tenant_id=job.tenant_id, target=target, target_type=job.target_type,
                        datastore=datastore, job_id=job.pk, worker=worker):
            result = datastore.erase(target, at=at)
    except PreconditionsFailed as error:
        raise JobBlocked(precondition_sentence(error.failures), code="precondition") from None
    except TargetNotFound as error:
        raise _not_found(job, error) from None
    with transaction.atomic():
        removed = artifacts_delete_for_target(tenant_id=job.tenant_id,
                                              target_type=job.target_type,
                                              target_id=job.target_id)
    return {
        "datastore": datastore.datamap.name,
        "rows_changed": result.rows_changed,
        "tables": {c.table: {"rows": c.rows, "columns": list(c.columns)} for c in result.tables},
        "special_categories": datastore.datamap.special_categories_in_tables(
            {c.table: c.columns for c in result.tables if c.rows}),
        "categories": categories_by_table(
            datastore.datamap, {c.table: list(c.columns) for c in result.tables if c.rows}),
        "export_artifacts_deleted": removed,
        "applied_at": at.isoformat(),
        "datamap_sha256": snapshot.sha256 if snapshot else None,
        "vacuumed": vacuum_after_erase(datastore, [c.table for c in result.tables if c.rows]),
    }


def run_purge(job: Job, worker: str) -> dict[str, Any]:
    datastore = datastore_for(job.tenant)
    target = target_for(job.tenant, job.target_type, job.target_id)
    refuse_if_held(tenant_id=job.tenant_id, target=target, target_type=job.target_type,
                   datastore=datastore)
    snapshot = datamap_snapshot_take(job.tenant)
    at = datetime.now(tz=UTC).replace(microsecond=0)
    # A retried purge resumes: rows earlier attempts removed are counted once, from progress.
    earlier = int(job.progress.get("done", 0)) if job.attempts > 1 else 0
    remaining = sum(datastore.purge(target, dry_run=True).deleted.values())

    def on_progress(progress: PurgeProgress) -> None:
        state = {"done": earlier + progress.total_deleted,
                 "total": earlier + max(remaining, progress.total_deleted),
                 "table": progress.table, "table_done": progress.deleted,
                 "table_total": progress.table_total}
        if not job_heartbeat(job_id=job.pk, worker_id=worker, progress=state):
            raise LeaseLost(job.pk)

    job_heartbeat(job_id=job.pk, worker_id=worker,
                  progress={"done": earlier, "total": earlier + remaining})
    result = datastore.purge(
        target, chunk_size=settings.PURGE_CHUNK_ROWS,
        chunk_guard=lambda: hold_guard(tenant_id=job.tenant_id, target=target,
                                       target_type=job.target_type, datastore=datastore,
                                       job_id=job.pk, worker=worker),
        on_progress=on_progress,
    )
    with transaction.atomic():
        removed = artifacts_delete_for_target(tenant_id=job.tenant_id,
                                              target_type=job.target_type,
                                              target_id=job.target_id)
        if job.target_type == "tenant":
            # Remaining HMAC hashes of this tenant can no longer be linked to anyone.
            Tenant.objects.filter(pk=job.tenant_id).update(hash_key=None)
    return {
        "datastore": datastore.datamap.name,
        "rows_deleted": earlier + result.rows_deleted,
        "rows_deleted_by_earlier_attempts": earlier,
        "tables": result.deleted,
        "special_categories": datastore.datamap.special_categories_in_tables(
            dict.fromkeys(t for t, n in result.deleted.items() if n)),
        "categories": categories_by_table(
            datastore.datamap, dict.fromkeys(t for t, n in result.deleted.items() if n)),
        "export_artifacts_deleted": removed,
        "applied_at": at.isoformat(),
        "datamap_sha256": snapshot.sha256 if snapshot else None,
        "vacuumed": vacuum_after_erase(datastore, [t for t, n in result.deleted.items() if n]),
    }


EXECUTORS = {"EXPORT": run_export, "ERASE": run_erase, "PURGE": run_purge}
