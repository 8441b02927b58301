"""What each transition writes besides the status: who and when, the whole error sentences,
the audit metadata, and the worker's release, completion and failure of a job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from privacyops.audit.models import AuditEvent
from privacyops.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import (
    _transition,
    job_approve,
    job_cancel,
    job_claim,
    job_complete,
    job_fail,
    job_heartbeat,
    job_reject,
    job_release_for_retry,
    job_retry,
)
from privacyops.tenancy.actors import Actor
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def event(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def leased(tenant, *, owner: str = "worker-1", attempts: int = 1, **extra) -> Job:
    return factories.job_create(tenant=tenant, status=JobStatus.PROCESSING, lease_owner=owner,
                                lease_expires_at=T0 + timedelta(minutes=1), attempts=attempts,
                                **extra)


class TestSentences:
    @pytest.mark.parametrize(("source", "target", "sentence"), [
        ("Pending", "Processing", "Job #5 is Pending; it cannot become Processing. Allowed from "
                                  "Pending: Approved, Rejected."),
        ("Completed", "Approved", "Job #5 is Completed; it cannot become Approved. Allowed "
                                  "from Completed: none (final status)."),
        ("Failed", "Completed", "Job #5 is Failed; it cannot become Completed. Allowed from "
                                "Failed: Approved."),
    ])
    def test_a_refused_transition_says_what_is_allowed(self, source, target, sentence):
        with pytest.raises(InvalidTransition) as refused:
            _transition(Job(pk=5, status=source), target)
        assert refused.value.message == sentence

    def test_approving_a_failed_job(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED)
        with pytest.raises(InvalidTransition) as refused:
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert refused.value.message == (
            f"Job #{job.pk} is Failed; it cannot become Approved: only Pending jobs can be "
            "approved. A Failed job is sent back with retry.")

    def test_rejecting_an_approved_job(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED)
        with pytest.raises(InvalidTransition) as refused:
            job_reject(job_id=job.pk, reason="No.", actor=factories.actor(other_staff))
        assert refused.value.message == (
            f"Job #{job.pk} is Approved; it cannot become Rejected: only Pending jobs can be "
            "rejected.")

    def test_a_job_that_needs_no_approval(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED,
                                   requires_approval=False)
        with pytest.raises(InvalidTransition) as refused:
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert refused.value.message == (
            f"Job #{job.pk} is Approved and does not require approval; it cannot become "
            "Approved by approval.")
        assert refused.value.details == {"status": "Approved"}

    def test_a_missing_job(self, staff):
        with pytest.raises(NotFound) as missing:
            job_approve(job_id=987654, actor=factories.actor(staff))
        assert missing.value.message == "Job 987654 does not exist."

    @pytest.mark.parametrize("verb", ["approve", "reject"])
    def test_nobody_decides_on_their_own_job(self, tenant, staff, verb):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        decide = job_approve if verb == "approve" else job_reject
        extra = {} if verb == "approve" else {"reason": "Mine."}
        with pytest.raises(PermissionDenied) as refused:
            decide(job_id=job.pk, actor=factories.actor(staff), **extra)
        assert refused.value.message == (
            f"You requested job #{job.pk}; another approver must approve or reject it.")

    def test_tenant_admins_do_not_approve(self, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        admin = factories.user_create(tenant=tenant, role="super-admin")
        with pytest.raises(PermissionDenied):
            job_approve(job_id=job.pk, actor=factories.actor(admin))
        with pytest.raises(PermissionDenied):
            job_reject(job_id=job.pk, reason="No.", actor=factories.actor(admin))
        with pytest.raises(PermissionDenied):
            job_retry(job_id=factories.job_create(tenant=tenant, status=JobStatus.FAILED).pk,
                      actor=factories.actor(factories.user_create(tenant=tenant, role="admin")))


class TestApproveAndReject:
    def test_approval_records_who_and_when(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        job.refresh_from_db()
        assert (job.status, job.approved_by, job.approved_at) == (
            JobStatus.APPROVED, other_staff, T0)
        approved = event("job.approved")
        assert (approved.actor_id, approved.target_id) == (str(other_staff.pk), str(job.pk))

    def test_rejection_records_who_when_and_why(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_reject(job_id=job.pk, reason="  Identity not verified  ",
                   actor=factories.actor(other_staff))
        job.refresh_from_db()
        assert (job.status, job.rejected_by, job.rejected_at, job.rejection_reason) == (
            JobStatus.REJECTED, other_staff, T0, "Identity not verified")
        assert event("job.rejected").metadata == {"reason": "Identity not verified"}

    def test_a_reason_of_up_to_1000_characters(self, tenant, staff, other_staff):
        too_long = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(ValidationFailed) as refused:
            job_reject(job_id=too_long.pk, reason="x" * 1001,
                       actor=factories.actor(other_staff))
        assert refused.value.message == "The reason is longer than 1000 characters."
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_reject(job_id=job.pk, reason="x" * 1000, actor=factories.actor(other_staff))
        assert Job.objects.get(pk=job.pk).status == JobStatus.REJECTED

    def test_approval_queues_the_job_itself(self, tenant, staff, other_staff):
        from django_tasks_db.models import DBTaskResult

        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        queued = [row.args_kwargs["kwargs"] for row in DBTaskResult.objects.all()]
        assert queued == [{"job_id": job.pk}]

    def test_a_super_admin_of_the_jobs_own_workspace_may_reject_where_allowed(self, tenant,
                                                                              staff):
        from privacyops.tenancy.models import Role

        tenant.super_admins_can_approve = True
        tenant.save()
        approver = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_reject(job_id=job.pk, reason="Not this person", actor=factories.actor(approver))
        assert Job.objects.get(pk=job.pk).rejected_by == approver

    def test_a_reason_with_a_control_character_names_the_reason_field(self, tenant, staff,
                                                                      other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(ValidationFailed) as refused:
            job_reject(job_id=job.pk, reason="x\x00y", actor=factories.actor(other_staff))
        assert refused.value.details["field"] == "reason"
        assert Job.objects.get(pk=job.pk).status == JobStatus.PENDING

    def test_an_empty_reason(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(ValidationFailed) as refused:
            job_reject(job_id=job.pk, reason="", actor=factories.actor(other_staff))
        assert refused.value.message == (
            "A reason is required to reject a job; the requester reads it.")
        assert refused.value.details == {"field": "reason"}


class TestRetry:
    def test_retry_is_audited_and_resets_the_attempt(self, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   attempts=3, error_message="Boom", lease_owner="worker-9",
                                   lease_expires_at=T0)
        job_retry(job_id=job.pk, actor=factories.actor(staff))
        job.refresh_from_db()
        assert (job.status, job.attempts, job.error_message, job.lease_owner,
                job.lease_expires_at) == (JobStatus.APPROVED, 0, "", "", None)
        assert event("job.retried").target_id == str(job.pk)


class TestCancel:
    def test_a_pending_job_is_cancelled_with_the_default_reason(self, tenant):
        job = factories.job_create(tenant=tenant)
        job_cancel(job_id=job.pk, actor=Actor.subject("42"))
        job.refresh_from_db()
        assert (job.status, job.rejected_at, job.rejection_reason, job.withdrawn_by_subject) == (
            JobStatus.REJECTED, T0, "Cancelled by the data subject", True)
        assert event("job.cancelled").metadata == {"reason": "Cancelled by the data subject"}

    def test_the_reason_is_trimmed_and_cut_at_1000_characters(self, tenant):
        job = factories.job_create(tenant=tenant)
        job_cancel(job_id=job.pk, actor=Actor.subject("42"), reason="  " + "y" * 1200)
        assert Job.objects.get(pk=job.pk).rejection_reason == "y" * 1000

    @pytest.mark.parametrize(("not_before", "allowed"), [
        (T0 + timedelta(seconds=1), True), (T0, False), (None, False)])
    def test_an_approved_job_only_within_its_grace_period(self, tenant, not_before, allowed):
        job = factories.job_create(tenant=tenant, status=JobStatus.APPROVED,
                                   not_before=not_before)
        if allowed:
            job_cancel(job_id=job.pk, actor=Actor.subject("42"))
            assert Job.objects.get(pk=job.pk).status == JobStatus.REJECTED
        else:
            with pytest.raises(InvalidTransition) as refused:
                job_cancel(job_id=job.pk, actor=Actor.subject("42"))
            assert refused.value.message == (
                f"Job #{job.pk} is Approved and can no longer be cancelled (it cannot become "
                "Rejected); the grace period is over or the job has started.")
            assert refused.value.details == {"status": "Approved", "requested": "Rejected"}


class TestWorkerSide:
    def test_a_claim_records_the_start_and_the_attempt(self, tenant):
        job = factories.job_create(tenant=tenant, status=JobStatus.APPROVED, attempts=1)
        claimed = job_claim(job_id=job.pk, worker_id="worker-1")
        assert claimed is not None
        assert (claimed.status, claimed.started_at, claimed.attempts, claimed.lease_expires_at) \
            == (JobStatus.PROCESSING, T0, 2, T0 + timedelta(seconds=settings.JOB_LEASE_SECONDS))
        started = event("job.started")
        assert (started.actor_id, started.metadata) == ("worker-1", {"attempt": 2})

    def test_the_last_attempt_ends_failed_with_the_last_error(self, tenant, settings):
        settings.JOB_MAX_ATTEMPTS = 2
        job = factories.job_create(tenant=tenant, status=JobStatus.APPROVED, attempts=2,
                                   error_message="The datastore did not answer")
        assert job_claim(job_id=job.pk, worker_id="worker-1") is None
        job.refresh_from_db()
        assert (job.status, job.error_code, job.finished_at) == (
            JobStatus.FAILED, "attempts_exhausted", T0)
        assert job.error_message == (
            "The job was started 2 times without finishing (limit 2). Last error: The "
            "datastore did not answer. Check the worker logs, then retry.")
        assert not AuditEvent.objects.filter(action="job.started").exists()
        assert event("job.failed").actor_id == "worker-1"

    def test_a_heartbeat_records_progress_for_the_owner_only(self, tenant, clock):
        job = leased(tenant)
        clock.move_to(T0 + timedelta(seconds=30), tick=False)
        assert job_heartbeat(job_id=job.pk, worker_id="worker-1", progress={"done": 2, "total": 4})
        assert not job_heartbeat(job_id=job.pk, worker_id="worker-2", progress={"done": 4})
        job.refresh_from_db()
        assert (job.progress, job.updated_at) == ({"done": 2, "total": 4},
                                                  T0 + timedelta(seconds=30))
        assert job.lease_expires_at == T0 + timedelta(seconds=30 + settings.JOB_LEASE_SECONDS)
        assert job_heartbeat(job_id=job.pk, worker_id="worker-1")
        job.refresh_from_db()
        assert job.progress == {"done": 2, "total": 4}

    def test_completion_stores_the_result_and_finishes_the_progress(self, tenant):
        job = leased(tenant, progress={"done": 3, "total": 7}, error_code="x",
                     error_message="earlier")
        assert job_complete(job_id=job.pk, worker_id="worker-1", result={"rows": 7})
        job.refresh_from_db()
        assert (job.status, job.result, job.error_code, job.error_message, job.finished_at,
                job.lease_owner, job.lease_expires_at, job.progress) == (
            JobStatus.COMPLETED, {"rows": 7}, "", "", T0, "", None, {"done": 7, "total": 7})
        assert event("job.completed").metadata == {"job_type": job.job_type}

    def test_failure_names_the_blocking_hold(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        job = leased(tenant)
        assert job_fail(job_id=job.pk, worker_id="worker-1", code="legal_hold",
                        message="Blocked by a hold.", hold_id=hold.pk)
        assert not job_fail(job_id=job.pk, worker_id="worker-1", code="again", message="No.")
        job.refresh_from_db()
        assert (job.status, job.error_code, job.error_message, job.blocking_hold_id,
                job.finished_at, job.lease_owner, job.lease_expires_at) == (
            JobStatus.FAILED, "legal_hold", "Blocked by a hold.", hold.pk, T0, "", None)
        failed = event("job.failed")
        assert (failed.outcome, failed.actor_type, failed.actor_id, failed.metadata) == (
            "failure", "system", "worker-1", {"code": "legal_hold", "message": "Blocked by a hold.",
                        "hold_id": hold.pk})

    def test_release_for_retry_voids_the_lease_of_its_owner_only(self, tenant, clock):
        job = leased(tenant, attempts=2)
        assert not job_release_for_retry(job_id=job.pk, worker_id="worker-2", code="crash",
                                         message="Boom")
        assert job_release_for_retry(job_id=job.pk, worker_id="worker-1", code="crash",
                                     message="Boom")
        job.refresh_from_db()
        assert (job.status, job.lease_owner, job.lease_expires_at, job.error_code,
                job.error_message) == (JobStatus.PROCESSING, "", T0, "crash", "Boom")
        failed = event("job.attempt_failed")
        assert (failed.outcome, failed.actor_id, failed.metadata) == (
            "failure", "worker-1", {"attempt": 2, "code": "crash", "message": "Boom"})
        assert job_release_for_retry(job_id=job.pk, worker_id="worker-1", code="x",
                                     message="y") is False
        # Released: the next instant another worker may claim it.
        clock.move_to(T0 + timedelta(seconds=1), tick=False)
        assert job_claim(job_id=job.pk, worker_id="worker-2") is not None

    @pytest.mark.parametrize("status", [JobStatus.APPROVED, JobStatus.COMPLETED])
    def test_only_a_processing_job_is_completed_or_failed(self, tenant, status):
        job = factories.job_create(tenant=tenant, status=status, lease_owner="worker-1")
        assert not job_complete(job_id=job.pk, worker_id="worker-1", result={})
        assert not job_fail(job_id=job.pk, worker_id="worker-1", code="x", message="y")
        assert not job_release_for_retry(job_id=job.pk, worker_id="worker-1", code="x",
                                         message="y")
        assert Job.objects.get(pk=job.pk).status == status

    def test_completion_hands_the_job_and_its_event_to_what_completes_with_it(self, tenant):
        # An ERASE's ledger and receipt are written this way, in the completion's transaction.
        job = leased(tenant)
        seen = []
        assert job_complete(job_id=job.pk, worker_id="worker-1", result={"rows": 3},
                            on_completed=lambda done, completed: seen.append(
                                (done.pk, done.status, completed.action, completed.target_id)))
        assert seen == [(job.pk, JobStatus.COMPLETED, "job.completed", str(job.pk))]

    def test_a_missing_job_is_neither_completed_nor_failed(self):
        assert not job_complete(job_id=424242, worker_id="worker-1", result={})
        assert not job_fail(job_id=424242, worker_id="worker-1", code="x", message="y")


class TestLeaseBelongsToOneJobAndOneWorker:
    def test_a_heartbeat_renews_its_own_job_only(self, tenant, clock):
        mine, other = leased(tenant), leased(tenant)
        clock.move_to(T0 + timedelta(seconds=30), tick=False)
        assert job_heartbeat(job_id=mine.pk, worker_id="worker-1", progress={"done": 1})
        other.refresh_from_db()
        assert (other.lease_expires_at, other.progress) == (T0 + timedelta(minutes=1), {})

    def test_a_heartbeat_does_not_revive_a_job_that_is_no_longer_processing(self, tenant):
        job = factories.job_create(tenant=tenant, status=JobStatus.APPROVED,
                                   lease_owner="worker-1", lease_expires_at=T0)
        assert not job_heartbeat(job_id=job.pk, worker_id="worker-1")
        assert Job.objects.get(pk=job.pk).lease_expires_at == T0

    def test_a_lease_is_held_by_its_owner_on_its_job_while_processing(self, tenant):
        from privacyops.jobs.services import job_lease_held

        mine = leased(tenant)
        theirs = leased(tenant, owner="worker-2")
        waiting = factories.job_create(tenant=tenant, status=JobStatus.APPROVED,
                                       lease_owner="worker-1",
                                       lease_expires_at=T0 + timedelta(minutes=1))
        assert job_lease_held(job_id=mine.pk, worker_id="worker-1")
        assert not job_lease_held(job_id=theirs.pk, worker_id="worker-1")
        assert not job_lease_held(job_id=waiting.pk, worker_id="worker-1")
        assert not job_lease_held(job_id=424242, worker_id="worker-1")

    def test_a_released_attempt_is_recorded_under_the_job_s_tenant(self, tenant):
        job = leased(tenant)
        job_release_for_retry(job_id=job.pk, worker_id="worker-1", code="crash", message="Boom")
        assert event("job.attempt_failed").tenant_id == tenant.pk


class TestMoreEdges:
    def test_super_admins_approve_and_retry_where_the_tenant_allows_it(self, staff):
        tenant = factories.tenant_create(super_admins_can_approve=True)
        owner = factories.user_create(tenant=tenant, role="super-admin")
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_approve(job_id=job.pk, actor=factories.actor(owner))
        failed = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED)
        job_retry(job_id=failed.pk, actor=factories.actor(owner))
        assert {j.status for j in Job.objects.filter(pk__in=[job.pk, failed.pk])} == {
            JobStatus.APPROVED}

    def test_approving_an_approved_job_has_no_retry_hint(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED)
        with pytest.raises(InvalidTransition) as refused:
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert refused.value.message == (
            f"Job #{job.pk} is Approved; it cannot become Approved: only Pending jobs can be "
            "approved.")

    def test_retrying_a_pending_job(self, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(InvalidTransition) as refused:
            job_retry(job_id=job.pk, actor=factories.actor(staff))
        assert refused.value.message == (
            f"Job #{job.pk} is Pending; it cannot become Approved: only Failed jobs can be "
            "retried.")

    def test_a_retried_job_is_queued_by_its_id(self, tenant, staff,
                                               django_capture_on_commit_callbacks):
        from django_tasks_db.models import DBTaskResult

        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED)
        with django_capture_on_commit_callbacks(execute=True):
            job_retry(job_id=job.pk, actor=factories.actor(staff))
        queued = DBTaskResult.objects.get()
        assert queued.args_kwargs["kwargs"] == {"job_id": job.pk}

    @pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.COMPLETED,
                                        JobStatus.FAILED, JobStatus.REJECTED])
    def test_an_expired_lease_makes_only_processing_jobs_claimable(self, tenant, status):
        job = factories.job_create(tenant=tenant, status=status, lease_owner="worker-1",
                                   lease_expires_at=T0 - timedelta(minutes=5))
        assert job_claim(job_id=job.pk, worker_id="worker-2") is None
        assert Job.objects.get(pk=job.pk).status == status

    def test_a_claim_takes_its_own_job_only_and_marks_it_updated(self, tenant, clock):
        mine = factories.job_create(tenant=tenant, status=JobStatus.APPROVED)
        other = factories.job_create(tenant=tenant, status=JobStatus.APPROVED)
        clock.move_to(T0 + timedelta(minutes=3), tick=False)
        claimed = job_claim(job_id=mine.pk, worker_id="worker-1")
        assert claimed is not None
        assert claimed.updated_at == T0 + timedelta(minutes=3)
        other.refresh_from_db()
        assert (other.status, other.lease_owner, other.attempts) == (JobStatus.APPROVED, "", 0)

    def test_exhausted_attempts_without_an_error_say_the_worker_stopped(self, tenant, settings):
        settings.JOB_MAX_ATTEMPTS = 1
        job = factories.job_create(tenant=tenant, status=JobStatus.APPROVED, attempts=1)
        assert job_claim(job_id=job.pk, worker_id="worker-1") is None
        assert Job.objects.get(pk=job.pk).error_message == (
            "The job was started 1 times without finishing (limit 1). Last error: the worker "
            "stopped before it ended. Check the worker logs, then retry.")

    def test_a_released_attempt_is_recorded_on_the_job(self, tenant):
        job = leased(tenant)
        job_release_for_retry(job_id=job.pk, worker_id="worker-1", code="crash", message="Boom")
        failed = event("job.attempt_failed")
        assert (failed.target_type, failed.target_id) == ("job", str(job.pk))
