"""EXPORT, ERASE and PURGE: the bridge between a job row and its tenant's datastore."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from privacyops.audit.models import AuditEvent
from privacyops.connectors import (
    PreconditionFailure,
    PreconditionsFailed,
    PurgeProgress,
    TargetNotFound,
)
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.execution.guards import hold_guard, refuse_if_held
from privacyops.execution.ledger import categories_by_table, datamap_snapshot_take
from privacyops.execution.packaging import build_package
from privacyops.execution.rectify import run_rectify, run_restrict
from privacyops.execution.registry import datastore_for, target_for
from privacyops.execution.storage import artifact_prepare, artifacts_delete, packages_holding
from privacyops.execution.vacuum import vacuum_planned
from privacyops.jobs.models import Job
from privacyops.jobs.services import job_heartbeat
from privacyops.tenancy.models import Tenant

DOWNLOAD_SALT = "privacyops.download"


def signed_download_path(artifact_id: str) -> str:
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign(artifact_id)
    return reverse("artifact-download", kwargs={"token": token})


def _not_found(job: Job) -> JobBlocked:
    """Final: another attempt would find nothing either. The sentence does not repeat the id
    (it may be an email address an operator typed); the job page shows it to those who may
    see it."""
    return JobBlocked(f"The {job.target_type} this job names does not exist in the data of "
                      f"tenant {job.tenant.slug} (it may have been purged, or the id is "
                      "mistyped). Check the target on the job page and create a new job.",
                      code="target_not_found")


@dataclass(frozen=True)
class Finished:
    """What an executor answers when something must be written with the job's completion:
    `on_completed` runs in the transaction that records the job Completed."""

    result: dict[str, Any]
    on_completed: Callable[[Job, AuditEvent], None]


def run_export(job: Job, worker: str) -> Finished:
    datastore = datastore_for(job.tenant)
    target = target_for(job.tenant, job.target_type, job.target_id)
    if not datastore.exists(target):
        raise _not_found(job)
    # The package is filed under the canonical id, whatever spelling the job was created with.
    key = (datastore.canonical_id(target) if job.target_type != "tenant" else None) or target.id
    header = {"exported_at": datetime.now(tz=UTC).isoformat(), "job_id": job.pk,
              "target_type": job.target_type, "target_id": key,
              "datastore": datastore.datamap.name}
    with tempfile.TemporaryDirectory(prefix="privacyops-export-") as workdir:
        special = datastore.datamap.special_categories_exported()
        package = build_package(datastore.iter_export(target), Path(workdir), header,
                                special_categories=special)
        if not job_heartbeat(job_id=job.pk, worker_id=worker):
            raise LeaseLost(job.pk)
        stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S")
        artifact = artifact_prepare(
            job=job, package=package, target_id=key,
            file_name=f"export-{job.target_type}-{key}-{stamp}.zip",
        )
    result = {
        "download_url": signed_download_path(str(artifact.pk)),
        "expires_at": artifact.expires_at.isoformat(),
        "sections": package.sections,
        "size": package.size,
        "sha256": package.sha256,
        "file_name": artifact.file_name,
        "special_categories": special,
    }
    # The package is listed in the transaction that completes the job: one commit, not two.
    return Finished(result, lambda _job, _event: artifact.save(force_insert=True))


def precondition_sentence(failures: list[PreconditionFailure]) -> str:
    return "Refused. " + " ".join(f"The person {f.message}" for f in failures)


def run_erase(job: Job, worker: str) -> dict[str, Any]:
    datastore = datastore_for(job.tenant)
    target = target_for(job.tenant, job.target_type, job.target_id)
    refuse_if_held(tenant_id=job.tenant_id, target=target, target_type=job.target_type,
                   datastore=datastore)
    if not datastore.exists(target):
        raise _not_found(job)
    packages = packages_holding(job=job, datastore=datastore, target=target)
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
    except TargetNotFound:
        raise _not_found(job) from None
    removed = artifacts_delete(packages, key_text=datastore.key_text)
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
        "vacuumed": vacuum_planned(datastore, [c.table for c in result.tables if c.rows]),
    }


def run_purge(job: Job, worker: str) -> dict[str, Any]:
    if job.target_type == "tenant" and job.tenant.systems.filter(
            connector_type="sql").count() > 1:
        from privacyops.execution.multi import run_tenant_purge_all

        return run_tenant_purge_all(job, worker)
    datastore = datastore_for(job.tenant)
    target = target_for(job.tenant, job.target_type, job.target_id)
    refuse_if_held(tenant_id=job.tenant_id, target=target, target_type=job.target_type,
                   datastore=datastore)
    snapshot = datamap_snapshot_take(job.tenant)
    at = datetime.now(tz=UTC).replace(microsecond=0)
    # A retried purge resumes: rows earlier attempts removed are counted once, from progress.
    earlier = int(job.progress.get("done", 0)) if job.attempts > 1 else 0
    # Only a first attempt can tell "nothing there" from "an earlier attempt removed it".
    if job.attempts == 1 and job.target_type != "tenant" and not datastore.exists(target):
        raise _not_found(job)
    # Packages go before the rows do, so an attempt that dies half-way leaves none behind
    # (the next attempt no longer finds the subjects it already purged), and once more after.
    packages = packages_holding(job=job, datastore=datastore, target=target)
    removed = artifacts_delete(packages, key_text=datastore.key_text)
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
    removed += artifacts_delete(packages, key_text=datastore.key_text)
    with transaction.atomic():
        if job.target_type == "tenant":
            # Remaining HMAC hashes of this tenant can no longer be linked to anyone.
            Tenant.objects.filter(pk=job.tenant_id).update(hash_key=None)
    return {
        "datastore": datastore.datamap.name,
        "rows_deleted": earlier + result.rows_deleted,
        "rows_deleted_by_earlier_attempts": earlier,
        "tables": result.deleted,
        # Rows a statutory keep rule protects: personal fields erased, the rows kept.
        "tables_anonymised": result.anonymised,
        "special_categories": datastore.datamap.special_categories_in_tables(
            dict.fromkeys(t for t, n in result.deleted.items() if n)),
        "categories": categories_by_table(
            datastore.datamap, dict.fromkeys(t for t, n in result.deleted.items() if n)),
        "export_artifacts_deleted": removed,
        "applied_at": at.isoformat(),
        "datamap_sha256": snapshot.sha256 if snapshot else None,
        "vacuumed": vacuum_planned(datastore, [t for t, n in result.deleted.items() if n]),
    }


EXECUTORS = {"EXPORT": run_export, "ERASE": run_erase, "PURGE": run_purge,
             "RECTIFY": run_rectify, "RESTRICT": run_restrict}
