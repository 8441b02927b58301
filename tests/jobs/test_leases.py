"""A worker's lease on a job, on a controlled clock: held until the second it ends, then free.

The clock is moved with time-machine; every instant is computed here from the setting, not
read back from the job row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import (
    job_claim,
    job_complete,
    job_fail,
    job_heartbeat,
    job_lease_held,
    jobs_needing_a_worker,
)
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def lease(settings) -> timedelta:
    settings.JOB_LEASE_SECONDS = 60
    return timedelta(seconds=60)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def approved_job(tenant) -> Job:
    return factories.job_create(tenant=tenant, status=JobStatus.APPROVED, job_type="EXPORT",
                                requires_approval=False)


class TestLeaseExpiry:
    def test_held_until_the_lease_ends_then_taken_over(self, tenant, lease, clock):
        job = approved_job(tenant)
        assert job_claim(job_id=job.pk, worker_id="worker-a") is not None

        clock.move_to(T0 + lease - SECOND, tick=False)
        assert job_lease_held(job_id=job.pk, worker_id="worker-a")
        assert job_claim(job_id=job.pk, worker_id="worker-b") is None
        assert job.pk not in jobs_needing_a_worker(stale_after=timedelta(hours=1))

        clock.move_to(T0 + lease + SECOND, tick=False)
        assert not job_lease_held(job_id=job.pk, worker_id="worker-a")
        assert job.pk in jobs_needing_a_worker(stale_after=timedelta(hours=1))
        taken = job_claim(job_id=job.pk, worker_id="worker-b")
        assert taken is not None
        assert (taken.lease_owner, taken.attempts) == ("worker-b", 2)
        # The first worker's late writes change nothing.
        assert not job_heartbeat(job_id=job.pk, worker_id="worker-a")
        assert not job_complete(job_id=job.pk, worker_id="worker-a", result={})
        assert not job_fail(job_id=job.pk, worker_id="worker-a", code="x", message="late")
        assert job_complete(job_id=job.pk, worker_id="worker-b", result={"ok": True})
        job.refresh_from_db()
        assert (job.status, job.result) == (JobStatus.COMPLETED, {"ok": True})

    def test_a_lease_is_not_held_at_the_instant_it_ends(self, tenant, lease, clock):
        job = approved_job(tenant)
        job_claim(job_id=job.pk, worker_id="worker-a")
        clock.move_to(T0 + lease, tick=False)
        assert not job_lease_held(job_id=job.pk, worker_id="worker-a")

    def test_a_heartbeat_extends_the_lease_from_its_own_time(self, tenant, lease, clock):
        job = approved_job(tenant)
        job_claim(job_id=job.pk, worker_id="worker-a")
        beat = T0 + lease - SECOND
        clock.move_to(beat, tick=False)
        assert job_heartbeat(job_id=job.pk, worker_id="worker-a", progress={"done": 1})

        clock.move_to(beat + lease - SECOND, tick=False)
        assert job_lease_held(job_id=job.pk, worker_id="worker-a")
        assert job_claim(job_id=job.pk, worker_id="worker-b") is None

        clock.move_to(beat + lease + SECOND, tick=False)
        assert not job_lease_held(job_id=job.pk, worker_id="worker-a")
        assert job_claim(job_id=job.pk, worker_id="worker-b") is not None
        assert not job_heartbeat(job_id=job.pk, worker_id="worker-a")

    def test_the_lease_length_follows_the_setting(self, tenant, settings, clock):
        settings.JOB_LEASE_SECONDS = 600
        job = approved_job(tenant)
        job_claim(job_id=job.pk, worker_id="worker-a")
        clock.move_to(T0 + timedelta(seconds=599), tick=False)
        assert job_claim(job_id=job.pk, worker_id="worker-b") is None
        clock.move_to(T0 + timedelta(seconds=601), tick=False)
        assert job_claim(job_id=job.pk, worker_id="worker-b") is not None
        started = AuditEvent.objects.filter(action="job.started").order_by("seq")
        assert [(e.actor_id, e.metadata["attempt"]) for e in started] == [
            ("worker-a", 1), ("worker-b", 2)]


class TestNotBefore:
    def test_a_grace_period_ends_at_its_instant(self, tenant, clock):
        job = factories.job_create(tenant=tenant, status=JobStatus.APPROVED, job_type="ERASE",
                                   not_before=T0 + timedelta(hours=72))
        clock.move_to(T0 + timedelta(hours=72) - SECOND, tick=False)
        assert job_claim(job_id=job.pk, worker_id="worker-a") is None
        clock.move_to(T0 + timedelta(hours=72), tick=False)
        assert job_claim(job_id=job.pk, worker_id="worker-a") is not None
