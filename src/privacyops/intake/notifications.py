"""Emails to the person who filed a privacy request. Sent after commit, by request id.

The emails themselves (wording, languages, text and HTML) live in `privacyops.requests_mail`;
this module only adapts an `IntakeRequest` to what that module reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from privacyops.intake.models import IntakeRequest
from privacyops.jobs.models import Job, JobStatus, JobType
from privacyops.requests_mail import send_request_email
from privacyops.tenancy.models import Tenant


@dataclass
class _Mailable:
    """An IntakeRequest seen through the attributes requests_mail uses."""

    tenant: Tenant
    email: str
    name: str
    request_type: str
    reference: str
    deadline_at: datetime
    extension_reason: str
    rejection_reason: str
    language: str
    status: str
    jobs: list[Any]


def _mailable(request: IntakeRequest, *, language: str = "") -> _Mailable:
    return _Mailable(
        tenant=request.tenant, email=request.email, name=request.name,
        request_type=request.request_type, reference=request.reference,
        deadline_at=request.deadline_at, extension_reason=request.extension_reason,
        rejection_reason=request.rejection_reason, language=request.language or language,
        status=request.status, jobs=sorted(request.jobs.all(), key=lambda job: job.pk),
    )


def _sent(request: IntakeRequest, kind: str) -> None:
    """The email is on the request's timeline (its kind only: no address, no content)."""
    from privacyops.intake.lifecycle import event_add

    with transaction.atomic():
        event_add(request, "email_sent", None, mail=kind)


def _load(request_id: int) -> IntakeRequest:
    return IntakeRequest.objects.select_related("tenant", "job").get(pk=request_id)


def send_verification(*, request_id: int, token: str) -> None:
    request = _load(request_id)
    path = reverse("intake:verify", kwargs={"slug": request.tenant.slug, "token": token})
    # Sent right after the form is submitted, in the language the form was shown in; the link
    # opens the confirmation page in that language too.
    language = translation.get_language() or ""
    send_request_email("verify", _mailable(request, language=language),
                       verify_url=f"{settings.BASE_URL}{path}?{urlencode({'lang': language})}")
    _sent(request, "verification")


def send_received(*, request_id: int) -> None:
    """After the address is confirmed: the reference, the deadline, the privacy center."""
    language = translation.get_language() or ""
    request = _load(request_id)
    send_request_email("received", _mailable(request, language=language))
    _sent(request, "received")


def send_rejection(*, request_id: int) -> None:
    request = _load(request_id)
    send_request_email("rejected", _mailable(request))
    _sent(request, "rejection")


def _erasure_receipts(request: IntakeRequest) -> list[tuple[str, str, str]]:
    """The signed receipts of the request's completed ERASE jobs, as attachments
    `receipt-<reference>.json` (with the job number when there are several)."""

    from privacyops.errors import NotFound
    from privacyops.execution.receipts import receipt_file_text, receipt_for_job

    jobs = list(Job.objects.filter(request=request, job_type=JobType.ERASE,
                                   status=JobStatus.COMPLETED).order_by("pk"))
    found = []
    for job in jobs:
        try:
            receipt = receipt_for_job(job)
        except NotFound:
            continue
        name = (f"receipt-{request.reference}.json" if len(jobs) == 1
                else f"receipt-{request.reference}-{job.pk}.json")
        found.append((name, receipt_file_text(receipt), "application/json"))
    return found


def send_completed(*, request_id: int) -> None:
    """The request completed: what was done (the download, what was erased, the outcome)."""
    request = _load(request_id)
    # A correction's RECTIFY lists the corrected field names (never their values).
    fields = sorted({str(name) for job in Job.objects.filter(
        request=request, job_type=JobType.RECTIFY, status=JobStatus.COMPLETED)
        for name in (job.params or {}).get("fields", [])})
    extra: dict[str, Any] = {"fields": fields} if fields else {}
    receipts = _erasure_receipts(request)
    if receipts:
        extra["attachments"] = receipts
    send_request_email("completed", _mailable(request), **extra)
    _sent(request, "completed")


def send_extension(*, request_id: int) -> None:
    request = _load(request_id)
    send_request_email("extended", _mailable(request),
                       original_deadline=request.original_deadline_at)
    _sent(request, "extension")
