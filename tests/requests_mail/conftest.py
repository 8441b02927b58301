"""A real SMTP server (aiosmtpd) for the email tests, and a request as requests_mail reads it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.browser.conftest import SmtpServer, _Collector, _free_port

BASE_URL = "https://privacy.acme.example"


@dataclass
class FakeJob:
    job_type: str
    status: str
    result: dict[str, Any] | None


@dataclass
class MailRequest:
    """The attributes send_request_email reads, and nothing else."""

    tenant: Any
    email: str = "ada@example.com"
    name: str = "Ada Lovelace"
    request_type: str = "access"
    reference: str = "R-000123"
    deadline_at: datetime = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
    extension_reason: str = ""
    rejection_reason: str = ""
    language: str = ""
    status: str = "open"
    jobs: list[FakeJob] = field(default_factory=list)


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", _free_port())
    controller = Controller(_Collector(server.messages), hostname=server.host, port=server.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.BASE_URL = BASE_URL
    settings.DEFAULT_FROM_EMAIL = "privacy@privacyops.example"
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def contact_tenant(tenant: Any) -> Any:
    tenant.privacy_contact_email = "dpo@acme.example"
    tenant.reply_to_email = "requests@acme.example"
    tenant.save()
    return tenant
