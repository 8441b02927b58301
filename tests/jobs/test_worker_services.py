from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import audit_verify
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import (
    job_claim,
    job_complete,
    job_fail,
    job_heartbeat,
    jobs_needing_a_worker,
    jobs_reconcile,
)
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def approved(tenant, **extra) -> Job:
    return factories.job_create(tenant=tenant, status=JobStatus.APPROVED, job_type="EXPORT",
                                requires_approval=False, **extra)


def leased(tenant, *, owner="worker-1", expires_in=timedelta(minutes=1), attempts=1) -> Job:
    return factories.job_create(tenant=tenant, status=JobStatus.PROCESSING, lease_owner=owner,
                                lease_expires_at=timezone.now() + expires_in, attempts=attempts)


def snapshot(job: Job) -> dict:
    return Job.objects.filter(pk=job.pk).values().get()


class TestClaim:
    @pytest.mark.parametrize("workers", [2, 4])
    def test_workers_claiming_at_once_have_one_winner(self, tenant, workers):
        job = approved(tenant)
        barrier = threading.Barrier(workers)
        results: dict[str, Job | None] = {}

        def claim(worker_id: str) -> None:
            try:
                barrier.wait(timeout=30)
                results[worker_id] = job_claim(job_id=job.pk, worker_id=worker_id)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=claim, args=(f"worker-{n}",)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        winners = [worker for worker, claimed in results.items() if claimed is not None]
        assert len(results) == workers
        assert len(winners) == 1
        job.refresh_from_db()
        assert (job.status, job.lease_owner, job.attempts) == (JobStatus.PROCESSING, winners[0], 1)
        assert AuditEvent.objects.filter(action="job.started").count() == 1

    def test_a_claim_takes_a_lease_and_is_audited(self, tenant):
        job = job_claim(job_id=approved(tenant).pk, worker_id="worker-1")
        assert job.lease_owner == "worker-1"
        expected_end = timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)
        assert abs(job.lease_expires_at - expected_end) < timedelta(seconds=5)
        assert job.started_at is not None
        event = AuditEvent.objects.get()
        assert (event.action, event.actor_type, event.actor_id, event.metadata) == (
            "job.started", "system", "worker-1", {"attempt": 1})

    def test_an_expired_lease_can_be_taken_over(self, tenant):
        job = leased(tenant, expires_in=-timedelta(seconds=1))
        taken = job_claim(job_id=job.pk, worker_id="worker-2")
        assert taken is not None
        assert (taken.status, taken.lease_owner, taken.attempts) == (
            JobStatus.PROCESSING, "worker-2", 2)
        assert taken.lease_expires_at > timezone.now()
        assert not job_heartbeat(job_id=job.pk, worker_id="worker-1")
        assert not job_complete(job_id=job.pk, worker_id="worker-1", result={})

    def test_a_live_lease_cannot_be_taken(self, tenant):
        job = leased(tenant)
        before = snapshot(job)
        assert job_claim(job_id=job.pk, worker_id="worker-2") is None
        assert snapshot(job) == before
        assert not AuditEvent.objects.exists()

    def test_attempts_beyond_the_limit_end_failed(self, tenant):
        job = approved(tenant)
        for attempt in range(1, settings.JOB_MAX_ATTEMPTS + 1):
            assert job_claim(job_id=job.pk, worker_id=f"worker-{attempt}") is not None
            Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now()
                                                 - timedelta(seconds=1))
        assert job_claim(job_id=job.pk, worker_id="worker-last") is None
        job.refresh_from_db()
        assert (job.status, job.error_code) == (JobStatus.FAILED, "attempts_exhausted")
        assert f"started {settings.JOB_MAX_ATTEMPTS} times" in job.error_message
        assert f"limit {settings.JOB_MAX_ATTEMPTS}" in job.error_message
        assert (job.lease_owner, job.lease_expires_at) == ("", None)
        failed = AuditEvent.objects.get(action="job.failed")
        assert (failed.outcome, failed.metadata["code"]) == ("failure", "attempts_exhausted")
        assert AuditEvent.objects.filter(action="job.started").count() == settings.JOB_MAX_ATTEMPTS
        assert audit_verify().ok

    def test_not_before_delays_the_claim(self, tenant):
        job = approved(tenant, not_before=timezone.now() + timedelta(hours=72))
        assert job_claim(job_id=job.pk, worker_id="worker-1") is None
        job.refresh_from_db()
        assert (job.status, job.attempts) == (JobStatus.APPROVED, 0)
        Job.objects.filter(pk=job.pk).update(not_before=timezone.now() - timedelta(seconds=1))
        assert job_claim(job_id=job.pk, worker_id="worker-1") is not None

    def test_a_missing_job_is_not_claimed(self):
        assert job_claim(job_id=31337, worker_id="worker-1") is None


class TestHeartbeat:
    def test_the_owner_renews_the_lease_and_records_progress(self, tenant):
        job = leased(tenant, expires_in=timedelta(seconds=5))
        assert job_heartbeat(job_id=job.pk, worker_id="worker-1",
                             progress={"done": 3, "total": 10})
        job.refresh_from_db()
        assert job.lease_expires_at > timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS
                                                                 - 5)
        assert job.progress_percent == 30

    def test_a_lost_lease_answers_false(self, tenant):
        job = leased(tenant, owner="worker-2")
        before = snapshot(job)
        assert job_heartbeat(job_id=job.pk, worker_id="worker-1", progress={"done": 1}) is False
        assert snapshot(job) == before

    def test_a_finished_job_answers_false(self, tenant):
        job = factories.job_create(tenant=tenant, status=JobStatus.COMPLETED,
                                   lease_owner="worker-1")
        assert job_heartbeat(job_id=job.pk, worker_id="worker-1") is False


class TestFinish:
    def test_the_owner_completes_with_its_result(self, tenant):
        job = leased(tenant)
        Job.objects.filter(pk=job.pk).update(progress={"done": 4, "total": 9})
        assert job_complete(job_id=job.pk, worker_id="worker-1", result={"rows": {"users": 1}})
        job.refresh_from_db()
        assert (job.status, job.result, job.progress_percent) == (
            JobStatus.COMPLETED, {"rows": {"users": 1}}, 100)
        assert (job.lease_owner, job.lease_expires_at) == ("", None)
        assert job.finished_at is not None
        assert AuditEvent.objects.get().action == "job.completed"

    def test_the_owner_fails_it_naming_the_hold(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        job = leased(tenant)
        assert job_fail(job_id=job.pk, worker_id="worker-1", code="legal_hold",
                        message=f"Blocked by {hold.describe()}", hold_id=hold.pk)
        job.refresh_from_db()
        assert (job.status, job.error_code, job.blocking_hold) == (JobStatus.FAILED, "legal_hold",
                                                                   hold)
        assert "Litigation" in job.error_message
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.metadata["hold_id"]) == (
            "job.failed", "failure", hold.pk)

    @pytest.mark.parametrize("finish", ["complete", "fail"])
    def test_a_non_owner_is_ignored(self, tenant, finish):
        job = leased(tenant, owner="worker-2")
        before = snapshot(job)
        if finish == "complete":
            done = job_complete(job_id=job.pk, worker_id="worker-1", result={"rows": {}})
        else:
            done = job_fail(job_id=job.pk, worker_id="worker-1", code="error", message="boom")
        assert done is False
        assert snapshot(job) == before
        assert not AuditEvent.objects.exists()


class TestNeedingAWorker:
    def test_finds_stale_approved_and_expired_processing_jobs(self, tenant):
        long_ago = timezone.now() - timedelta(minutes=10)
        stale = approved(tenant)
        fresh = approved(tenant)
        waiting = approved(tenant, not_before=timezone.now() + timedelta(hours=1))
        expired = leased(tenant, expires_in=-timedelta(seconds=1))
        live = leased(tenant)
        pending = factories.job_create(tenant=tenant)
        done = factories.job_create(tenant=tenant, status=JobStatus.COMPLETED)
        Job.objects.filter(pk__in=[stale.pk, waiting.pk, pending.pk, done.pk, live.pk]).update(
            updated_at=long_ago)
        found = jobs_needing_a_worker(stale_after=timedelta(seconds=30))
        assert sorted(found) == sorted([stale.pk, expired.pk])
        assert fresh.pk not in found

    def test_reconcile_rings_once_for_a_stale_approved_job(self, tenant):
        stale = approved(tenant)
        Job.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
        assert jobs_reconcile(stale_after=timedelta(seconds=30)) == 1
        assert jobs_reconcile(stale_after=timedelta(seconds=30)) == 0
        stale.refresh_from_db()
        assert stale.status == JobStatus.APPROVED
