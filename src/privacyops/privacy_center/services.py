"""Self-service for data subjects: prove control of an email, then export, delete, cancel.

Who the subject is comes only from a verified code (or, in the API, from a tenant token and
the identity the tenant's application vouches for); the subject ids are looked up in the
tenant's datastore with the data map's identity fields.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from privacyops.audit.services import audit_record, refusals_recorded
from privacyops.errors import Conflict, NotFound, RateLimited, ValidationFailed
from privacyops.execution.registry import datastore_for, tenant_key_for
from privacyops.jobs.models import Job, JobSource, JobStatus, JobType
from privacyops.jobs.services import job_cancel
from privacyops.privacy_center.models import AccessCode
from privacyops.requests_mail.mail import reply_to, sender
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant
from privacyops.web.ratelimit import keyed_hash, slot_take

logger = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 5  # to one email from one client address
CODES_PER_CLIENT = 10  # from one client address, whatever the email or workspace
CODES_PER_EMAIL = 20  # to one email from anywhere
CODE_WINDOW = timedelta(hours=1)
REASON_LIMIT = 1000
CANCEL_REASON = "Cancelled by the data subject"
UNFINISHED = (JobStatus.PENDING, JobStatus.APPROVED, JobStatus.PROCESSING)


@dataclass(frozen=True)
class Verified:
    """A visitor who proved control of `email`; `subject_ids` are the people it names."""

    email: str
    subject_ids: tuple[str, ...]


def email_digest(tenant: Tenant, email: str) -> str:
    return keyed_hash("privacy-center-email", f"{tenant.pk}|{email}")


def clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(_("Enter a valid email address, such as name@example.com."),
                               field="email") from None
    return email


def subject_ids_for(tenant: Tenant, email: str) -> tuple[str, ...]:
    """The tenant's data subjects whose identity fields equal this email."""
    return tuple(datastore_for(tenant).find_subject_ids(tenant_key_for(tenant), email))


def _send_code(tenant: Tenant, email: str, code: str, language: str) -> None:
    """Plain text, in the language of the page that asked for it."""
    with translation.override(language):
        subject = _("Your %(tenant)s privacy center code: %(code)s") % {
            "tenant": tenant.name, "code": code}
        body = _("Your one-time code for the %(tenant)s privacy center is:\n\n    %(code)s\n\n"
                 "It expires in 10 minutes. If you did not ask for it, ignore this email.\n"
                 ) % {"tenant": tenant.name, "code": code}
    EmailMessage(subject=subject, body=body, from_email=sender(tenant), to=[email],
                 reply_to=reply_to(tenant), headers={"Content-Language": language}).send()
    logger.info("privacy center code sent for tenant %s", tenant.pk)


def _code_slots_take(email: str, client_address: str) -> None:
    """Three limits, so that nobody can mail codes to any address, bomb one inbox, or lock a
    person out by asking for their codes: per client (any email, any workspace), per email
    from one client, and per email from anywhere (higher than the second)."""
    client = keyed_hash("privacy-center-client", client_address)
    inbox = keyed_hash("privacy-center-email", email)
    pair = keyed_hash("privacy-center-pair", f"{client}|{inbox}")
    limits = (
        ("pc-code-client", client, CODES_PER_CLIENT,
         _("Your network asked for %(limit)s codes in the last hour. Try again after %(at)s.")),
        ("pc-code-pair", pair, CODES_PER_HOUR,
         _("%(limit)s codes were sent to this address in the last hour. Use the latest one, or "
           "ask again after %(at)s.")),
        ("pc-code-email", inbox, CODES_PER_EMAIL,
         _("%(limit)s codes were sent to this address in the last hour. Use the latest one, or "
           "ask again after %(at)s.")),
    )
    for scope, key, limit, sentence in limits:
        retry_at = slot_take(scope=scope, key=key, limit=limit, window=CODE_WINDOW)
        if retry_at is not None:
            at = f"{retry_at:%H:%M} UTC"
            raise RateLimited(sentence % {"limit": limit, "at": at},
                              retry_at=retry_at.isoformat())


def access_code_send(*, tenant: Tenant, email: str, client_address: str) -> None:
    """Mail a fresh 6-digit code; earlier codes for the address stop working.

    The answer is the same whether or not the address belongs to anyone, so the form can't be
    used to learn who works at the tenant. The limits are counted before the transaction, so
    a refusal still uses up the slot it took (on the database cache as on Redis).
    """
    email = clean_email(email)
    _code_slots_take(email, client_address)
    _access_code_create(tenant=tenant, email=email)


@transaction.atomic(durable=True)
def _access_code_create(*, tenant: Tenant, email: str) -> None:
    digest = email_digest(tenant, email)
    now = timezone.now()
    AccessCode.objects.filter(tenant=tenant, email_digest=digest, used_at__isnull=True).update(
        used_at=now)
    code = f"{secrets.randbelow(1_000_000):06d}"
    AccessCode.objects.create(tenant=tenant, email_digest=digest,
                              code_hash=keyed_hash("privacy-center-code", f"{digest}|{code}"),
                              expires_at=now + CODE_LIFETIME)
    # The language of the page that asked (the visitor's, else the tenant's default).
    language = translation.get_language() or settings.LANGUAGE_CODE
    transaction.on_commit(lambda: _send_code(tenant, email, code, language))


def access_code_verify(*, tenant: Tenant, email: str, code: str) -> Verified:
    """Check a code. A wrong one counts as an attempt (committed even though this raises)."""
    email = clean_email(email)
    digest = email_digest(tenant, email)
    code = "".join((code or "").split())
    with transaction.atomic():
        access = (AccessCode.objects.select_for_update()
                  .filter(tenant=tenant, email_digest=digest, used_at__isnull=True).first())
        if access is None:
            raise ValidationFailed(_("There is no active code for this address. Ask for a new "
                                     "code."),
                                   field="code", code="no_code")
        if access.expires_at <= timezone.now():
            raise ValidationFailed(_("This code has expired (codes last 10 minutes). Ask for a "
                                     "new code."), field="code", code="code_expired")
        if access.attempts >= CODE_ATTEMPTS:
            raise ValidationFailed(_("Too many wrong attempts for this code. Ask for a new code."),
                                   field="code", code="too_many_attempts")
        expected = keyed_hash("privacy-center-code", f"{digest}|{code}")
        if not hmac.compare_digest(expected, access.code_hash):
            access.attempts += 1
            access.save(update_fields=["attempts"])
            left = CODE_ATTEMPTS - access.attempts
            wrong: ValidationFailed | None = ValidationFailed(
                ngettext("That code is not right. %(left)s attempt left.",
                         "That code is not right. %(left)s attempts left.", left) % {"left": left}
                if left else _("That code is not right, and it was the last attempt. Ask for a "
                               "new code."), field="code", code="wrong_code")
        else:
            wrong = None
            access.used_at = timezone.now()
            access.save(update_fields=["used_at"])
    if wrong is not None:
        raise wrong
    subject_ids = subject_ids_for(tenant, email)
    with transaction.atomic():
        audit_record(actor=Actor.subject(subject_ids[0] if subject_ids else "unknown"),
                     action="privacy_center.verified", tenant_id=tenant.pk,
                     target_type="subject", target_id=",".join(subject_ids),
                     metadata={"subjects": len(subject_ids)})
    return Verified(email=email, subject_ids=subject_ids)


def _require_subjects(subject_ids: tuple[str, ...] | list[str]) -> None:
    if not subject_ids:
        raise NotFound(_("We hold no account for this email address, so there is nothing to "
                         "export or delete."), code="no_subject")


def _open_job(tenant: Tenant, job_type: str, subject_id: str) -> Job | None:
    return Job.objects.filter(
        tenant=tenant, source=JobSource.PRIVACY_CENTER, job_type=job_type,
        target_type="subject", target_id=subject_id, status__in=UNFINISHED,
    ).first()


def _open_identity_job(tenant: Tenant, job_type: str, email: str) -> Job | None:
    """An unfinished privacy-center job by identity of the same person (found by the keyed
    hash of the email on its request)."""
    from privacyops.intake.lifecycle import identity_digest

    if not email:
        return None
    return Job.objects.filter(
        tenant=tenant, source=JobSource.PRIVACY_CENTER, job_type=job_type,
        request__identity_hash=identity_digest(tenant.pk, email), status__in=UNFINISHED,
    ).exclude(identity={}).first()


def _identity(tenant: Tenant, request_type: str, email: str) -> dict[str, str] | None:
    """The identity the job names the person by, as the request lifecycle decides it for
    every channel (`intake.lifecycle.identity_for`): one job on every system of the
    workspace; None where identity jobs are refused (then one job per subject id)."""
    from privacyops.intake.lifecycle import identity_for
    from privacyops.intake.models import IntakeRequest

    return identity_for(IntakeRequest(tenant=tenant, email=email, request_type=request_type),
                        "EXPORT" if request_type == "access" else "ERASE")


@transaction.atomic(durable=True)
def _request_record(*, tenant: Tenant, request_type: str, email: str,
                    subject_ids: tuple[str, ...] | list[str], actor: Actor,
                    identity: dict[str, str] | None, identity_email: str) -> Any:
    from privacyops.intake.lifecycle import request_record
    from privacyops.intake.models import Channel

    return request_record(
        tenant=tenant, email=email, request_type=request_type, channel=Channel.PRIVACY_CENTER,
        actor=actor, verified=True, identity_subjects=tuple(subject_ids),
        subject_id=subject_ids[0] if len(subject_ids) == 1 and identity is None else "",
        identity_email=identity_email,
    )


@transaction.atomic(durable=True)
def _jobs_record(*, request_id: int, job_ids: list[int], actor: Actor) -> None:
    from privacyops.intake.lifecycle import jobs_attach
    from privacyops.intake.models import IntakeRequest

    request = IntakeRequest.objects.select_for_update().get(pk=request_id)
    jobs_attach(request, list(Job.objects.filter(pk__in=job_ids).order_by("pk")), actor)


def _as_request(*, tenant: Tenant, request_type: str, email: str,
                subject_ids: tuple[str, ...] | list[str], actor: Actor,
                identity: dict[str, str] | None, reason: str,
                not_before: datetime | None = None) -> list[Job]:
    """The privacy center's export or deletion IS a privacy request: record it (verified:
    the person proved their email, or the tenant's application vouched for them), then the
    job(s) that fulfil it through the request lifecycle, in the operators' queue like every
    other channel's: one job by identity (every system), else one per subject id.

    `job_create` is durable on its own (as for an operator's "Fulfil"): the request commits
    first, then its jobs, then a third transaction attaches them and puts it in progress."""
    from privacyops.intake.lifecycle import _job_for_request, subject_email

    # Asked by subject id (an application's API call): the person's email as the datastore
    # shows it, so the request is listed in their privacy center too (kept only hashed).
    identity_email = "" if email else subject_email(tenant, subject_ids)
    request = _request_record(tenant=tenant, request_type=request_type, email=email,
                              subject_ids=subject_ids, actor=actor, identity=identity,
                              identity_email=identity_email)
    created: list[Job | None]
    if identity is not None:
        created = [_job_for_request(request, actor=actor, source=JobSource.PRIVACY_CENTER,
                                    check_permission=False, not_before=not_before,
                                    reason=reason, identity=identity)]
    else:
        created = [_job_for_request(request, subject_id=subject_id, actor=actor,
                                    source=JobSource.PRIVACY_CENTER, check_permission=False,
                                    not_before=not_before, reason=reason)
                   for subject_id in subject_ids]
    jobs = [job for job in created if job is not None]
    _jobs_record(request_id=request.pk, job_ids=[job.pk for job in jobs], actor=actor)
    return jobs


def privacy_export_request(*, tenant: Tenant, subject_ids: tuple[str, ...] | list[str],
                           actor: Actor, email: str = "") -> list[Job]:
    """One access request whose EXPORT job runs by identity on every system (or one EXPORT
    job per subject where identity jobs are refused); its package appears under the request
    when done, and the request completes when its jobs do."""
    identity = _identity(tenant, "access", email)
    if identity is None:
        _require_subjects(subject_ids)
    already = [_open_identity_job(tenant, JobType.EXPORT, email)] + [
        _open_job(tenant, JobType.EXPORT, subject_id) for subject_id in subject_ids]
    if any(job is not None for job in already):
        with refusals_recorded(actor=actor, action="job.created", tenant_id=tenant.pk,
                               target_type="subject", target_id=",".join(subject_ids)):
            raise Conflict(_("An export of your data is already being prepared; it appears "
                             "under Available downloads when it is ready."),
                           code="export_in_progress")
    return _as_request(tenant=tenant, request_type="access", email=email,
                       subject_ids=subject_ids, actor=actor, identity=identity,
                       reason="Export requested by the data subject (privacy center)")


def privacy_deletion_request(
    *, tenant: Tenant, subject_ids: tuple[str, ...] | list[str], email: str,
    confirmation_email: str, reason: str = "", actor: Actor,
) -> list[Job]:
    """An erasure request whose ERASE job (by identity on every system, or one per subject
    where identity jobs are refused) follows the tenant's approval policy and that no worker
    starts before the tenant's grace period is over; until then the subject may cancel it."""
    identity = _identity(tenant, "erasure", email)
    if identity is None:
        _require_subjects(subject_ids)
    if (confirmation_email or "").strip().lower() != (email or "").strip().lower():
        raise ValidationFailed(_("The confirmation doesn't match. Type the email address you "
                                 "signed in with."), field="confirmation_email",
                               code="confirmation_mismatch")
    reason = (reason or "").strip()
    if len(reason) > REASON_LIMIT:
        raise ValidationFailed(_("The reason is longer than %(limit)s characters; shorten it.")
                               % {"limit": REASON_LIMIT},
                               field="reason")
    not_before = timezone.now() + timedelta(hours=tenant.deletion_grace_hours)
    already = [_open_identity_job(tenant, JobType.ERASE, email)] + [
        _open_job(tenant, JobType.ERASE, subject_id) for subject_id in subject_ids]
    if any(job is not None for job in already):
        raise Conflict(_("A deletion of your account is already scheduled; cancel it or "
                         "wait for it to complete."), code="deletion_in_progress")
    return _as_request(
        tenant=tenant, request_type="erasure", email=email, subject_ids=subject_ids,
        actor=actor, identity=identity, not_before=not_before,
        reason="Deletion requested by the data subject (privacy center)"
        + (f": {reason}" if reason else ""))


def privacy_request_cancel(*, tenant: Tenant, subject_ids: tuple[str, ...] | list[str],
                           job_id: int, actor: Actor, email: str = "") -> Job:
    """Withdraw the subject's own deletion during its grace period (the job ends Rejected).
    The job is the person's by subject id, or by the identity hash of `email` on its request."""
    from privacyops.intake.lifecycle import identity_digest

    mine = Q(target_type="subject", target_id__in=list(subject_ids))
    if email:
        mine |= Q(request__identity_hash=identity_digest(tenant.pk, email))
    job = Job.objects.filter(
        mine, pk=job_id, tenant=tenant, source=JobSource.PRIVACY_CENTER, job_type=JobType.ERASE,
    ).first()
    if job is None:
        raise NotFound(_("There is no deletion request of yours with this number."))
    job = job_cancel(job_id=job.pk, actor=actor, reason=CANCEL_REASON)
    if job.request_id is not None and not Job.objects.filter(
            request_id=job.request_id, status__in=UNFINISHED).exists():
        from privacyops.intake.services import request_withdraw

        request_withdraw(request_id=job.request_id, actor=actor, reason=CANCEL_REASON,
                         check_permission=False)
    return job


@transaction.atomic(durable=True)
def package_delivered(*, artifact: Any, actor: Actor) -> None:
    """The person downloaded an export package: the download is audited on the job, and the
    request it fulfils records that its package was delivered (timeline line + audit), in
    one transaction."""
    from privacyops.intake.lifecycle import audited, event_add
    from privacyops.intake.models import IntakeRequest

    audit_record(actor=actor, action="job.downloaded", tenant_id=artifact.tenant_id,
                 target_type="job", target_id=artifact.job_id,
                 metadata={"artifact": str(artifact.pk), "size": artifact.size})
    request_id = Job.objects.filter(pk=artifact.job_id).values_list("request_id", flat=True)
    request = IntakeRequest.objects.filter(pk__in=list(request_id)).first()
    if request is None:
        return
    event_add(request, "delivered", actor, job_id=artifact.job_id, artifact=str(artifact.pk),
              size=artifact.size)
    audited(request, "intake.delivered", actor, job_id=artifact.job_id,
            artifact=str(artifact.pk))
