"""The job state machine. Every transition and its audit event commit in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from privacyops.audit.models import AuditEvent, Outcome
from privacyops.audit.services import audit_record, refusals_recorded
from privacyops.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from privacyops.jobs import doorbell
from privacyops.jobs.commits import commit_without_waiting
from privacyops.jobs.models import TRANSITIONS, Job, JobSource, JobStatus, JobType
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import can, require
from privacyops.validation import clean_identifier, clean_text

REASON_LIMIT = 1000


def _enqueue_after_commit(job_id: int) -> None:
    """Ring for the job once its transaction commits.

    On the database queue the task row is written in the job's own transaction (one commit
    instead of two, and never a job without its row); the ring follows the commit (see
    doorbell.py). Another queue (Redis) hears of the job only after the commit.
    """
    from django_tasks_db.backend import DatabaseBackend

    from privacyops.jobs.tasks import run_job

    if isinstance(run_job.get_backend(), DatabaseBackend):
        run_job.enqueue(job_id=job_id)
    else:
        transaction.on_commit(lambda: run_job.enqueue(job_id=job_id))


def _transition(job: Job, to: str) -> None:
    if to not in TRANSITIONS[job.status]:
        allowed = ", ".join(sorted(TRANSITIONS[job.status])) or "none (final status)"
        raise InvalidTransition(
            f"Job #{job.pk} is {job.status}; it cannot become {to}. Allowed from "
            f"{job.status}: {allowed}.",
            status=job.status,
            requested=to,
        )
    job.status = to


def _require_status(job: Job, expected: str, to: str, verb: str, hint: str = "") -> None:
    if job.status != expected:
        raise InvalidTransition(
            f"Job #{job.pk} is {job.status}; it cannot become {to}: only {expected} jobs can be "
            f"{verb}.{hint}",
            status=job.status,
            requested=to,
        )


def _locked_job(job_id: int) -> Job:
    try:
        return Job.objects.select_for_update().select_related("tenant").get(pk=job_id)
    except Job.DoesNotExist:
        raise NotFound(f"Job {job_id} does not exist.") from None


def _request_settled(job: Job) -> None:
    """Tell the privacy request the job fulfils (if any) that the job reached a final status;
    it completes when all its jobs completed. Same transaction as the job's change."""
    if job.request_id is not None:
        from privacyops.intake.lifecycle import job_settled

        job_settled(job)


def _tenant_of_job(job_id: int) -> int | None:
    """The tenant a refused attempt on a job is recorded under, so its admins see it too."""
    return Job.objects.filter(pk=job_id).values_list("tenant_id", flat=True).first()


def requires_approval(tenant: Tenant, job_type: str) -> bool:
    return job_type in (tenant.approval_required_types or [])


def _validate_target(tenant: Tenant, job_type: str, target_type: str, target_id: str) -> None:
    from privacyops.execution.registry import target_types_for

    if not tenant.is_active:
        raise Conflict(
            f"Tenant {tenant.slug} is deactivated and takes no new jobs; platform staff can "
            f"reactivate it with `privacyops tenant activate {tenant.slug}`.",
            code="tenant_inactive",
        )
    if job_type not in JobType.values:
        raise ValidationFailed(
            f"Unknown job type {job_type!r}; use {', '.join(JobType.values)}.", field="job_type"
        )
    if target_type == "retention" and job_type in (JobType.ERASE, JobType.PURGE):
        from privacyops.retention.services import retention_target_check

        retention_target_check(tenant, job_type, target_id)
        return
    allowed = target_types_for(tenant)
    if target_type not in allowed:
        raise ValidationFailed(
            f"Unknown target type {target_type!r} for tenant {tenant.slug}; the data map "
            f"declares: {', '.join(allowed)}.",
            field="target_type",
        )
    clean_identifier(target_id, field="target_id", what="target id")


def _canonical_target_id(tenant: Tenant, job_type: str, target_type: str, target_id: str) -> str:
    """The id as the datastore spells it; an ERASE or PURGE of nothing is refused here (422).

    An EXPORT of an id that matches nothing (or while the datastore is down) is kept as typed:
    it changes no data, and ends Failed with `target_not_found` when it runs.
    """
    from privacyops.execution.registry import DatastoreUnavailable
    from privacyops.execution.targets import target_canonical

    if target_type == "retention":
        return target_id.strip()  # a rule's name, checked by retention_target_check
    # Jobs that write refuse an id that matches nothing now, and need the datastore to say so.
    destructive = job_type in (JobType.ERASE, JobType.PURGE, JobType.RECTIFY, JobType.RESTRICT)
    try:
        return target_canonical(tenant=tenant, target_type=target_type, target_id=target_id,
                                must_exist=destructive or target_type == "tenant")
    except DatastoreUnavailable:
        if destructive:
            raise
        return target_id


def identity_clean(tenant: Tenant, job_type: str, target_type: str,
                   identity: dict[str, str]) -> dict[str, str]:
    """The identity as the job stores it (canonical), refused (422) when it names no identity
    field a system of the tenant knows, or a job type identity jobs do not take."""
    from privacyops.connectors.base import canonical_identity
    from privacyops.execution.registry import datamap_of_system, systems_of

    if not isinstance(identity, dict):
        raise ValidationFailed("identity is an object such as {\"email\": \"ada@example.com\"}.",
                               field="identity")
    if target_type != "subject":
        raise ValidationFailed("An identity names a data subject: use target_type subject.",
                               field="target_type")
    if job_type not in (JobType.EXPORT, JobType.ERASE):
        raise ValidationFailed(
            "A job by identity is an EXPORT or an ERASE; a PURGE names its scope by key.",
            field="type")
    canonical = canonical_identity({str(k): str(v) for k, v in identity.items()})
    if not canonical:
        raise ValidationFailed("identity is empty; give at least an email.", field="identity")
    known = {"email"}
    for system in systems_of(tenant):
        if system.connector_type != "sql":
            continue
        try:
            subject = datamap_of_system(system).subject
        except DomainError:  # an unusable map fails its step when the job runs
            continue
        known.update(subject.identity_fields)
        known.update(role for role, column in subject.display_fields.items()
                     if column in subject.identity_fields)
    for name, value in canonical.items():
        if name not in known:
            raise ValidationFailed(
                f"identity field {name!r} is not one tenant {tenant.slug}'s data maps declare "
                f"(known: {', '.join(sorted(known))}).", field="identity")
        if len(value) > 200 or "\x00" in value:
            raise ValidationFailed(f"identity {name} is too long.", field="identity")
        if "email" in name and "@" not in value:
            raise ValidationFailed("identity email is not an email address.", field="identity")
    return canonical


def _creatable_tenant(*, tenant_id: int, job_type: str, actor: Actor,
                      check_permission: bool) -> Tenant | None:
    """The tenant, when the caller may create this job in it; None for anyone else, who gets
    the refusal from `_job_create` (and never learns from a 422 whether a person exists)."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    action = f"job.create.{job_type}" if job_type in JobType.values else "job.create.EXPORT"
    if tenant is None or (check_permission and (
            actor.user is None or not can(actor.user, action, tenant))):
        return None
    return tenant


def _resolved_before_transaction(*, tenant: Tenant, job_type: str, target_type: str,
                                 target_id: str) -> str:
    """The canonical target id, asked of the datastore before the control-DB write transaction
    begins (it takes the write lock at BEGIN; workers' heartbeats must not wait on a
    datastore)."""
    target_id = (target_id or "").strip()
    _validate_target(tenant, job_type, target_type, target_id)
    return _canonical_target_id(tenant, job_type, target_type, target_id)


def _params_before_transaction(*, tenant: Tenant, job_type: str, target_type: str,
                               params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A RECTIFY's changes or a RESTRICT's `lift`, checked against the tenant's data map (and,
    for RECTIFY, the live column types) before the write transaction, and sealed where they
    hold personal data."""
    from privacyops.execution.rectify import job_params_checked

    if job_type not in JobType.values:
        return None
    return job_params_checked(tenant=tenant, job_type=job_type, target_type=target_type,
                              params=params)


@transaction.atomic(durable=True)
def _job_create(
    *, tenant_id: int, job_type: str, target_type: str, target_id: str, reason: str,
    actor: Actor, source: str, not_before: datetime | None, check_permission: bool,
    approval_required: bool | None, enqueue: bool, params: dict[str, Any] | None,
    identity: dict[str, str] | None = None, systems: list[str] | None = None,
    picks: dict[str, str] | None = None,
) -> Job:
    try:
        tenant = Tenant.objects.get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise NotFound(f"Tenant {tenant_id} does not exist.") from None
    if check_permission:
        require(acting_user(actor), f"job.create.{job_type}" if job_type in JobType.values
                else "job.create.EXPORT", tenant)
    target_id = (target_id or "").strip()
    if identity is not None:
        _validate_target(tenant, job_type, target_type, "identity")
        identity = identity_clean(tenant, job_type, target_type, identity)
        target_id = ""
    else:
        _validate_target(tenant, job_type, target_type, target_id)
    reason = clean_text(reason, field="reason", what="reason", limit=REASON_LIMIT)
    if params is None:
        if job_type in (JobType.RECTIFY, JobType.RESTRICT):
            raise ValidationFailed(f"A {job_type} job needs its parameters checked against the "
                                   "data map; create it again.", field="params")
        params = {}
    needs_approval = (
        requires_approval(tenant, job_type) if approval_required is None else approval_required
    )
    job = Job.objects.create(
        tenant=tenant, job_type=job_type, target_type=target_type, target_id=target_id,
        reason=reason, source=source,
        status=JobStatus.PENDING if needs_approval else JobStatus.APPROVED,
        requires_approval=needs_approval,
        requested_by=actor.user, requested_by_label=actor.label, not_before=not_before,
        params=params, identity=identity or {},
    )
    if identity is not None:
        from privacyops.execution.multi import steps_create

        steps_create(job, systems=systems, picks=picks)
    # An identity is personal data: the audit trail names the fields, not the values.
    metadata: dict[str, Any] = {
        "job_type": job_type, "target_type": target_type, "target_id": target_id,
        "identity_fields": sorted(identity or {}), "systems": systems or [],
        "source": source, "requires_approval": needs_approval}
    # A RECTIFY is audited by field names and their count, never by values.
    if "fields" in params:
        metadata.update(fields=params["fields"], fields_count=len(params["fields"]))
    if "lift" in params:
        metadata["lift"] = params["lift"]
    audit_record(
        actor=actor, action="job.created", tenant_id=tenant.pk, target_type="job",
        target_id=job.pk, metadata=metadata,
    )
    if not needs_approval and enqueue:
        _enqueue_after_commit(job.pk)
    return job


def job_create(
    *, tenant_id: int, job_type: str, target_type: str, target_id: str = "", reason: str = "",
    actor: Actor, source: str = JobSource.OPERATOR, not_before: datetime | None = None,
    check_permission: bool = True, approval_required: bool | None = None, enqueue: bool = True,
    params: Mapping[str, Any] | None = None, identity: dict[str, str] | None = None,
    systems: list[str] | None = None, picks: dict[str, str] | None = None,
) -> Job:
    """Create a job; it starts Pending when the tenant's policy requires approval, else Approved.

    `params` are a RECTIFY's `{"changes": {field: value}}` (fields of the data map's subject)
    or a RESTRICT's `{"lift": bool}`; other job types take none. RECTIFY and RESTRICT follow
    the tenant's approval policy like every type (by default they need none, like EXPORT).
    `check_permission=False` is for intake and privacy-center flows, whose callers have
    already proven who the subject is; `approval_required` overrides the tenant policy for
    flows that carry their own approval (the GDPR screen's typed confirmation).

    `identity` (``{"email": …}``) names a subject in every system of the tenant instead of
    `target_id`; the job gets a step per system (or per system in `systems`), and `picks`
    (``{system: primary key}``) chooses among several subjects one system matches.
    """
    # Checked before anything is recorded: a refused attempt's audit event carries the id.
    target_type = clean_identifier(target_type, field="target_type", what="target type",
                                   limit=40, required=False)
    target_id = clean_identifier(target_id, field="target_id", what="target id", required=False)
    with refusals_recorded(actor=actor, action="job.created", tenant_id=tenant_id,
                           target_type=target_type, target_id=target_id):
        if identity is not None:
            return _job_create(
                tenant_id=tenant_id, job_type=job_type, target_type=target_type or "subject",
                target_id="", reason=reason, actor=actor, source=source,
                not_before=not_before, check_permission=check_permission,
                approval_required=approval_required, enqueue=enqueue, params=None,
                identity=identity, systems=systems, picks=picks,
            )
        checked: dict[str, Any] | None = None
        tenant = _creatable_tenant(tenant_id=tenant_id, job_type=job_type, actor=actor,
                                   check_permission=check_permission)
        if tenant is not None:
            target_id = _resolved_before_transaction(
                tenant=tenant, job_type=job_type, target_type=target_type, target_id=target_id)
            checked = _params_before_transaction(
                tenant=tenant, job_type=job_type, target_type=target_type, params=params)
        return _job_create(
            tenant_id=tenant_id, job_type=job_type, target_type=target_type,
            target_id=target_id, reason=reason, actor=actor, source=source,
            not_before=not_before, check_permission=check_permission,
            approval_required=approval_required, enqueue=enqueue, params=checked,
        )


@transaction.atomic(durable=True)
def _job_approve(*, job_id: int, actor: Actor) -> Job:
    job = _locked_job(job_id)
    user = acting_user(actor)
    require(user, "job.approve", job.tenant)
    if not job.requires_approval:
        raise InvalidTransition(
            f"Job #{job.pk} is {job.status} and does not require approval; it cannot become "
            f"{JobStatus.APPROVED} by approval.",
            status=job.status,
        )
    _require_status(job, JobStatus.PENDING, JobStatus.APPROVED, "approved",
                    " A Failed job is sent back with retry." if job.status == "Failed" else "")
    if job.requested_by_id == user.pk:
        raise PermissionDenied(
            f"You requested job #{job.pk}; another approver must approve or reject it."
        )
    _transition(job, JobStatus.APPROVED)
    job.approved_by, job.approved_at = user, timezone.now()
    job.save()
    audit_record(actor=actor, action="job.approved", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk)
    _enqueue_after_commit(job.pk)
    return job


def job_approve(*, job_id: int, actor: Actor) -> Job:
    with refusals_recorded(actor=actor, action="job.approved", tenant_id=_tenant_of_job(job_id),
                           target_type="job", target_id=job_id):
        return _job_approve(job_id=job_id, actor=actor)


@transaction.atomic(durable=True)
def _job_reject(*, job_id: int, reason: str, actor: Actor) -> Job:
    job = _locked_job(job_id)
    user = acting_user(actor)
    require(user, "job.reject", job.tenant)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("A reason is required to reject a job; the requester reads it.",
                               field="reason")
    reason = clean_text(reason, field="reason", what="reason", limit=REASON_LIMIT)
    if job.requested_by_id == user.pk:
        raise PermissionDenied(
            f"You requested job #{job.pk}; another approver must approve or reject it."
        )
    _require_status(job, JobStatus.PENDING, JobStatus.REJECTED, "rejected")
    _transition(job, JobStatus.REJECTED)
    job.rejected_by, job.rejected_at, job.rejection_reason = user, timezone.now(), reason
    job.save()
    audit_record(actor=actor, action="job.rejected", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk, metadata={"reason": reason})
    _request_settled(job)
    from privacyops.jobs.notifications import notify_rejected

    transaction.on_commit(lambda: notify_rejected(job))
    return job


def job_reject(*, job_id: int, reason: str, actor: Actor) -> Job:
    """Reject a Pending job with a reason; the requester is emailed after commit."""
    with refusals_recorded(actor=actor, action="job.rejected", tenant_id=_tenant_of_job(job_id),
                           target_type="job", target_id=job_id):
        return _job_reject(job_id=job_id, reason=reason, actor=actor)


@transaction.atomic(durable=True)
def _job_retry(*, job_id: int, actor: Actor) -> Job:
    job = _locked_job(job_id)
    require(acting_user(actor), "job.retry", job.tenant)
    _require_status(job, JobStatus.FAILED, JobStatus.APPROVED, "retried")
    _transition(job, JobStatus.APPROVED)
    job.attempts = 0
    job.error_code = job.error_message = ""
    job.blocking_hold = None
    job.lease_owner, job.lease_expires_at = "", None
    job.finished_at = None
    job.save()
    audit_record(actor=actor, action="job.retried", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk)
    _enqueue_after_commit(job.pk)
    return job


def job_retry(*, job_id: int, actor: Actor) -> Job:
    """Send a Failed job back to Approved; a half-done purge resumes where it stopped."""
    with refusals_recorded(actor=actor, action="job.retried", tenant_id=_tenant_of_job(job_id),
                           target_type="job", target_id=job_id):
        return _job_retry(job_id=job_id, actor=actor)


@transaction.atomic(durable=True)
def _job_cancel(*, job_id: int, actor: Actor, reason: str) -> Job:
    job = _locked_job(job_id)
    waiting = job.status == JobStatus.APPROVED and job.not_before and job.not_before > timezone.now()
    if job.status != JobStatus.PENDING and not waiting:
        raise InvalidTransition(
            f"Job #{job.pk} is {job.status} and can no longer be cancelled (it cannot become "
            f"{JobStatus.REJECTED}); the grace period is over or the job has started.",
            status=job.status, requested=JobStatus.REJECTED,
        )
    _transition(job, JobStatus.REJECTED)
    job.rejected_at = timezone.now()
    job.rejection_reason = (reason or "Cancelled by the data subject").strip()[:REASON_LIMIT]
    job.withdrawn_by_subject = True
    job.save()
    audit_record(actor=actor, action="job.cancelled", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk, metadata={"reason": job.rejection_reason})
    _request_settled(job)
    return job


def job_cancel(*, job_id: int, actor: Actor, reason: str = "") -> Job:
    """Withdraw a job that has not started: Pending, or Approved within its grace period.

    Callers check who may cancel (the data subject's verified session, or the API token of
    the subject's tenant); the job ends Rejected with the cancellation as its reason.
    """
    with refusals_recorded(actor=actor, action="job.cancelled", tenant_id=_tenant_of_job(job_id),
                           target_type="job", target_id=job_id):
        return _job_cancel(job_id=job_id, actor=actor, reason=reason)


# A step blocked with one of these waits for an operator to pick the subject.
PICK_CODES = ("identity_ambiguous", "pick_unknown")


@transaction.atomic(durable=True)
def _job_step_pick(*, job_id: int, system: str, target_id: str, actor: Actor) -> Job:
    from privacyops.execution.models import JobStep, StepStatus

    job = _locked_job(job_id)
    require(acting_user(actor), "job.retry", job.tenant)
    step = JobStep.objects.select_for_update().filter(job=job, system_name=system).first()
    if step is None:
        raise NotFound(f"Job #{job.pk} has no step on a system named {system}.")
    if step.is_done or step.status in (StepStatus.RUNNING, StepStatus.WAITING) or job.status in (
            JobStatus.COMPLETED, JobStatus.REJECTED):
        raise Conflict(f"The step of job #{job.pk} on system {system} is {step.status}; a "
                       "subject can be picked only before it runs.", code="step_started")
    key = clean_identifier(target_id, field="target_id", what="target id")
    if step.keys_resolved and key not in step.keys:
        raise ValidationFailed(
            f"{key!r} is not one of the {len(step.keys)} subjects this job's identity matches "
            f"in system {system}.", field="target_id")
    step.picked_key = key
    if step.status == StepStatus.BLOCKED and step.error_code in PICK_CODES:
        step.status, step.error_code, step.error_message = StepStatus.PENDING, "", ""
    step.save()
    audit_record(actor=actor, action="job.step_picked", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk, metadata={"system": system})
    return job


def job_step_pick(*, job_id: int, system: str, target_id: str, actor: Actor,
                  resume: bool = False) -> Job:
    """Choose the subject an identity job acts on in one system (several matched there).

    With ``resume``, a job that failed for want of this pick is retried at once, once no
    other step still waits for one (the job page does this; the API retries separately).
    """
    from privacyops.execution.models import StepStatus

    with refusals_recorded(actor=actor, action="job.step_picked",
                           tenant_id=_tenant_of_job(job_id), target_type="job",
                           target_id=job_id):
        job = _job_step_pick(job_id=job_id, system=system, target_id=target_id, actor=actor)
    awaiting = job.steps.filter(  # type: ignore[attr-defined]
        status=StepStatus.BLOCKED, error_code__in=PICK_CODES).exists()
    if resume and job.status == JobStatus.FAILED and not awaiting:
        return job_retry(job_id=job.pk, actor=actor)
    return job


# --- worker side -------------------------------------------------------------------------

def _claimable() -> Q:
    now = timezone.now()
    return (
        (Q(status=JobStatus.APPROVED) | Q(status=JobStatus.PROCESSING, lease_expires_at__lt=now))
        & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    )


@transaction.atomic(durable=True)
def job_claim(*, job_id: int, worker_id: str) -> Job | None:
    """Take the job with a lease, or return None if another worker holds it or it is done.

    A conditional UPDATE is race-free on every database: two workers never both win.
    """
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.JOB_LEASE_SECONDS)
    claimed = Job.objects.filter(_claimable(), pk=job_id).update(
        status=JobStatus.PROCESSING, lease_owner=worker_id, lease_expires_at=lease_until,
        attempts=F("attempts") + 1, started_at=now, updated_at=now,
    )
    if not claimed:
        return None
    job = Job.objects.select_related("tenant").get(pk=job_id)
    if job.attempts > settings.JOB_MAX_ATTEMPTS:
        _finish_failed(
            job, code="attempts_exhausted", worker_id=worker_id,
            message=f"The job was started {job.attempts - 1} times without finishing "
            f"(limit {settings.JOB_MAX_ATTEMPTS}). Last error: "
            f"{job.error_message or 'the worker stopped before it ended'}. "
            "Check the worker logs, then retry.",
        )
        return None
    commit_without_waiting()  # a start lost in a database crash is started again
    audit_record(actor=Actor.system(worker_id), action="job.started", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk, metadata={"attempt": job.attempts})
    return job


def job_heartbeat(*, job_id: int, worker_id: str, progress: dict[str, Any] | None = None) -> bool:
    """Renew the lease (and record progress). False: the lease was lost; stop working."""
    now = timezone.now()
    changes: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=settings.JOB_LEASE_SECONDS),
        "updated_at": now,
    }
    if progress is not None:
        changes["progress"] = progress
    with transaction.atomic():
        commit_without_waiting()  # a renewal lost in a database crash is renewed again
        return bool(
            Job.objects.filter(
                pk=job_id, status=JobStatus.PROCESSING, lease_owner=worker_id
            ).update(**changes)
        )


def job_lease_held(*, job_id: int, worker_id: str) -> bool:
    """Whether `worker_id` still holds a live lease on the job (checked before each write)."""
    return Job.objects.filter(
        pk=job_id, status=JobStatus.PROCESSING, lease_owner=worker_id,
        lease_expires_at__gt=timezone.now(),
    ).exists()


@transaction.atomic(durable=True)
def job_release_for_retry(*, job_id: int, worker_id: str, code: str, message: str) -> bool:
    """An attempt broke off with an unexpected error: let the job be claimed again.

    The lease is voided, so the reconciler rings for it on its next pass (a natural back-off);
    job_claim ends it Failed once its attempts are used up.
    """
    job = _owned_job(job_id, worker_id)
    if job is None:
        return False
    job.lease_owner, job.lease_expires_at = "", timezone.now()
    job.error_code, job.error_message = code, message
    job.save(update_fields=["lease_owner", "lease_expires_at", "error_code", "error_message",
                            "updated_at"])
    audit_record(
        actor=Actor.system(worker_id), action="job.attempt_failed", tenant_id=job.tenant_id,
        target_type="job", target_id=job.pk, outcome=Outcome.FAILURE,
        metadata={"attempt": job.attempts, "code": code, "message": message},
    )
    return True


def _owned_job(job_id: int, worker_id: str) -> Job | None:
    job = Job.objects.select_for_update().select_related("tenant").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.PROCESSING or job.lease_owner != worker_id:
        return None
    return job


def job_finish(
    job: Job, *, status: str, actor: Actor, result: dict[str, Any] | None = None,
    code: str = "", message: str = "", hold_id: int | None = None,
    on_completed: Callable[[Job, AuditEvent], None] | None = None,
) -> None:
    """End a job Completed or Failed: the one place that does it, for whoever ends it.

    Runs inside the caller's transaction with the job row locked; asks for no lease (a worker
    checks its own before calling, and a job parked on a manual system has none). Sets the
    status, the finish time and the error, clears the lease, records ``job.completed`` or
    ``job.failed``, runs ``on_completed`` after the completion event (the erasure ledger and
    receipt), tells the privacy request the job fulfils, and rings the doorbell on commit.
    ``result``, when given, replaces the job's result.
    """
    _transition(job, status)
    if result is not None:
        job.result = result
    job.finished_at = timezone.now()
    job.lease_owner, job.lease_expires_at = "", None
    if status == JobStatus.COMPLETED:
        job.error_code = job.error_message = ""
        if job.progress.get("total"):
            job.progress = {**job.progress, "done": job.progress["total"]}
    else:
        job.error_code, job.error_message = code, message
        job.blocking_hold_id = hold_id
    job.save()
    transaction.on_commit(doorbell.settled)
    if status == JobStatus.COMPLETED:
        event = audit_record(actor=actor, action="job.completed", tenant_id=job.tenant_id,
                             target_type="job", target_id=job.pk,
                             metadata={"job_type": job.job_type})
        if on_completed is not None:
            on_completed(job, event)
    else:
        audit_record(actor=actor, action="job.failed", tenant_id=job.tenant_id,
                     target_type="job", target_id=job.pk, outcome=Outcome.FAILURE,
                     metadata={"code": code, "message": message, "hold_id": hold_id})
    _request_settled(job)


def _finish_failed(job: Job, *, code: str, message: str, worker_id: str,
                   hold_id: int | None = None) -> None:
    job_finish(job, status=JobStatus.FAILED, actor=Actor.system(worker_id), code=code,
               message=message, hold_id=hold_id)


@transaction.atomic(durable=True)
def job_complete(
    *, job_id: int, worker_id: str, result: dict[str, Any],
    on_completed: Callable[[Job, AuditEvent], None] | None = None,
) -> bool:
    """Complete the job its worker holds. ``on_completed`` runs in the same transaction,
    after the ``job.completed`` event (the erasure ledger and receipt of an ERASE or PURGE)."""
    job = _owned_job(job_id, worker_id)
    if job is None:
        return False
    job_finish(job, status=JobStatus.COMPLETED, actor=Actor.system(worker_id), result=result,
               on_completed=on_completed)
    return True


@transaction.atomic(durable=True)
def job_fail(
    *, job_id: int, worker_id: str, code: str, message: str, hold_id: int | None = None
) -> bool:
    job = _owned_job(job_id, worker_id)
    if job is None:
        return False
    _finish_failed(job, code=code, message=message, worker_id=worker_id, hold_id=hold_id)
    return True


def _needs_a_bell(stale_after: timedelta) -> Q:
    """Approved jobs nobody took for a while; Processing jobs whose lease expired.

    An expired lease is rung once at once (ringing voids it: the owner is cleared), then at
    most once per `stale_after` while nobody claims the job, like an Approved job: ringing
    bumps `updated_at`, and so does every claim and heartbeat.
    """
    quiet = Q(updated_at__lt=timezone.now() - stale_after)
    return _claimable() & (
        Q(status=JobStatus.APPROVED) & quiet
        | Q(status=JobStatus.PROCESSING) & (~Q(lease_owner="") | quiet)
    )


def jobs_needing_a_worker(*, stale_after: timedelta) -> list[int]:
    """Approved jobs nobody took for a while, and Processing jobs whose lease expired."""
    return list(Job.objects.filter(_needs_a_bell(stale_after)).values_list("pk", flat=True)[:500])


def jobs_reconcile(*, stale_after: timedelta = timedelta(seconds=30)) -> int:
    """Re-ring the doorbell for jobs the queue lost. Returns how many were re-enqueued.

    Every worker runs a reconciler; the conditional UPDATE lets one of them ring each bell,
    so a dead worker's jobs are not enqueued again by every worker on every pass (a queue
    flooded with duplicates starves the real work behind them).
    """
    from privacyops.jobs.tasks import run_job

    rung = 0
    for job_id in jobs_needing_a_worker(stale_after=stale_after):
        if Job.objects.filter(_needs_a_bell(stale_after), pk=job_id).update(
            updated_at=timezone.now(), lease_owner=""
        ):
            run_job.enqueue(job_id=job_id)
            rung += 1
    return rung
