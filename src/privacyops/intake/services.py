"""Public submission and verification of privacy requests, and the operator's actions on them.

Each entry point commits its state change and its audit event in one durable transaction;
emails to the submitter leave after commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime
from typing import Any

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from privacyops.audit.services import refusals_recorded
from privacyops.errors import Conflict, DomainError, NotFound, PermissionDenied, RateLimited, ValidationFailed
from privacyops.intake import notifications
from privacyops.intake.forms import DETAILS_LIMIT
from privacyops.intake.lifecycle import (
    EXTENSION_MONTHS,
    TARGET_TYPE,
    VERIFICATION_LIFETIME,
    _job_for_request,
    add_months,
    audited,
    canonical_email,
    event_add,
    identity_for,
    jobs_attach,
    latest_deadline,
    request_completed,
    request_record,
    targets_for,
    transition,
)
from privacyops.intake.models import (
    JOB_TYPE_FOR_REQUEST,
    OPEN_STATUSES,
    OUTCOME_REQUEST_TYPES,
    PENDING_JOB_TYPE_FOR_REQUEST,
    Channel,
    IntakeRequest,
    RequestStatus,
    RequestType,
)
from privacyops.intake.ratelimit import SUBMISSIONS_PER_WINDOW, ip_hash, submission_slot_take
from privacyops.jobs.models import Job, JobSource, JobStatus, JobType
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import can, role_in
from privacyops.validation import clean_identifier, clean_text

REASON_LIMIT = 2000
NOTE_LIMIT = 5000
# Kept importable from here (pages and tests use them); they live in lifecycle.py.
REEXPORTED = (EXTENSION_MONTHS, VERIFICATION_LIFETIME, add_months, latest_deadline)
FORM_ACTOR = Actor.system("intake-form")


class SubmissionLimitReached(RateLimited):
    def __init__(self, message: str, *, retry_at: datetime, contact: str) -> None:
        super().__init__(message, retry_at=retry_at.isoformat())
        self.retry_at = retry_at
        self.contact = contact


class VerificationLinkInvalid(NotFound):
    code = "link_invalid"


class VerificationLinkUsed(DomainError):
    code = "link_used"
    status = 410

    def __init__(self, message: str, *, request: IntakeRequest) -> None:
        super().__init__(message)
        self.request = request


class VerificationLinkExpired(DomainError):
    code = "link_expired"
    status = 410

    def __init__(self, message: str, *, request: IntakeRequest) -> None:
        super().__init__(message)
        self.request = request


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_text(value: str, what: str, *, limit: int, hint: str = "") -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"A {what} is required.{hint}", field=what)
    if len(value) > limit:
        raise ValidationFailed(f"The {what} is longer than {limit:,} characters.", field=what)
    return clean_text(value, field=what, what=what, limit=limit)


# --- public side --------------------------------------------------------------------------

def intake_submit(
    *, tenant_id: int, email: str, name: str = "", request_type: str, details: str = "",
    own_data_confirmed: bool, client_address: str,
) -> IntakeRequest:
    """Record a request from the public form and email the submitter a verification link.

    Refused with `SubmissionLimitReached` (HTTP 429) when this address already filed three
    requests in the past hour, with any workspace. Only a keyed hash of the address is kept.
    """
    try:
        tenant = Tenant.objects.get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise NotFound(f"Workspace {tenant_id} does not exist.") from None
    address_hash = ip_hash(client_address)
    retry_at = submission_slot_take(address_hash=address_hash)
    if retry_at is not None:
        contact = tenant.privacy_contact_email
        escalate = f" or email the privacy contact {contact} directly" if contact else ""
        raise SubmissionLimitReached(
            f"This form accepts {SUBMISSIONS_PER_WINDOW} requests per hour from one address. "
            f"Try again after {retry_at:%H:%M} UTC on {retry_at:%d %B %Y}{escalate}.",
            retry_at=retry_at, contact=contact,
        )
    return _intake_submit(
        tenant=tenant, email=email, name=name, request_type=request_type, details=details,
        own_data_confirmed=own_data_confirmed, address_hash=address_hash,
    )


@transaction.atomic(durable=True)
def _intake_submit(
    *, tenant: Tenant, email: str, name: str, request_type: str, details: str,
    own_data_confirmed: bool, address_hash: str,
) -> IntakeRequest:
    email = (email or "").strip()
    if not email or len(email) > 254:
        raise ValidationFailed("An email address is required.", field="email")
    if request_type not in RequestType.values:
        raise ValidationFailed("Choose one of the listed request types.", field="request_type")
    if len(details or "") > DETAILS_LIMIT:
        raise ValidationFailed(f"The details are longer than {DETAILS_LIMIT:,} characters.",
                               field="details")
    if not own_data_confirmed:
        raise ValidationFailed("Confirm that the request concerns your own personal data.",
                               field="own_data")
    token = secrets.token_urlsafe(32)
    request = request_record(
        tenant=tenant, email=email, name=name, request_type=request_type, details=details,
        channel=Channel.INTAKE, actor=FORM_ACTOR, own_data_confirmed=True,
        ip_hash=address_hash, token_hash=token_digest(token),
    )
    request_id = request.pk
    transaction.on_commit(
        lambda: notifications.send_verification(request_id=request_id, token=token), robust=True
    )
    return request


def _moment(value: datetime) -> str:
    """`04 March 2026 at 09:00` (UTC), in the language of the page that shows it."""
    # Translators: a Django date format; "\a\t" is the literal word "at".
    return formats.date_format(value.astimezone(UTC), pgettext("verification link moment",
                                                               "d F Y \\a\\t H:i"))


@transaction.atomic(durable=True)
def intake_verify(*, tenant_id: int, token: str) -> IntakeRequest:
    """Mark the request's email as verified. The link works once, for 48 hours."""
    request = (
        IntakeRequest.objects.select_for_update().select_related("tenant")
        .filter(tenant_id=tenant_id, verification_token_hash=token_digest(token or "")).first()
    )
    if request is None:
        raise VerificationLinkInvalid(
            _("This confirmation link is not valid. Copy the whole link from the email, "
              "or submit your request again.")
        )
    if request.verified_at is not None:
        raise VerificationLinkUsed(
            _("This link was already used: request #%(number)s was confirmed on %(when)s UTC. "
              "Nothing more to do.") % {"number": request.pk, "when": _moment(request.verified_at)},
            request=request,
        )
    now = timezone.now()
    if request.verification_expires_at <= now:
        raise VerificationLinkExpired(
            _("This link expired on %(when)s UTC (links last 48 hours). Submit your request "
              "again to get a new link.") % {"when": _moment(request.verification_expires_at)},
            request=request,
        )
    if request.status != RequestStatus.RECEIVED:
        raise VerificationLinkInvalid(
            f"Request {request.reference} is {request.get_status_display().lower()}; this "
            "link no longer confirms anything. Submit your request again if you still need it."
        )
    transition(request, RequestStatus.VERIFIED)
    request.verified_at = now
    request.save(update_fields=["verified_at", "status", "closed_at"])
    audited(request, "intake.verified", FORM_ACTOR, how="email_link")
    event_add(request, "verified", FORM_ACTOR, how="email_link")
    request_id = request.pk
    transaction.on_commit(lambda: notifications.send_received(request_id=request_id),
                          robust=True)
    return request


# --- operator side ------------------------------------------------------------------------

def _managed_request(request_id: int, actor: Actor, *, lock: bool = True) -> IntakeRequest:
    """The request, if the actor may handle it: 404 outside their workspaces, 403 for members."""
    queryset = IntakeRequest.objects.select_related("tenant")
    if lock:
        queryset = queryset.select_for_update()
    request = queryset.filter(pk=request_id).first()
    user = acting_user(actor)
    if request is None or not (
        can(user, "intake.view", request.tenant) or role_in(user, request.tenant) is not None
    ):
        raise NotFound(f"Privacy request #{request_id} does not exist.")
    if not can(user, "intake.manage", request.tenant):
        raise PermissionDenied(
            "Handling privacy requests needs the super-admin, admin or IT-admin role in this "
            "workspace; ask one of them."
        )
    return request


def _require_open(request: IntakeRequest, verb: str) -> None:
    if request.status not in OPEN_STATUSES:
        raise Conflict(
            f"Request {request.reference} is {request.get_status_display().lower()}; only open "
            f"requests (received, verified or in progress) can be {verb}.",
            code="request_closed", status=request.status,
        )


def _require_verified(request: IntakeRequest) -> None:
    if request.status == RequestStatus.RECEIVED:
        raise Conflict(
            f"Request {request.reference} is not verified yet: the person must open the link in "
            "the confirmation email first, or verify their identity another way and mark it "
            "verified. If the link expired, ask them to submit the form again, or reject this "
            "request with a reason.",
            code="not_verified",
        )


def _canonical_subject_id(request: IntakeRequest, subject_id: str) -> str:
    """The subject's id as the datastore spells it, so the request, its job and the privacy
    center name one person by one id. An id no subject has (a name typed without picking the
    person from the suggestions) is refused (422); kept as typed when the datastore cannot
    be asked."""
    from privacyops.execution.registry import DatastoreUnavailable
    from privacyops.execution.targets import target_resolve

    try:
        resolved = target_resolve(tenant=request.tenant, target_type="subject",
                                  target_id=subject_id)
    except DatastoreUnavailable:
        return subject_id
    if resolved.exists is False:
        raise ValidationFailed(
            f"No data subject of workspace {request.tenant.name} has the id "
            f"{subject_id[:80]!r}. Type the person's name or email and pick them from the "
            "suggestions; their subject id is filled in.", field="subject id")
    return resolved.id


def _tenant_or_404(tenant_id: int, actor: Actor) -> Tenant:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    user = acting_user(actor)
    if tenant is None or not (user.is_staff or role_in(user, tenant) is not None):
        raise NotFound(f"Workspace {tenant_id} does not exist.")
    if not can(user, "intake.manage", tenant):
        raise PermissionDenied(
            "Creating privacy requests for a person needs the super-admin, admin or IT-admin "
            "role in this workspace; ask one of them."
        )
    return tenant


@transaction.atomic(durable=True)
def _request_create(*, tenant_id: int, email: str, request_type: str, actor: Actor,
                    channel: str, name: str, details: str, identifiers: dict[str, str],
                    language: str) -> IntakeRequest:
    tenant = _tenant_or_404(tenant_id, actor)
    try:
        from privacyops.privacy_center.services import clean_email

        email = clean_email(email)
    except ValidationFailed:
        raise ValidationFailed("Enter the person's email address, such as name@example.com.",
                               field="email") from None
    if len(details or "") > DETAILS_LIMIT:
        raise ValidationFailed(f"The details are longer than {DETAILS_LIMIT:,} characters.",
                               field="details")
    details = clean_text(details or "", field="details", what="details", limit=DETAILS_LIMIT)
    name = clean_text(name or "", field="name", what="name", limit=200)
    cleaned_ids = {clean_text(str(k), field="identifiers", what="identifier name", limit=50):
                   clean_text(str(v), field="identifiers", what="identifier", limit=200)
                   for k, v in (identifiers or {}).items()}
    return request_record(
        tenant=tenant, email=email, name=name, request_type=request_type, details=details,
        channel=channel, actor=actor, verified=True, identifiers=cleaned_ids,
        language=language,
    )


def request_create(*, tenant_id: int, email: str, request_type: str, actor: Actor,
                   channel: str = Channel.OPERATOR, name: str = "", details: str = "",
                   identifiers: dict[str, str] | None = None, language: str = "") -> IntakeRequest:
    """A request filed for a person by an operator, or by an application that authenticated
    its user (the API): it starts verified, in the same queue as the public form's."""
    with refusals_recorded(actor=actor, action="intake.submitted", tenant_id=None,
                           target_type=TARGET_TYPE):
        return _request_create(tenant_id=tenant_id, email=email, request_type=request_type,
                               actor=actor, channel=channel, name=name, details=details,
                               identifiers=identifiers or {}, language=language)


@transaction.atomic(durable=True)
def _request_verify(*, request_id: int, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    transition(request, RequestStatus.VERIFIED)
    request.verified_at = timezone.now()
    request.save(update_fields=["status", "verified_at", "closed_at"])
    audited(request, "intake.verified", actor, how="operator")
    event_add(request, "verified", actor, how="operator")
    return request


def request_verify(*, request_id: int, actor: Actor) -> IntakeRequest:
    """The operator confirmed the person's identity another way (a call, a signed letter)."""
    with refusals_recorded(actor=actor, action="intake.verified", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _request_verify(request_id=request_id, actor=actor)


@transaction.atomic(durable=True)
def _request_assign(*, request_id: int, assignee_id: int | None, actor: Actor) -> IntakeRequest:
    from privacyops.tenancy.models import User

    request = _managed_request(request_id, actor)
    _require_open(request, "assigned")
    assignee = None
    if assignee_id is not None:
        assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
        if assignee is None or not can(assignee, "intake.manage", request.tenant):
            raise ValidationFailed(
                "Assign the request to platform staff or to a super-admin, admin or IT admin "
                "of its workspace.", field="assignee_id")
    request.assignee = assignee
    request.save(update_fields=["assignee"])
    audited(request, "intake.assigned", actor, assignee_id=assignee_id)
    event_add(request, "assigned", actor, assignee=assignee.email if assignee else None)
    return request


def request_assign(*, request_id: int, assignee_id: int | None, actor: Actor) -> IntakeRequest:
    """Give the request to someone who may handle it (None: unassign)."""
    with refusals_recorded(actor=actor, action="intake.assigned", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _request_assign(request_id=request_id, assignee_id=assignee_id, actor=actor)


@transaction.atomic(durable=True)
def _request_note(*, request_id: int, text: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    text = _clean_text(text, "note", limit=NOTE_LIMIT, hint=" Type the note.")
    # The note may quote personal data: it stays on the timeline, not in the audit chain.
    audited(request, "intake.noted", actor, length=len(text))
    event_add(request, "note", actor, text=text)
    return request


def request_note(*, request_id: int, text: str, actor: Actor) -> IntakeRequest:
    """An internal note on the request's timeline (the person never sees it)."""
    with refusals_recorded(actor=actor, action="intake.noted", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _request_note(request_id=request_id, text=text, actor=actor)


@transaction.atomic(durable=True)
def _intake_link(*, request_id: int, subject_id: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "linked")
    subject_id = _clean_text(subject_id, "subject id", limit=200,
                             hint=" Type the person's name or email and pick them.")
    subject_id = clean_identifier(subject_id, field="subject id", what="subject id")
    previous = request.subject_id
    request.subject_id, request.linked_at = subject_id, timezone.now()
    request.save(update_fields=["subject_id", "linked_at"])
    audited(request, "intake.linked", actor, subject_id=subject_id,
            previous_subject_id=previous)
    event_add(request, "linked", actor, subject_id=subject_id)
    return request


def intake_link(*, request_id: int, subject_id: str, actor: Actor) -> IntakeRequest:
    """Record which data subject the request concerns (re-linking is allowed while open)."""
    with refusals_recorded(actor=actor, action="intake.linked", target_type=TARGET_TYPE,
                           target_id=request_id):
        request = _managed_request(request_id, actor, lock=False)
        if (subject_id or "").strip():  # asked of the datastore outside the write transaction
            subject_id = clean_identifier(subject_id.strip(), field="subject id",
                                          what="subject id")
            subject_id = _canonical_subject_id(request, subject_id)
        return _intake_link(request_id=request_id, subject_id=subject_id, actor=actor)


def _fulfilment_job_type(request: IntakeRequest, actor: Actor) -> str | None:
    job_type = JOB_TYPE_FOR_REQUEST.get(request.request_type)
    if job_type is None:
        return None
    if not can(acting_user(actor), f"job.create.{job_type}", request.tenant):
        what = "Erasure" if job_type == JobType.ERASE else "Export"
        raise PermissionDenied(
            f"{what} jobs in this workspace are created by super-admins or platform staff "
            "only; ask one of them to fulfil this request."
        )
    return job_type


def _require_fulfillable(request: IntakeRequest) -> None:
    _require_open(request, "fulfilled")
    _require_verified(request)
    if request.is_duplicate:
        raise Conflict(
            f"Request {request.reference} looks like a duplicate of "
            f"{request.duplicate_of.reference if request.duplicate_of else 'another request'}: "
            "merge it into that one, or keep it as a separate request first.",
            code="duplicate")
    unfinished = Job.objects.filter(request=request).exclude(
        status__in=[JobStatus.FAILED, JobStatus.REJECTED, JobStatus.COMPLETED])
    if unfinished.exists():
        raise Conflict(
            f"Request {request.reference} already has jobs under way; follow them on this page "
            "(a failed job is retried from its own page).", code="jobs_under_way")


@transaction.atomic(durable=True)
def _intake_record_fulfilment(*, request_id: int, job_ids: list[int],
                              linked_subject: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    jobs = list(Job.objects.filter(pk__in=job_ids).order_by("pk"))
    if request.status not in OPEN_STATUSES or request.subject_id != linked_subject:
        listed = ", ".join(f"#{job.pk}" for job in jobs)
        raise Conflict(
            f"Request {request.reference} changed while job {listed} was being created (it is "
            f"now {request.get_status_display().lower()}, subject "
            f"{request.subject_id or 'none'}). Review the request, and reject job {listed} on "
            "its page if it is not needed.",
            job_id=jobs[0].pk if jobs else None,
        )
    jobs_attach(request, jobs, actor)
    return request


@transaction.atomic(durable=True)
def _intake_pending_job_type(*, request_id: int, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_fulfillable(request)
    job_type = PENDING_JOB_TYPE_FOR_REQUEST.get(request.request_type, "")
    if request.status == RequestStatus.VERIFIED:
        transition(request, RequestStatus.IN_PROGRESS)
        request.save(update_fields=["status", "closed_at"])
    audited(request, "intake.fulfilled", actor, job_ids=[], pending_job_type=job_type)
    event_add(request, "job_type_pending", actor, job_type=job_type)
    return request


def _on_job_system(request: IntakeRequest, system_name: str | None) -> bool:
    from privacyops.execution.registry import system_for

    first = system_for(request.tenant)
    return not system_name or (first is not None and first.name == system_name)


def _subjects_in(request: IntakeRequest, system_name: str | None) -> tuple[str, ...]:
    """The data subjects a correction or restriction may act on in the chosen system: the
    linked subject or those found by the request's email in the job system (`targets_for`);
    in another system, those that system finds by the email (a linked id names a row of the
    job system, not of this one)."""
    from privacyops.execution.rectify import system_named
    from privacyops.execution.registry import DatastoreUnavailable, datastore_of_system

    system = system_named(request.tenant, system_name)
    if _on_job_system(request, system.name):
        return targets_for(request)
    email = canonical_email(request.email)
    if not email:
        return ()
    try:
        return tuple(datastore_of_system(system).find_subject_ids(system.datastore_key or None,
                                                                  email))
    except DatastoreUnavailable:
        return ()


def _rectify_or_restrict(request: IntakeRequest, *, changes: dict[str, Any] | None,
                         lift: bool | None, system: str | None,
                         actor: Actor) -> IntakeRequest:
    """A correction's RECTIFY (`changes`) or a restriction's RESTRICT (`lift`) on the one data
    subject of the request in one system (the chosen one, else the job system): linked, or
    found by its email. These jobs take a primary key in one system, so several matches need
    the operator to link one first. The values are checked by `job_create`, as for a job
    created on its own."""
    from privacyops.jobs.services import job_create

    job_type = PENDING_JOB_TYPE_FOR_REQUEST[request.request_type]
    if not can(acting_user(actor), f"job.create.{job_type}", request.tenant):
        raise PermissionDenied(f"You may not create {job_type} jobs in this workspace; ask an "
                               "operator who may to fulfil this request.")
    if (changes is not None) != (job_type == JobType.RECTIFY):
        given, wanted = ("changes", "lift") if changes is not None else ("lift", "changes")
        raise ValidationFailed(
            f"A {request.get_request_type_display().split(' —')[0].lower()} request is "
            f"fulfilled with `{wanted}`, not `{given}`.", field=given, code="invalid_params")
    subjects = _subjects_in(request, system)
    if len(subjects) != 1:
        found = "No data subject" if not subjects else f"{len(subjects)} data subjects"
        if _on_job_system(request, system):
            raise Conflict(
                f"{found} of this workspace match the email of request {request.reference}: "
                "link the person under \"Link to a data subject\" first.", code="not_linked")
        raise Conflict(
            f"{found} of system {system} match the email of request {request.reference}, so "
            "the request cannot name the row to change there; create the job on the new-job "
            "page with the person's id in that system, then record the outcome.",
            code="not_linked")
    params: dict[str, Any] = ({"changes": changes} if job_type == JobType.RECTIFY
                              else {"lift": bool(lift)})
    if system:
        params["system"] = system
    job = job_create(
        tenant_id=request.tenant_id, job_type=job_type, target_type="subject",
        target_id=subjects[0], reason=f"Privacy request {request.reference}", actor=actor,
        source=JobSource.INTAKE, params=params)
    return _intake_record_fulfilment(request_id=request.pk, job_ids=[job.pk],
                                     linked_subject=request.subject_id, actor=actor)


def intake_fulfil(*, request_id: int, actor: Actor, changes: dict[str, Any] | None = None,
                  lift: bool | None = None, system: str | None = None) -> IntakeRequest:
    """Create the jobs that fulfil the request: EXPORT for access and portability, ERASE for
    erasure (the workspace's approval policy applies), one per data subject found; RECTIFY
    for a correction with `changes`, RESTRICT for a restriction with `lift`, in `system`.

    `job_create` is durable on its own, so the jobs are created first and the request records
    them in a second transaction, which re-checks that nothing changed meanwhile. The request
    then stays in progress until every job completed.
    """
    with refusals_recorded(actor=actor, action="intake.fulfilled", target_type=TARGET_TYPE,
                           target_id=request_id):
        request = _managed_request(request_id, actor, lock=False)
        _require_fulfillable(request)
        if request.request_type == RequestType.OBJECTION:
            raise Conflict(
                "An objection is decided, not fulfilled by a job: record the decision and "
                "close the request.", code="decision_required")
        if request.request_type in PENDING_JOB_TYPE_FOR_REQUEST and (
                changes is not None or lift is not None):
            return _rectify_or_restrict(request, changes=changes, lift=lift, system=system,
                                        actor=actor)
        job_type = _fulfilment_job_type(request, actor)
        if job_type is None:
            return _intake_pending_job_type(request_id=request.pk, actor=actor)
        identity = identity_for(request, job_type)
        if identity is not None:  # one job, a step per system of the workspace
            job = _job_for_request(request, identity=identity, actor=actor,
                                   source=JobSource.INTAKE)
            return _intake_record_fulfilment(
                request_id=request.pk, job_ids=[job.pk] if job is not None else [],
                linked_subject=request.subject_id, actor=actor)
        subjects = targets_for(request)
        if not subjects:
            raise Conflict(
                f"No data subject of this workspace has the email of request "
                f"{request.reference}: find the person under \"Link to a data subject\" (type "
                "their name or another email) and link them first.", code="not_linked")
        jobs = [_job_for_request(request, subject_id=subject, actor=actor,
                                 source=JobSource.INTAKE) for subject in subjects]
        return _intake_record_fulfilment(
            request_id=request.pk, job_ids=[job.pk for job in jobs if job is not None],
            linked_subject=request.subject_id, actor=actor)


@transaction.atomic(durable=True)
def _intake_close(*, request_id: int, outcome: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "closed")
    if request.request_type not in OUTCOME_REQUEST_TYPES:
        raise Conflict(
            f"{request.get_request_type_display()} requests are fulfilled with a job: use "
            "\"Fulfil\" instead of recording an outcome; the request completes with its jobs.",
            code="job_required",
        )
    _require_verified(request)
    request.outcome = _clean_text(outcome, "outcome", limit=DETAILS_LIMIT,
                                  hint=" Describe what was corrected, restricted or decided.")
    transition(request, RequestStatus.COMPLETED)
    request.closed_by = actor.user
    request.save(update_fields=["outcome", "status", "closed_at", "closed_by"])
    # The outcome text may quote personal data, so it stays on the request, not in the chain.
    audited(request, "intake.closed", actor, request_type=request.request_type,
            subject_id=request.subject_id)
    event_add(request, "completed", actor, by="outcome")
    request_id = request.pk
    transaction.on_commit(lambda: request_completed(request_id), robust=True)
    return request


def intake_close(*, request_id: int, outcome: str, actor: Actor) -> IntakeRequest:
    """Record what was done for a correction or restriction, or the decision on an objection,
    and complete the request."""
    with refusals_recorded(actor=actor, action="intake.closed", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _intake_close(request_id=request_id, outcome=outcome, actor=actor)


@transaction.atomic(durable=True)
def _intake_reject(*, request_id: int, reason: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    reason = _clean_text(reason, "reason", limit=REASON_LIMIT,
                         hint=" The submitter receives it by email.")
    transition(request, RequestStatus.REJECTED)
    request.rejection_reason = reason
    request.closed_by = actor.user
    request.save(update_fields=["rejection_reason", "status", "closed_at", "closed_by"])
    audited(request, "intake.rejected", actor, reason=request.rejection_reason)
    event_add(request, "rejected", actor, text=reason)
    request_id = request.pk
    transaction.on_commit(lambda: notifications.send_rejection(request_id=request_id),
                          robust=True)
    return request


def intake_reject(*, request_id: int, reason: str, actor: Actor) -> IntakeRequest:
    """Refuse the request; the submitter is emailed the reason and their right to complain
    to a supervisory authority (GDPR Art. 12(4))."""
    with refusals_recorded(actor=actor, action="intake.rejected", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _intake_reject(request_id=request_id, reason=reason, actor=actor)


def _extended_deadline(request: IntakeRequest, new_deadline: date) -> datetime:
    current = timezone.localtime(request.deadline_at)
    latest = latest_deadline(request)
    if new_deadline <= current.date():
        raise ValidationFailed(
            f"The new deadline must be after the current one ({current:%d %B %Y}).",
            field="new_deadline",
        )
    if new_deadline > latest.date():
        raise ValidationFailed(
            f"GDPR Art. 12(3) allows at most two further months: the latest possible deadline "
            f"for request {request.reference} is {latest:%d %B %Y}. Choose that date or an "
            "earlier one.",
            field="new_deadline",
        )
    return latest.replace(year=new_deadline.year, month=new_deadline.month, day=new_deadline.day)


@transaction.atomic(durable=True)
def _intake_extend(
    *, request_id: int, new_deadline: date, reason: str, actor: Actor
) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "extended")
    if request.extended_at is not None:
        raise Conflict(
            f"The deadline of request {request.reference} was already extended on "
            f"{timezone.localtime(request.extended_at):%d %B %Y}; GDPR Art. 12(3) allows one "
            "extension of up to two further months.",
            code="already_extended",
        )
    reason = _clean_text(reason, "reason", limit=REASON_LIMIT,
                         hint=" Art. 12(3) requires telling the submitter why.")
    deadline = _extended_deadline(request, new_deadline)
    previous = request.deadline_at
    request.deadline_at, request.extension_reason = deadline, reason
    request.extended_at = timezone.now()
    request.save(update_fields=["deadline_at", "extension_reason", "extended_at"])
    metadata: dict[str, Any] = {"previous_deadline_at": previous.isoformat(),
                                "deadline_at": deadline.isoformat(), "reason": reason}
    audited(request, "intake.extended", actor, **metadata)
    event_add(request, "extended", actor, text=reason, deadline_at=deadline.isoformat(),
              previous_deadline_at=previous.isoformat())
    request_id = request.pk
    transaction.on_commit(lambda: notifications.send_extension(request_id=request_id),
                          robust=True)
    return request


def intake_extend(
    *, request_id: int, new_deadline: date, reason: str, actor: Actor
) -> IntakeRequest:
    """Move the deadline later, once, at most two months past the original (GDPR Art. 12(3)).

    The submitter is emailed the new date and the reason.
    """
    with refusals_recorded(actor=actor, action="intake.extended", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _intake_extend(request_id=request_id, new_deadline=new_deadline, reason=reason,
                              actor=actor)


# --- withdrawal and duplicates ------------------------------------------------------------

@transaction.atomic(durable=True)
def _request_withdrawn(*, request: IntakeRequest, actor: Actor, reason: str) -> IntakeRequest:
    request = IntakeRequest.objects.select_for_update().select_related("tenant").get(pk=request.pk)
    transition(request, RequestStatus.WITHDRAWN)
    request.save(update_fields=["status", "closed_at"])
    audited(request, "intake.withdrawn", actor)
    event_add(request, "withdrawn", actor, text=reason)
    return request


def _cancel_jobs(request: IntakeRequest, actor: Actor) -> None:
    from privacyops.jobs.services import job_cancel

    running = Job.objects.filter(request=request, status__in=[JobStatus.APPROVED,
                                                              JobStatus.PROCESSING])
    for job in running:
        if job.status == JobStatus.PROCESSING or not (job.not_before and
                                                      job.not_before > timezone.now()):
            raise Conflict(
                f"Request {request.reference} can no longer be withdrawn: job #{job.pk} has "
                "started. Let it finish; the person may file a new request afterwards.",
                code="work_started", job_id=job.pk)
    for job in Job.objects.filter(request=request).exclude(
            status__in=[JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED]):
        job_cancel(job_id=job.pk, actor=actor, reason="Request withdrawn by the data subject")


def request_withdraw(*, request_id: int, actor: Actor, reason: str = "",
                     check_permission: bool = True) -> IntakeRequest:
    """The person withdraws their request: jobs that have not started are cancelled, and the
    request ends withdrawn. Refused (409) once a job started or the request is closed.

    `check_permission=False` for the person's own channels (the privacy center), whose
    callers proved who the person is."""
    with refusals_recorded(actor=actor, action="intake.withdrawn", target_type=TARGET_TYPE,
                           target_id=request_id):
        if check_permission:
            request = _managed_request(request_id, actor, lock=False)
        else:
            found = IntakeRequest.objects.select_related("tenant").filter(pk=request_id).first()
            if found is None:
                raise NotFound(f"Privacy request #{request_id} does not exist.")
            request = found
        _require_open(request, "withdrawn")
        _cancel_jobs(request, actor)
        return _request_withdrawn(request=request, actor=actor,
                                  reason=(reason or "").strip()[:REASON_LIMIT])


@transaction.atomic(durable=True)
def _request_merge(*, request_id: int, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    original = request.duplicate_of
    if original is None or request.duplicate_kept:
        raise Conflict(f"Request {request.reference} is not marked as a duplicate; there is "
                       "nothing to merge it into.", code="not_duplicate")
    if Job.objects.filter(request=request).exists():
        raise Conflict(f"Request {request.reference} has jobs of its own; it cannot be merged.",
                       code="has_jobs")
    transition(request, RequestStatus.MERGED)
    request.closed_by = actor.user
    request.save(update_fields=["status", "closed_at", "closed_by"])
    audited(request, "intake.merged", actor, into=original.pk)
    event_add(request, "merged", actor, into=original.reference)
    event_add(original, "merged_in", actor, duplicate=request.reference,
              channel=request.channel, received_at=request.submitted_at.isoformat())
    return request


def request_merge(*, request_id: int, actor: Actor) -> IntakeRequest:
    """Close a duplicate: its channel and receipt time are kept on the original's timeline."""
    with refusals_recorded(actor=actor, action="intake.merged", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _request_merge(request_id=request_id, actor=actor)


@transaction.atomic(durable=True)
def _request_keep(*, request_id: int, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    if request.duplicate_of_id is None or request.duplicate_kept:
        raise Conflict(f"Request {request.reference} is not marked as a duplicate.",
                       code="not_duplicate")
    _require_open(request, "kept")
    request.duplicate_kept = True
    request.save(update_fields=["duplicate_kept"])
    audited(request, "intake.duplicate_kept", actor)
    event_add(request, "duplicate_kept", actor)
    return request


def request_keep(*, request_id: int, actor: Actor) -> IntakeRequest:
    """The operator decided a suspected duplicate is a request of its own."""
    with refusals_recorded(actor=actor, action="intake.duplicate_kept", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _request_keep(request_id=request_id, actor=actor)
