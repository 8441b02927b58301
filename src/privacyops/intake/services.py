"""Public submission and verification of privacy requests, and the operator's actions on them.

Each entry point commits its state change and its audit event in one durable transaction;
emails to the submitter leave after commit.
"""

from __future__ import annotations

import hashlib
import secrets
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from privacyops.audit.services import audit_record, refusals_recorded
from privacyops.errors import Conflict, DomainError, NotFound, PermissionDenied, RateLimited, ValidationFailed
from privacyops.intake import notifications
from privacyops.intake.forms import DETAILS_LIMIT
from privacyops.intake.models import (
    JOB_TYPE_FOR_REQUEST,
    OUTCOME_REQUEST_TYPES,
    IntakeRequest,
    RequestStatus,
    RequestType,
)
from privacyops.intake.ratelimit import SUBMISSIONS_PER_WINDOW, ip_hash, submission_slot_take
from privacyops.jobs.models import Job, JobSource, JobType
from privacyops.jobs.services import job_create
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import can, role_in
from privacyops.validation import clean_identifier, clean_text

VERIFICATION_LIFETIME = timedelta(hours=48)
EXTENSION_MONTHS = 2
REASON_LIMIT = 2000
TARGET_TYPE = "intake_request"
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


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months later (31 Jan + 1 → 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


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
    now = timezone.now()
    deadline = now + timedelta(days=tenant.response_deadline_days)
    token = secrets.token_urlsafe(32)
    request = IntakeRequest.objects.create(
        tenant=tenant, email=email, name=(name or "").strip()[:200], request_type=request_type,
        details=(details or "").strip(), own_data_confirmed=True, ip_hash=address_hash,
        submitted_at=now, deadline_at=deadline, original_deadline_at=deadline,
        verification_token_hash=token_digest(token),
        verification_expires_at=now + VERIFICATION_LIFETIME,
    )
    audit_record(
        actor=FORM_ACTOR, action="intake.submitted", tenant_id=tenant.pk,
        target_type=TARGET_TYPE, target_id=request.pk,
        metadata={"request_id": request.pk, "request_type": request_type,
                  "deadline_at": deadline.isoformat()},
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
    request.verified_at = now
    request.save(update_fields=["verified_at"])
    audit_record(
        actor=FORM_ACTOR, action="intake.verified", tenant_id=request.tenant_id,
        target_type=TARGET_TYPE, target_id=request.pk, metadata={"request_id": request.pk},
    )
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
    if request.status != RequestStatus.OPEN:
        raise Conflict(
            f"Request #{request.pk} is {request.get_status_display().lower()}; only open "
            f"requests can be {verb}.",
            status=request.status,
        )


def _require_ready(request: IntakeRequest) -> None:
    if not request.is_verified:
        raise Conflict(
            f"Request #{request.pk} is not verified yet: the submitter must open the link in "
            "the confirmation email first. If the link expired, ask them to submit the form "
            "again, or reject this request with a reason.",
            code="not_verified",
        )
    if not request.subject_id:
        raise Conflict(
            f"Request #{request.pk} is not linked to a data subject: type the subject's id "
            "under \"Link to a data subject\" first.",
            code="not_linked",
        )


def _close(request: IntakeRequest, status: str, actor: Actor) -> None:
    request.status = status
    request.closed_at = timezone.now()
    request.closed_by = actor.user


def _canonical_subject_id(request: IntakeRequest, subject_id: str) -> str:
    """The subject's id as the datastore spells it, so the request, its job and the privacy
    center name one person by one id (an id that matches nobody is refused when the job is
    created)."""
    from privacyops.execution.registry import DatastoreUnavailable
    from privacyops.execution.targets import target_resolve

    try:
        return target_resolve(tenant=request.tenant, target_type="subject",
                              target_id=subject_id).id
    except DatastoreUnavailable:
        return subject_id


@transaction.atomic(durable=True)
def _intake_link(*, request_id: int, subject_id: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "linked")
    subject_id = _clean_text(subject_id, "subject id", limit=200,
                             hint=" Type the id of the data subject the request concerns.")
    subject_id = clean_identifier(subject_id, field="subject id", what="subject id")
    previous = request.subject_id
    request.subject_id, request.linked_at = subject_id, timezone.now()
    request.save(update_fields=["subject_id", "linked_at"])
    audit_record(actor=actor, action="intake.linked", tenant_id=request.tenant_id,
                 target_type=TARGET_TYPE, target_id=request.pk,
                 metadata={"request_id": request.pk, "subject_id": subject_id,
                           "previous_subject_id": previous})
    return request


def intake_link(*, request_id: int, subject_id: str, actor: Actor) -> IntakeRequest:
    """Record which data subject the request concerns (re-linking is allowed while open)."""
    with refusals_recorded(actor=actor, action="intake.linked", target_type=TARGET_TYPE,
                           target_id=request_id):
        request = _managed_request(request_id, actor, lock=False)
        if (subject_id or "").strip():  # asked of the datastore outside the write transaction
            subject_id = _canonical_subject_id(request, subject_id.strip())
        return _intake_link(request_id=request_id, subject_id=subject_id, actor=actor)


def _fulfilment_job_type(request: IntakeRequest, actor: Actor) -> str:
    job_type = JOB_TYPE_FOR_REQUEST.get(request.request_type)
    if job_type is None:
        raise Conflict(
            f"{request.get_request_type_display()} requests are not fulfilled by a job: make "
            "the change in the subject's records, then use \"Record outcome and close\".",
            code="no_job_for_type",
        )
    if not can(acting_user(actor), f"job.create.{job_type}", request.tenant):
        what = "Erasure" if job_type == JobType.ERASE else "Export"
        raise PermissionDenied(
            f"{what} jobs in this workspace are created by super-admins or platform staff "
            "only; ask one of them to fulfil this request."
        )
    return job_type


@transaction.atomic(durable=True)
def _intake_record_fulfilment(*, request_id: int, job_id: int, linked_subject: str,
                              actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    job = Job.objects.get(pk=job_id)
    if request.status != RequestStatus.OPEN or request.subject_id != linked_subject:
        raise Conflict(
            f"Request #{request.pk} changed while job #{job.pk} was being created (it is now "
            f"{request.get_status_display().lower()}, subject {request.subject_id or 'none'}). "
            f"Review the request, and reject job #{job.pk} on its page if it is not needed.",
            job_id=job.pk,
        )
    request.job = job
    _close(request, RequestStatus.FULFILLED, actor)
    request.save(update_fields=["job", "status", "closed_at", "closed_by"])
    audit_record(actor=actor, action="intake.fulfilled", tenant_id=request.tenant_id,
                 target_type=TARGET_TYPE, target_id=request.pk,
                 metadata={"request_id": request.pk, "job_id": job.pk, "job_type": job.job_type,
                           "subject_id": request.subject_id})
    return request


def intake_fulfil(*, request_id: int, actor: Actor) -> IntakeRequest:
    """Fulfil an access or portability request with an EXPORT job, an erasure with ERASE.

    `job_create` is durable on its own, so the job is created first and the request records
    it in a second transaction, which re-checks that nothing changed meanwhile.
    """
    with refusals_recorded(actor=actor, action="intake.fulfilled", target_type=TARGET_TYPE,
                           target_id=request_id):
        request = _managed_request(request_id, actor, lock=False)
        _require_open(request, "fulfilled")
        job_type = _fulfilment_job_type(request, actor)
        _require_ready(request)
        job = job_create(
            tenant_id=request.tenant_id, job_type=job_type, target_type="subject",
            target_id=request.subject_id, reason=f"Privacy request #{request.pk}", actor=actor,
            source=JobSource.INTAKE,
        )
        return _intake_record_fulfilment(request_id=request.pk, job_id=job.pk,
                                         linked_subject=request.subject_id, actor=actor)


@transaction.atomic(durable=True)
def _intake_close(*, request_id: int, outcome: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "closed")
    if request.request_type not in OUTCOME_REQUEST_TYPES:
        raise Conflict(
            f"{request.get_request_type_display()} requests are fulfilled with a job: use "
            "\"Fulfil\" instead of recording an outcome.",
            code="job_required",
        )
    _require_ready(request)
    request.outcome = _clean_text(outcome, "outcome", limit=DETAILS_LIMIT,
                                  hint=" Describe what was corrected or restricted.")
    _close(request, RequestStatus.CLOSED, actor)
    request.save(update_fields=["outcome", "status", "closed_at", "closed_by"])
    # The outcome text may quote personal data, so it stays on the request, not in the chain.
    audit_record(actor=actor, action="intake.closed", tenant_id=request.tenant_id,
                 target_type=TARGET_TYPE, target_id=request.pk,
                 metadata={"request_id": request.pk, "request_type": request.request_type,
                           "subject_id": request.subject_id})
    return request


def intake_close(*, request_id: int, outcome: str, actor: Actor) -> IntakeRequest:
    """Record what was done for a correction or restriction request, and close it."""
    with refusals_recorded(actor=actor, action="intake.closed", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _intake_close(request_id=request_id, outcome=outcome, actor=actor)


@transaction.atomic(durable=True)
def _intake_reject(*, request_id: int, reason: str, actor: Actor) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "rejected")
    request.rejection_reason = _clean_text(reason, "reason", limit=REASON_LIMIT,
                                           hint=" The submitter receives it by email.")
    _close(request, RequestStatus.REJECTED, actor)
    request.save(update_fields=["rejection_reason", "status", "closed_at", "closed_by"])
    audit_record(actor=actor, action="intake.rejected", tenant_id=request.tenant_id,
                 target_type=TARGET_TYPE, target_id=request.pk,
                 metadata={"request_id": request.pk, "reason": request.rejection_reason})
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


def latest_deadline(request: IntakeRequest) -> datetime:
    """The furthest an extension may push the deadline: two months past the original."""
    return add_months(timezone.localtime(request.original_deadline_at), EXTENSION_MONTHS)


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
            f"for request #{request.pk} is {latest:%d %B %Y}. Choose that date or an earlier one.",
            field="new_deadline",
        )
    return latest.replace(year=new_deadline.year, month=new_deadline.month, day=new_deadline.day)


@transaction.atomic(durable=True)
def _intake_extend(
    *, request_id: int, new_deadline: date, reason: str, actor: Actor
) -> IntakeRequest:
    request = _managed_request(request_id, actor)
    _require_open(request, "extended")
    reason = _clean_text(reason, "reason", limit=REASON_LIMIT,
                         hint=" Art. 12(3) requires telling the submitter why.")
    deadline = _extended_deadline(request, new_deadline)
    previous = request.deadline_at
    request.deadline_at, request.extension_reason = deadline, reason
    request.extended_at = timezone.now()
    request.save(update_fields=["deadline_at", "extension_reason", "extended_at"])
    metadata: dict[str, Any] = {
        "request_id": request.pk, "previous_deadline_at": previous.isoformat(),
        "deadline_at": deadline.isoformat(), "reason": reason,
    }
    audit_record(actor=actor, action="intake.extended", tenant_id=request.tenant_id,
                 target_type=TARGET_TYPE, target_id=request.pk, metadata=metadata)
    request_id = request.pk
    transaction.on_commit(lambda: notifications.send_extension(request_id=request_id),
                          robust=True)
    return request


def intake_extend(
    *, request_id: int, new_deadline: date, reason: str, actor: Actor
) -> IntakeRequest:
    """Move the deadline later, at most two months past the original (GDPR Art. 12(3)).

    The submitter is emailed the new date and the reason.
    """
    with refusals_recorded(actor=actor, action="intake.extended", target_type=TARGET_TYPE,
                           target_id=request_id):
        return _intake_extend(request_id=request_id, new_deadline=new_deadline, reason=reason,
                              actor=actor)
