"""Every allowed and every refused transition of the job state machine, through its services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.errors import InvalidTransition
from privacyops.jobs.models import TRANSITIONS, Job, JobStatus
from privacyops.jobs.services import (
    _transition,
    job_approve,
    job_cancel,
    job_claim,
    job_complete,
    job_fail,
    job_reject,
    job_retry,
)
from privacyops.tenancy.actors import Actor
from tests import factories

# Services commit in durable transactions; the pure state-machine tests need no database.
services_db = pytest.mark.django_db(transaction=True)

WORKER = "worker-1"
P, A, PR, C, F, R = (JobStatus.PENDING, JobStatus.APPROVED, JobStatus.PROCESSING,
                     JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED)
# service: (the statuses it starts from, the status it leads to, its audit action)
SERVICES = {
    "approve": ({P}, A, "job.approved"),
    "reject": ({P}, R, "job.rejected"),
    "cancel": ({P, A}, R, "job.cancelled"),  # Approved only within its grace period
    "retry": ({F}, A, "job.retried"),
    "claim": ({A}, PR, "job.started"),
    "complete": ({PR}, C, "job.completed"),
    "fail": ({PR}, F, "job.failed"),
}
ENTRY_POINTS = {"approve", "reject", "cancel", "retry"}  # refused with an error; workers ignored
ALLOWED = sorted((source, target) for source, targets in TRANSITIONS.items() for target in targets)
REFUSED = sorted((source, target) for source in JobStatus.values for target in JobStatus.values
                 if target not in TRANSITIONS[source])
SERVICE_MOVES = sorted((name, status) for name, (sources, _, _) in SERVICES.items()
                       for status in sources)
SERVICE_REFUSALS = sorted((name, status) for name, (sources, _, _) in SERVICES.items()
                          for status in JobStatus.values if status not in sources)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def call(name: str, job: Job, requester, approver):
    if name == "approve":
        return job_approve(job_id=job.pk, actor=factories.actor(approver))
    if name == "reject":
        return job_reject(job_id=job.pk, reason="Identity not verified",
                          actor=factories.actor(approver))
    if name == "cancel":
        return job_cancel(job_id=job.pk, actor=Actor.subject("42"), reason="Changed my mind")
    if name == "retry":
        return job_retry(job_id=job.pk, actor=factories.actor(requester))
    if name == "claim":
        return job_claim(job_id=job.pk, worker_id=WORKER)
    if name == "complete":
        return job_complete(job_id=job.pk, worker_id=WORKER, result={"rows": {"users": 1}})
    return job_fail(job_id=job.pk, worker_id=WORKER, code="precondition",
                    message="The subject still holds hardware.")


def job_in(status: str, tenant, requester, *, grace: bool = False) -> Job:
    """A job in `status`, leased to WORKER so that only its status can stand in the way."""
    now = timezone.now()
    return factories.job_create(tenant=tenant, requested_by=requester, status=status,
                                lease_owner=WORKER, lease_expires_at=now + timedelta(minutes=5),
                                not_before=now + timedelta(hours=1) if grace else None)


def snapshot(job: Job) -> dict:
    return Job.objects.filter(pk=job.pk).values().get()


def test_the_services_implement_exactly_the_documented_transitions():
    implemented = sorted({(source, SERVICES[name][1]) for name, source in SERVICE_MOVES})
    assert implemented == ALLOWED
    assert ALLOWED == sorted([
        ("Pending", "Approved"), ("Pending", "Rejected"), ("Approved", "Processing"),
        ("Approved", "Rejected"), ("Processing", "Completed"), ("Processing", "Failed"),
        ("Failed", "Approved"),
    ])


@services_db
@pytest.mark.parametrize(("name", "source"), SERVICE_MOVES,
                         ids=[f"{name}-from-{status}" for name, status in SERVICE_MOVES])
def test_every_allowed_transition_happens_and_is_audited(name, source, tenant, staff,
                                                         other_staff):
    _, target, action = SERVICES[name]
    job = job_in(source, tenant, staff, grace=name == "cancel")
    call(name, job, staff, other_staff)
    job.refresh_from_db()
    assert job.status == target
    event = AuditEvent.objects.get(action=action)
    assert (event.target_type, event.target_id, event.tenant_id) == ("job", str(job.pk),
                                                                      tenant.pk)
    assert event.outcome == ("failure" if target == JobStatus.FAILED else "success")


@services_db
@pytest.mark.parametrize(("name", "status"), SERVICE_REFUSALS,
                         ids=[f"{name}-from-{status}" for name, status in SERVICE_REFUSALS])
def test_every_refused_transition_changes_nothing(name, status, tenant, staff, other_staff):
    job = job_in(status, tenant, staff)
    before = snapshot(job)
    _, target, action = SERVICES[name]
    if name in ENTRY_POINTS:
        with pytest.raises(InvalidTransition) as refused:
            call(name, job, staff, other_staff)
        assert f"is {status}" in refused.value.message
        assert f"cannot become {target}" in refused.value.message
        assert refused.value.details == {"status": status, "requested": target}
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.tenant_id) == (action, "failure", tenant.pk)
        assert event.metadata == {"code": "invalid_transition", "message": refused.value.message}
    else:
        assert call(name, job, staff, other_staff) in (None, False)
        assert not AuditEvent.objects.exists()
    assert snapshot(job) == before


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_the_state_machine_names_both_statuses_when_it_refuses(source, target):
    job = Job(pk=5, status=source)
    with pytest.raises(InvalidTransition) as refused:
        _transition(job, target)
    assert refused.value.message.startswith(f"Job #5 is {source}; it cannot become {target}.")
    assert refused.value.details == {"status": source, "requested": target}
    assert job.status == source


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_the_state_machine_allows_the_table(source, target):
    job = Job(pk=5, status=source)
    _transition(job, target)
    assert job.status == target


@services_db
class TestEntryPointDetails:
    def test_approving_a_failed_job_points_to_retry(self, tenant, staff, other_staff):
        job = job_in(JobStatus.FAILED, tenant, staff)
        with pytest.raises(InvalidTransition, match="A Failed job is sent back with retry"):
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))

    def test_a_job_that_needed_no_approval_cannot_be_approved(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, job_type="EXPORT",
                                   status=JobStatus.APPROVED, requires_approval=False)
        with pytest.raises(InvalidTransition, match="is Approved and does not require approval"):
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert AuditEvent.objects.get().outcome == "failure"

    def test_retry_clears_the_failure_and_the_lease(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   attempts=3, error_code="legal_hold", error_message="Held",
                                   blocking_hold=hold, finished_at=timezone.now())
        job_retry(job_id=job.pk, actor=factories.actor(staff))
        job.refresh_from_db()
        assert (job.status, job.attempts, job.error_code, job.error_message) == (
            JobStatus.APPROVED, 0, "", "")
        assert (job.blocking_hold, job.finished_at, job.lease_owner) == (None, None, "")

    def test_an_approved_job_past_its_grace_period_cannot_be_cancelled(self, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED,
                                   not_before=timezone.now() - timedelta(minutes=1))
        with pytest.raises(InvalidTransition, match="can no longer be cancelled"):
            job_cancel(job_id=job.pk, actor=Actor.subject("42"))
        job.refresh_from_db()
        assert job.status == JobStatus.APPROVED
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.tenant_id) == (
            "job.cancelled", "failure", tenant.pk)
