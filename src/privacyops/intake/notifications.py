"""Emails to the person who filed a privacy request. Sent after commit, by request id."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse

from privacyops.intake.models import IntakeRequest

logger = logging.getLogger(__name__)


def _send(request: IntakeRequest, *, subject: str, body: str, kind: str) -> None:
    contact = request.tenant.privacy_contact_email
    message = EmailMessage(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[request.email],
        reply_to=[contact] if contact else None,
    )
    message.send()
    logger.info("intake email %r sent for request %s", subject, request.pk)
    from privacyops.intake.lifecycle import event_add

    with transaction.atomic():
        event_add(request, "email_sent", None, mail=kind)


def _signature(request: IntakeRequest) -> str:
    contact = request.tenant.privacy_contact_email
    reach = f"\nQuestions? Reply to this email or write to {contact}.\n" if contact else ""
    return f"{reach}\n— {request.tenant.name} privacy team\n"


def _load(request_id: int) -> IntakeRequest:
    return IntakeRequest.objects.select_related("tenant").get(pk=request_id)


def send_verification(*, request_id: int, token: str) -> None:
    request = _load(request_id)
    path = reverse("intake:verify", kwargs={"slug": request.tenant.slug, "token": token})
    body = (
        f"We received your privacy request #{request.pk} "
        f"({request.get_request_type_display()}) for {request.tenant.name}.\n\n"
        "Please confirm that this is your email address by opening this link:\n\n"
        f"{settings.BASE_URL}{path}\n\n"
        "The link works once and expires in 48 hours. We will respond by "
        f"{request.deadline_at:%d %B %Y}.\n\n"
        "If you did not send this request, ignore this email.\n"
    )
    _send(request, subject=f"Confirm your privacy request #{request.pk}",
          body=body + _signature(request), kind="verification")


def send_rejection(*, request_id: int) -> None:
    request = _load(request_id)
    body = (
        f"We cannot act on your privacy request #{request.pk} "
        f"({request.get_request_type_display()}) to {request.tenant.name}.\n\n"
        f"Reason: {request.rejection_reason}\n\n"
        "You have the right to lodge a complaint with a supervisory authority (the data "
        "protection authority of the EU country where you live, work, or where the alleged "
        "infringement took place) and to seek a judicial remedy (GDPR Article 12(4)).\n"
    )
    _send(request, subject=f"Your privacy request #{request.pk} was rejected",
          body=body + _signature(request), kind="rejection")


def send_extension(*, request_id: int) -> None:
    request = _load(request_id)
    body = (
        f"We need more time to answer your privacy request #{request.pk} "
        f"({request.get_request_type_display()}) to {request.tenant.name}.\n\n"
        f"New deadline: {request.deadline_at:%d %B %Y} "
        f"(originally {request.original_deadline_at:%d %B %Y}).\n"
        f"Reason: {request.extension_reason}\n\n"
        "GDPR Article 12(3) allows extending the response time by up to two further months "
        "where necessary, taking into account the complexity and number of requests.\n"
    )
    _send(request, subject=f"Your privacy request #{request.pk}: deadline extended",
          body=body + _signature(request), kind="extension")
