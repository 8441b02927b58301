"""Workers SIGKILLed at random points: no job lost, nothing half-erased, half-purged or half-written.

Four real `privacyops worker` processes run a mix of ERASE, PURGE (subject and issuer) and
EXPORT jobs while the test kills one of them every few hundred milliseconds (mostly one that
holds a job's lease) and starts it again. Targets share no person, so however the jobs
interleave, the datastore must end exactly as a serial run of the same operations leaves it.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import audit_verify
from privacyops.connectors import Target
from privacyops.execution.models import Artifact
from privacyops.execution.storage import artifact_chunks
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories
from tests.durability.conftest import FINAL, worker_env
from tests.durability.targets import (
    PlannedJob,
    erase_mismatches,
    plan_jobs,
    run_serially,
    table_dump,
)

pytestmark = [pytest.mark.durability, pytest.mark.django_db(transaction=True)]

WORKERS = 4
MIN_KILLS = 50
MAX_KILLS = 60
DEADLINE_SECONDS = 150


def _enqueue(store, planned: PlannedJob, staff, approver) -> int:
    tenant = store.tenant_of_workspace(planned.workspace_id)
    job = job_create(tenant_id=tenant.pk, job_type=planned.job_type,
                     target_type=planned.target_type, target_id=planned.target_id,
                     reason="durability", actor=factories.actor(staff))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    return job.pk


def _stored_files(jobs: list[Job]) -> set[str]:
    """The files in the folders of these jobs. The data folder is the whole test run's, so
    earlier tests' packages (whose tenants and jobs may have had the same ids) are not counted."""
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return {
        path.relative_to(root).as_posix()
        for job in jobs
        for path in (root / "exports" / str(job.tenant_id) / str(job.pk)).rglob("*")
        if path.is_file()
    }


class TestKilledWorkers:
    def test_every_job_completes_exactly_once_and_nothing_is_half_done(
        self, durable_store, worker_pool, staff, other_staff, tmp_path
    ):
        rng = random.Random(20260607)
        plan = plan_jobs(durable_store, erase=5, purge=4, export=4, issuer_workspaces=2)
        reference = durable_store.copy_to(tmp_path / "reference.sqlite3")
        pool = worker_pool(worker_env(lease_seconds=2, chunk_rows=7))
        pool.start_all(WORKERS)
        started = time.monotonic()
        job_ids = [_enqueue(durable_store, planned, staff, other_staff) for planned in plan.jobs]
        exports = plan.of("EXPORT")
        waves = 0
        next_kill = time.monotonic() + rng.uniform(0.2, 0.6)
        while True:
            open_jobs = Job.objects.filter(pk__in=job_ids).exclude(status__in=FINAL).count()
            if not open_jobs and pool.kills >= MIN_KILLS:
                break
            if not open_jobs:
                # Everything finished before enough kills: another wave of (repeatable) exports.
                waves += 1
                job_ids += [_enqueue(durable_store, planned, staff, other_staff)
                            for planned in rng.sample(exports, 6)]
            if time.monotonic() - started > DEADLINE_SECONDS:
                states = list(Job.objects.filter(pk__in=job_ids).exclude(status__in=FINAL)
                              .values_list("pk", "job_type", "status", "attempts"))
                pytest.fail(f"open after {DEADLINE_SECONDS}s: {states}\n{pool.log_tail()}")
            for slot in pool.crashed():
                pool.start(slot)
            # Mostly mid-job; when nobody has been busy for a while, an idle or starting one.
            if (time.monotonic() >= next_kill and pool.kills < MAX_KILLS
                    and pool.kill_one(rng, idle_too=time.monotonic() > next_kill + 2)):
                next_kill = time.monotonic() + rng.uniform(0.2, 0.8)
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        pool.stop()

        jobs = list(Job.objects.filter(pk__in=job_ids).order_by("pk"))
        not_completed = [(j.pk, j.job_type, j.status, j.error_code, j.error_message)
                         for j in jobs if j.status != JobStatus.COMPLETED]
        assert not not_completed, f"{not_completed}\n{pool.log_tail()}"
        retried = sum(1 for j in jobs if j.attempts > 1)

        # Exactly one job.completed event per job, and an intact chain.
        completed_events: dict[str, int] = {}
        for target_id in AuditEvent.objects.filter(
                action="job.completed", target_type="job").values_list("target_id", flat=True):
            completed_events[target_id] = completed_events.get(target_id, 0) + 1
        assert {str(pk): 1 for pk in job_ids} == {
            k: v for k, v in completed_events.items() if int(k) in job_ids}
        verified = audit_verify()
        assert verified.ok, verified.sentence()

        # The datastore is exactly what a serial, crash-free run of the same operations leaves.
        run_serially(durable_store, plan, reference)
        actual, expected = table_dump(durable_store.path), table_dump(reference)
        for table in expected:
            assert actual[table] == expected[table], f"{table} differs from the serial run"

        for planned in plan.of("ERASE"):
            tenant = durable_store.tenant_of_workspace(planned.workspace_id)
            assert erase_mismatches(durable_store, planned.target_id,
                                    factories.tenant_key(tenant)) == [], planned
        for planned in plan.of("PURGE", "subject") + plan.of("PURGE", "issuer"):
            tenant = durable_store.tenant_of_workspace(planned.workspace_id)
            target = Target(scope=planned.target_type, id=planned.target_id,
                            tenant_key=factories.tenant_key(tenant))
            assert durable_store.reached_rows(target, tenant) == set(), planned

        # Every listed package is whole; no file is left without its row.
        tenant_ids = [t.pk for t in durable_store.tenants]
        live = list(Artifact.objects.filter(tenant_id__in=tenant_ids, deleted_at__isnull=True))
        for job in jobs:
            if job.job_type != "EXPORT":
                continue
            mine = [a for a in live if a.job_id == job.pk]
            assert len(mine) == 1, f"job {job.pk} lists {len(mine)} packages"
            assert mine[0].sha256 == job.result["sha256"]
        for artifact in live:
            plain = b"".join(artifact_chunks(artifact))
            assert hashlib.sha256(plain).hexdigest() == artifact.sha256
            assert len(plain) == artifact.size
            names = set(zipfile.ZipFile(io.BytesIO(plain)).namelist())
            assert {"export.json", "manifest.json"} <= names
        assert _stored_files(jobs) == {a.storage_name for a in live}

        print(  # the run's figures, for the report
            f"\n[durability/{connection.vendor}] {len(jobs)} jobs ({waves} extra waves), "
            f"{pool.kills} kills ({pool.kills_mid_job} mid-job), {retried} jobs retried, "
            f"{elapsed:.1f}s"
        )
