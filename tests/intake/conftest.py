"""Fixtures for the intake tests: a clean rate limiter and a helper to file requests."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache

from privacyops.intake.forms import form_token
from privacyops.intake.models import IntakeRequest
from privacyops.intake.services import intake_submit

VERIFY_LINK = re.compile(r"https?://\S+/privacy/request/[-\w]+/verify/[-\w]+/")


@pytest.fixture(autouse=True)
def _empty_rate_limiter():
    # The database cache table is not flushed between tests; the limiter lives in it.
    cache.clear()
    yield
    cache.clear()


def form_data(**overrides: Any) -> dict[str, Any]:
    """A human's submission: honeypot empty, form shown ten seconds ago."""
    data: dict[str, Any] = {
        "email": "ada@example.com", "name": "Ada Lovelace", "request_type": "access",
        "details": "Customer number 1234.", "own_data": "on", "homepage": "",
        "started": form_token(time.time() - 10),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def verification_link(message: Any) -> str:
    match = VERIFY_LINK.search(message.body)
    assert match, message.body
    return match.group(0)


def file_request(*, tenant, request_type: str = "access", email: str = "ada@example.com",
                 address: str = "198.51.100.1") -> tuple[IntakeRequest, str]:
    """A request filed through the service, and the verification link emailed for it."""
    sent_before = len(mail.outbox)
    request = intake_submit(tenant_id=tenant.pk, email=email, name="Ada",
                            request_type=request_type, details="", own_data_confirmed=True,
                            client_address=address)
    assert len(mail.outbox) == sent_before + 1
    return request, verification_link(mail.outbox[-1])
