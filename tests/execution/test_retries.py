"""Attempts, leases and resumption: a job is retried up to its limit and never written twice."""

from __future__ import annotations

import pytest

from privacyops.audit.models import AuditEvent
from privacyops.execution.errors import LeaseLost
from privacyops.execution.guards import hold_guard
from privacyops.execution.registry import datastore_for, target_for
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_claim, job_create
from tests import factories


class TestRetries:
    def test_a_missing_data_map_is_retried_then_fails(self, demo_store, staff, settings):
        settings.JOB_MAX_ATTEMPTS = 2
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=str(demo_store.erasable_person()),
                         actor=factories.actor(staff))
        settings.DATAMAP_DIR = str(demo_store.path.parent / "missing-datamaps")
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.PROCESSING
        assert job.error_code == "datamap_unusable"
        assert job.lease_owner == ""
        assert AuditEvent.objects.filter(action="job.attempt_failed").count() == 1
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert job.error_code == "datamap_unusable"
        assert job.attempts == 2

    def test_a_later_success_clears_the_earlier_error(self, demo_store, staff, settings):
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=str(demo_store.erasable_person()),
                         actor=factories.actor(staff))
        good_dir = settings.DATAMAP_DIR
        settings.DATAMAP_DIR = str(demo_store.path.parent / "missing-datamaps")
        run_job_now(job.pk)
        settings.DATAMAP_DIR = good_dir
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED
        assert job.error_code == ""
        assert job.attempts == 2


class TestLeases:
    def test_a_worker_that_lost_its_lease_cannot_write(self, demo_store, staff):
        person = demo_store.erasable_person()
        job = factories.job_create(tenant=demo_store.tenant, requested_by=staff,
                                   target_id=str(person), status=JobStatus.APPROVED)
        assert job_claim(job_id=job.pk, worker_id="worker-a") is not None
        Job.objects.filter(pk=job.pk).update(lease_owner="worker-b")
        datastore = datastore_for(demo_store.tenant)
        target = target_for(demo_store.tenant, "subject", str(person))
        with pytest.raises(LeaseLost), hold_guard(
            tenant_id=demo_store.tenant.pk, target=target, target_type="subject",
            datastore=datastore, job_id=job.pk, worker="worker-a",
        ):
            datastore.erase(target)
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert not email.startswith("erased-user-")


class TestResumedPurge:
    def test_rows_of_earlier_attempts_are_counted_once(self, demo_store, staff):
        person = demo_store.erasable_person()
        owned = demo_store.query(
            "SELECT COUNT(*) FROM activity_log WHERE actor_id = ? OR subject_id = ?",
            person, person)[0][0]
        job = factories.job_create(tenant=demo_store.tenant, requested_by=staff,
                                   job_type="PURGE", target_id=str(person),
                                   status=JobStatus.APPROVED, attempts=1,
                                   progress={"done": 7, "total": 7 + owned + 1})
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert job.result["rows_deleted_by_earlier_attempts"] == 7
        assert job.result["rows_deleted"] == 7 + sum(job.result["tables"].values())
        assert job.progress["done"] == job.progress["total"]

