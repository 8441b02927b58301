"""The real `privacyops worker` process takes queued jobs, and picks up jobs the queue lost."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.db import connection

from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_create, jobs_reconcile
from tests import factories


def _worker_env() -> dict[str, str]:
    database = settings.DATABASES["default"]
    assert connection.vendor == "sqlite"
    return {
        **os.environ,
        "PRIVACYOPS_DATABASE_URL": f"sqlite:///{database['NAME']}",
        "PRIVACYOPS_DATAMAP_DIR": settings.DATAMAP_DIR,
        "PRIVACYOPS_TASKS_BACKEND": "db",
    }


def _run_worker_batch() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacyops.cli", "worker", "--batch"],
        env=_worker_env(), capture_output=True, text=True, timeout=120, check=False,
    )


class TestWorkerProcess:
    def test_worker_runs_an_enqueued_export(self, demo_store, staff):
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=str(demo_store.erasable_person()),
                         actor=factories.actor(staff))
        assert job.status == JobStatus.APPROVED
        finished = _run_worker_batch()
        assert finished.returncode == 0, finished.stderr
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert job.result["sections"]["data_subject"] == 1

    def test_expired_lease_is_taken_over_after_a_crash(self, demo_store, staff):
        """A worker that died mid-job leaves it Processing; the next worker finishes it."""
        job = factories.job_create(
            tenant=demo_store.tenant, requested_by=staff, job_type="EXPORT",
            target_id=str(demo_store.erasable_person()), status=JobStatus.PROCESSING,
            requires_approval=False, lease_owner="dead-host:1", attempts=1,
        )
        Job.objects.filter(pk=job.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        assert jobs_reconcile() == 1
        finished = _run_worker_batch()
        assert finished.returncode == 0, finished.stderr
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED
        assert job.attempts == 2
