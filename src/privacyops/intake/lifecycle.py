"""The privacy request as the unit of GDPR work: its state machine, deadline, timeline,
duplicates, the jobs that fulfil it, and what is left of the person after an erasure.

Every channel (public form, privacy center, API, an operator acting for a person, the GDPR
screen) creates its request with `request_record`, so they all land in one queue. Every
change commits with its audit event and its timeline line in one transaction. Audit events
and timeline lines never hold the person's email or name: the request row is the only place,
and after a completed erasure only the keyed hash of the identity remains (`request_minimise`).
"""

from __future__ import annotations

import importlib
import logging
import secrets
from calendar import monthrange
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from privacyops.audit.services import audit_record
from privacyops.connectors import canonical_identity
from privacyops.errors import InvalidTransition, ValidationFailed
from privacyops.intake.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    Channel,
    IntakeRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
)
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant
from privacyops.web.ratelimit import keyed_hash

logger = logging.getLogger(__name__)

TARGET_TYPE = "intake_request"
VERIFICATION_LIFETIME = timedelta(hours=48)
EXTENSION_MONTHS = 2
ONE_MONTH_DAYS = 30  # the tenant setting's default, which means "one calendar month"
ERASED = "[erased]"


# --- deadlines ----------------------------------------------------------------------------

def add_months(moment: datetime, months: int) -> datetime:
    """The same day and wall-clock time `months` calendar months later (31 Jan + 1 → 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def response_deadline(received_at: datetime, tenant: Tenant, zone: tzinfo | None = None) -> datetime:
    """One calendar month from receipt (GDPR Art. 12(3)), counted in `zone` (the installation's
    time zone by default), unless the workspace set a shorter number of days."""
    days = tenant.response_deadline_days
    if days and days < ONE_MONTH_DAYS:
        return received_at + timedelta(days=days)
    return add_months(timezone.localtime(received_at, zone), 1)


def latest_deadline(request: IntakeRequest) -> datetime:
    """The furthest the one extension may push the deadline: two months past the original."""
    return add_months(timezone.localtime(request.original_deadline_at), EXTENSION_MONTHS)


# --- identity -----------------------------------------------------------------------------

def canonical_email(email: str) -> str:
    return canonical_identity({"email": email or ""}).get("email", "")


def identity_digest(tenant_id: int, email: str, subject_ids: tuple[str, ...] = ()) -> str:
    """The keyed hash of the person's canonical email in one workspace (not reversible); for
    a request that names the person only by subject id, of those ids; "" for neither."""
    if canonical_email(email):
        return keyed_hash("privacy-request-identity", f"{tenant_id}|{canonical_email(email)}")
    if subject_ids:
        return keyed_hash("privacy-request-subject", f"{tenant_id}|{','.join(sorted(subject_ids))}")
    return ""


def subject_email(tenant: Tenant, subject_ids: tuple[str, ...] | list[str]) -> str:
    """The email the workspace's datastore shows for these subjects (the data map's display
    and identity fields), when they are one person with one email and not erased; "" otherwise
    (or when the datastore does not answer). Asked outside any control-DB transaction."""
    from privacyops.execution.people import people_by_tenant

    ids = sorted({str(subject_id) for subject_id in subject_ids if str(subject_id)})
    if not ids:
        return ""
    people = people_by_tenant({tenant: ids})
    emails = {canonical_email(person.email) for person in people.values()
              if not person.erased and "@" in person.email}
    found = len(people) == len(ids) and len(emails) == 1
    return emails.pop() if found else ""


def listed_for_person(request: IntakeRequest) -> bool:
    """Whether the person finds this request in their privacy center, which lists requests by
    the keyed hash of the email they sign in with. A request filed by subject id alone whose
    person's email could not be found carries the hash of those ids instead and is not."""
    return bool(request.identity_hash) and request.listed_for_person


# --- state machine and timeline -----------------------------------------------------------

def transition(request: IntakeRequest, to: str) -> None:
    """Move the request to `to`, or refuse with a 409 that says what is possible instead."""
    if to not in TRANSITIONS[request.status]:
        allowed = ", ".join(sorted(TRANSITIONS[request.status])) or "nothing (it is closed)"
        raise InvalidTransition(
            f"Request {request.reference} is {request.get_status_display().lower()}; it cannot "
            f"become {RequestStatus(to).label.lower()}. From {request.status} it can become: "
            f"{allowed}.",
            status=request.status, requested=to,
        )
    request.status = to
    if to not in OPEN_STATUSES:
        request.closed_at = timezone.now()


def event_add(request: IntakeRequest, kind: str, actor: Actor | None = None, *, text: str = "",
              **data: Any) -> RequestEvent:
    """A line on the request's timeline (inside the caller's transaction)."""
    return RequestEvent.objects.create(
        request=request, kind=kind, actor_label=actor.label if actor else "", text=text,
        data=data,
    )


def audited(request: IntakeRequest, action: str, actor: Actor, **metadata: Any) -> None:
    """The audit event of a change to a request: ids, statuses and hashes only."""
    audit_record(actor=actor, action=action, tenant_id=request.tenant_id,
                 target_type=TARGET_TYPE, target_id=request.pk,
                 metadata={"request_id": request.pk, "reference": request.reference,
                           **metadata})


# --- creation (every channel) -------------------------------------------------------------

def duplicate_of(request: IntakeRequest) -> IntakeRequest | None:
    """The oldest open request with the same identity, type and workspace, if any."""
    if not request.identity_hash:
        return None
    return (
        IntakeRequest.objects.filter(
            tenant_id=request.tenant_id, identity_hash=request.identity_hash,
            request_type=request.request_type, status__in=OPEN_STATUSES,
            duplicate_of__isnull=True,
        ).exclude(pk=request.pk).order_by("submitted_at", "pk").first()
    )


def request_record(
    *, tenant: Tenant, email: str, request_type: str, channel: str, actor: Actor,
    name: str = "", details: str = "", identifiers: dict[str, str] | None = None,
    language: str = "", verified: bool = False, token_hash: str = "", ip_hash: str = "",
    own_data_confirmed: bool = False, subject_id: str = "",
    identity_subjects: tuple[str, ...] = (), identity_email: str = "",
) -> IntakeRequest:
    """Create a request from any channel. Must run inside the caller's transaction.

    A request that names the person by subject id (no `email`) is hashed by `identity_email`,
    the email the datastore shows for them (`subject_email`), when there is one: it is kept
    only as the keyed hash, so the person finds the request in their privacy center; else by
    the subject ids (`identity_subjects`), and the privacy center cannot list it.

    A request the caller already verified (an application that authenticated its user, an
    operator acting for the person, the privacy center's code) starts `verified`; the public
    form's starts `received` until the person opens the link. A request with the same
    identity, type and workspace as an open one is linked to it as a duplicate.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("request_record must run inside the caller's transaction.")
    if request_type not in RequestType.values:
        raise ValidationFailed(
            f"Unknown request type {request_type!r}; use one of: "
            f"{', '.join(RequestType.values)}.", field="type")
    if channel not in Channel.values:
        raise ValidationFailed(f"Unknown channel {channel!r}.", field="channel")
    now = timezone.now()
    deadline = response_deadline(now, tenant)
    request = IntakeRequest.objects.create(
        tenant=tenant, channel=channel, email=(email or "").strip(),
        name=(name or "").strip()[:200], identifiers=identifiers or {},
        identity_hash=identity_digest(tenant.pk, email or identity_email, identity_subjects),
        listed_for_person=bool(canonical_email(email or identity_email)),
        language=(language or "")[:16],
        request_type=request_type, details=(details or "").strip(),
        own_data_confirmed=own_data_confirmed, ip_hash=ip_hash, submitted_at=now,
        deadline_at=deadline, original_deadline_at=deadline,
        status=RequestStatus.VERIFIED if verified else RequestStatus.RECEIVED,
        verification_token_hash=token_hash or secrets.token_hex(32),
        verification_expires_at=now + VERIFICATION_LIFETIME,
        verified_at=now if verified else None,
        subject_id=subject_id, linked_at=now if subject_id else None,
    )
    original = duplicate_of(request)
    if original is not None:
        request.duplicate_of = original
        request.save(update_fields=["duplicate_of"])
    audited(request, "intake.submitted", actor, request_type=request_type, channel=channel,
            deadline_at=deadline.isoformat(), verified=verified,
            identity_hash=request.identity_hash,
            duplicate_of=original.pk if original else None)
    event_add(request, "received", actor, channel=channel, deadline_at=deadline.isoformat())
    if verified:
        event_add(request, "verified", actor, how=channel)
    if original is not None:
        event_add(request, "duplicate_found", actor, original=original.reference)
        event_add(original, "duplicate_received", actor, duplicate=request.reference,
                  channel=channel)
    return request


# --- fulfilment: which jobs, on whom ------------------------------------------------------

def identity_for(request: IntakeRequest, job_type: str) -> dict[str, str] | None:
    """The identity a request's job names the person by (``{"email": …}``), so that one job
    runs on every system of the workspace; None where identity jobs are refused (a linked
    subject, no email, a job type other than EXPORT/ERASE, a workspace without systems), and
    the request falls back to subject ids found by email (`targets_for`)."""
    from privacyops.errors import DomainError
    from privacyops.jobs.services import identity_clean
    from privacyops.tenancy.models import System

    email = canonical_email(request.email)
    if request.subject_id or not email:
        return None
    if not System.objects.filter(tenant_id=request.tenant_id).exists():
        return None
    try:
        return identity_clean(request.tenant, job_type, "subject", {"email": email})
    except DomainError:
        return None


def targets_for(request: IntakeRequest) -> tuple[str, ...]:
    """The data subjects a request's jobs act on when they cannot name the person by
    identity (`identity_for`): the linked subject, else those the workspace's system finds
    by the request's email."""
    if request.subject_id:
        return (request.subject_id,)
    from privacyops.execution.registry import DatastoreUnavailable
    from privacyops.privacy_center.services import subject_ids_for

    try:
        return subject_ids_for(request.tenant, canonical_email(request.email))
    except DatastoreUnavailable:
        return ()


def _job_for_request(request: IntakeRequest, *, subject_id: str = "", actor: Actor,
                     source: str, check_permission: bool = True,
                     not_before: datetime | None = None, reason: str = "",
                     identity: dict[str, str] | None = None) -> Job | None:
    """Create the job that fulfils the request, for one subject or, with `identity`, for the
    person in every system of the workspace; None when its type has no job.

    access / portability → EXPORT, erasure → ERASE (the tenant's approval policy applies).
    """
    from privacyops.intake.models import JOB_TYPE_FOR_REQUEST
    from privacyops.jobs.services import job_create

    job_type = JOB_TYPE_FOR_REQUEST.get(request.request_type)
    if job_type is None:
        return None
    return job_create(
        tenant_id=request.tenant_id, job_type=job_type, target_type="subject",
        target_id="" if identity else subject_id,
        reason=reason or f"Privacy request {request.reference}",
        actor=actor, source=source, check_permission=check_permission, not_before=not_before,
        identity=identity,
    )


def jobs_attach(request: IntakeRequest, jobs: list[Job], actor: Actor) -> None:
    """Link freshly created jobs to the request (in the caller's transaction), put it in
    progress, and settle it at once if they all finished already (a fast worker)."""
    for job in jobs:
        Job.objects.filter(pk=job.pk).update(request=request)
        event_add(request, "job_created", actor, job_id=job.pk, job_type=job.job_type,
                  job_status=job.status)
    if request.job_id is None and jobs:
        request.job = jobs[0]
    if request.status == RequestStatus.VERIFIED:
        transition(request, RequestStatus.IN_PROGRESS)
    request.save()
    audited(request, "intake.fulfilled", actor, job_ids=[job.pk for job in jobs],
            job_types=sorted({job.job_type for job in jobs}))
    request_settle(request)


@transaction.atomic(durable=True)
def request_for_job(job: Job, *, request_type: str, channel: str, actor: Actor,
                    email: str = "", identity_email: str = "") -> IntakeRequest:
    """Record a request for a job a screen created directly (the workspace GDPR screen, whose
    admin acts on the person's request): verified, in progress with the job, and completed
    with it. `identity_email` (the person's email as the screen showed it) is kept only as
    the keyed hash, so the person finds the request in their privacy center."""
    request = request_record(
        tenant=job.tenant, email=email, request_type=request_type, channel=channel,
        actor=actor, verified=True, subject_id=job.target_id,
        identity_subjects=(job.target_id,), identity_email=identity_email,
    )
    jobs_attach(request, [job], actor)
    return request


# --- completion: only when the jobs complete ----------------------------------------------

def request_settle(request: IntakeRequest) -> bool:
    """Complete an in-progress request whose jobs all completed (in the caller's transaction).

    A failed or rejected job keeps the request in progress; its page shows why. Returns
    whether it completed; the completion email and the minimisation follow the commit.
    """
    if request.status != RequestStatus.IN_PROGRESS:
        return False
    statuses = list(Job.objects.filter(request=request).values_list("status", flat=True))
    if not statuses or any(status != JobStatus.COMPLETED for status in statuses):
        return False
    transition(request, RequestStatus.COMPLETED)
    request.save(update_fields=["status", "closed_at"])
    worker = Actor.system("request-lifecycle")
    audited(request, "intake.completed", worker, jobs=len(statuses))
    event_add(request, "completed", worker, jobs=len(statuses))
    request_id = request.pk
    transaction.on_commit(lambda: request_completed(request_id), robust=True)
    return True


def job_settled(job: Job) -> None:
    """Called in the transaction of every job's final change (completed, failed, rejected,
    cancelled): the request's timeline shows it, and the request completes when all its
    jobs did. One hook, called from jobs.services."""
    if job.request_id is None:
        return
    request = IntakeRequest.objects.select_for_update().filter(pk=job.request_id).first()
    if request is None:
        return
    data: dict[str, Any] = {"job_id": job.pk, "job_type": job.job_type, "job_status": job.status}
    if job.error_code:
        data["error_code"] = job.error_code
    event_add(request, "job_finished", Actor.system("request-lifecycle"), **data)
    request_settle(request)


def _send_completion_email(request: IntakeRequest) -> None:
    """The completion email, through `privacyops.requests_mail` when it is installed (the
    intake notifications adapt the request to it and put the email on the timeline)."""
    if not request.email:  # named by subject id only (an application, the GDPR screen)
        return
    try:
        importlib.import_module("privacyops.requests_mail")
    except ImportError:
        return
    from privacyops.intake.notifications import send_completed

    send_completed(request_id=request.pk)


def request_completed(request_id: int) -> None:
    """After a request completed: email the person, then, for an erasure, keep only the keyed
    hash of their identity. Runs after the completing transaction commits."""
    request = IntakeRequest.objects.select_related("tenant").get(pk=request_id)
    try:
        _send_completion_email(request)
    except Exception:
        logger.exception("completion email for request %s failed", request_id)
    if request.request_type == RequestType.ERASURE:
        request_minimise(request_id=request_id)


def _scrubbed(text: str, values: list[str]) -> str:
    for value in values:
        if value:
            text = text.replace(value, ERASED)
    return text


def request_minimise(*, request_id: int) -> IntakeRequest:
    """Remove the person's email, name, identifiers and details from a completed erasure
    request (and its timeline notes); the keyed identity hash stays, so a new request of the
    same person still finds it. On SQLite the WAL is emptied afterwards."""
    try:
        with transaction.atomic():
            request = IntakeRequest.objects.select_for_update().get(pk=request_id)
            if request.minimised_at is not None:
                return request
            values = [request.email, canonical_email(request.email), request.name,
                      *[str(v) for v in (request.identifiers or {}).values()]]
            values = sorted({v for v in values if v}, key=len, reverse=True)
            for event in RequestEvent.objects.filter(request=request).exclude(text=""):
                cleaned = _scrubbed(event.text, values)
                if cleaned != event.text:
                    RequestEvent.objects.filter(pk=event.pk).update(text=cleaned)
            # A job by identity kept the email to find the person in every system; once the
            # erasure is done it keeps which fields named them, not the values.
            for job in Job.objects.filter(request=request).exclude(identity={}):
                Job.objects.filter(pk=job.pk).update(
                    identity={name: ERASED for name in job.identity})
            request.email, request.name, request.identifiers = "", "", {}
            request.details = ""
            request.outcome = _scrubbed(request.outcome, values)
            request.minimised_at = timezone.now()
            request.save(update_fields=["email", "name", "identifiers", "details", "outcome",
                                        "minimised_at"])
            actor = Actor.system("request-lifecycle")
            audited(request, "intake.minimised", actor, identity_hash=request.identity_hash)
            event_add(request, "minimised", actor)
    finally:
        # The control DB runs with secure_delete (settings), so the old values are zeroed in
        # the file; the WAL still holds earlier copies of the row until it is checkpointed.
        if connection.vendor == "sqlite" and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return request
