"""Sign-in: throttled after repeated failures, audited, no open redirect."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from privacyops.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _forget_failures():
    """The failure counters live in the cache, which the test database flush does not empty."""
    yield
    cache.clear()


def _sign_in(client, email, password, **extra):
    return client.post("/login/", {"username": email, "password": password, **extra})


class TestLogin:
    def test_success_redirects_and_is_audited(self, client, staff):
        response = _sign_in(client, staff.email, factories.PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert client.get("/")["Location"] == "/platform/privacy/"  # staff land on their page
        event = AuditEvent.objects.get(action="auth.login")
        assert event.actor_id == str(staff.pk)

    def test_failures_are_audited_without_the_typed_email(self, client, staff):
        response = _sign_in(client, "someone@example.com", "wrong-password")
        assert response.status_code == 401
        event = AuditEvent.objects.get(action="auth.login_failed")
        assert event.outcome == "failure"
        assert "someone@example.com" not in str(event.metadata) + event.actor_label

    def test_five_failures_lock_the_account_from_that_address(self, client, staff, settings):
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            assert _sign_in(client, staff.email, "wrong-password").status_code == 401
        locked = _sign_in(client, staff.email, factories.PASSWORD)
        assert locked.status_code == 429
        assert "Wait 15 minutes" in locked.content.decode()
        assert not AuditEvent.objects.filter(action="auth.login").exists()

    def test_next_may_not_leave_the_site(self, client, staff):
        response = _sign_in(client, staff.email, factories.PASSWORD,
                            next="https://evil.invalid/")
        assert response["Location"] == "/"
