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
from django.urls import reverse
from django.utils import translation

from privacyops.intake.models import IntakeRequest
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
        request_type=request.request_type, reference=f"#{request.pk}",
        deadline_at=request.deadline_at, extension_reason=request.extension_reason,
        rejection_reason=request.rejection_reason, language=language, status=request.status,
        jobs=[request.job] if request.job_id else [],
    )


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


def send_received(*, request_id: int) -> None:
    """After the address is confirmed: the reference, the deadline, the privacy center."""
    language = translation.get_language() or ""
    send_request_email("received", _mailable(_load(request_id), language=language))


def send_rejection(*, request_id: int) -> None:
    send_request_email("rejected", _mailable(_load(request_id)))


def send_extension(*, request_id: int) -> None:
    request = _load(request_id)
    send_request_email("extended", _mailable(request),
                       original_deadline=request.original_deadline_at)
