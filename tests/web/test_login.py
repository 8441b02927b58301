"""Sign-in: throttled per account and per address, audited in bounded form, no open redirect.

The number of password checks is observed through a counting password hasher (the oracle is
Django's hashing, not our throttle), and the limit the product promises is the literal 5.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache, caches
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.tenancy.services import login_failure_windows_close
from tests import factories
from tests.web.hashers import CountingHasher

pytestmark = pytest.mark.django_db(transaction=True)

PROMISED_LIMIT = 5  # README: "after 5 wrong passwords the sign-in answers 429"
EMAIL = "kate@example.com"
FULLWIDTH_K = "\uff4b"  # FULLWIDTH LATIN SMALL LETTER K
SPELLINGS = {
    "trailing space": EMAIL + " ",
    "leading space": " " + EMAIL,
    "tab": "\t" + EMAIL,
    "upper case": EMAIL.upper(),
    "fullwidth letter": FULLWIDTH_K + EMAIL[1:],
}


@pytest.fixture(autouse=True)
def _forget_failures():
    """The failure counters live in the cache, which the test database flush does not empty."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.web.hashers.CountingHasher"]
    CountingHasher.reset()
    return CountingHasher


@pytest.fixture
def kate(counting_hasher):
    user = factories.user_create(email=EMAIL, is_staff=True)
    counting_hasher.reset()
    return user


def _sign_in(client, email, password, *, ip="127.0.0.1", **fields):
    return client.post("/login/", {"username": email, "password": password, **fields},
                       REMOTE_ADDR=ip)


class TestLogin:
    def test_success_redirects_and_is_audited(self, client, staff):
        response = _sign_in(client, staff.email, factories.PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert client.get("/")["Location"] == "/platform/privacy/"  # staff land on their page
        event = AuditEvent.objects.get(action="auth.login")
        assert event.actor_id == str(staff.pk)

    @pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
    def test_every_spelling_of_the_email_signs_in(self, client, kate, spelling):
        assert _sign_in(client, spelling, factories.PASSWORD).status_code == 302

    def test_five_failures_lock_the_account_from_that_address(self, client, kate):
        for _ in range(PROMISED_LIMIT):
            assert _sign_in(client, EMAIL, "wrong-password").status_code == 401
        locked = _sign_in(client, EMAIL, factories.PASSWORD)
        assert locked.status_code == 429
        assert "Wait 15 minutes" in locked.content.decode()
        assert not AuditEvent.objects.filter(action="auth.login").exists()

    @pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
    def test_no_spelling_of_the_email_gets_tries_of_its_own(self, client, kate, counting_hasher,
                                                           spelling):
        for _ in range(PROMISED_LIMIT):
            assert _sign_in(client, EMAIL, "wrong-password").status_code == 401
        assert counting_hasher.checks == PROMISED_LIMIT
        response = _sign_in(client, spelling, factories.PASSWORD)
        assert response.status_code == 429
        assert counting_hasher.checks == PROMISED_LIMIT  # the password was not even looked at

    def test_failures_in_other_spellings_count_for_the_same_account(self, client, kate):
        for spelling in SPELLINGS.values():
            assert _sign_in(client, spelling, "wrong-password").status_code == 401
        assert _sign_in(client, EMAIL, factories.PASSWORD).status_code == 429

    def test_another_address_is_not_locked_out(self, client, kate):
        for _ in range(PROMISED_LIMIT):
            _sign_in(client, EMAIL, "wrong-password")
        other = _sign_in(client, EMAIL, factories.PASSWORD, ip="192.0.2.9")
        assert other.status_code == 302

    def test_a_success_starts_the_count_afresh(self, client, kate):
        for _ in range(PROMISED_LIMIT - 1):
            _sign_in(client, EMAIL, "wrong-password")
        assert _sign_in(client, EMAIL, factories.PASSWORD).status_code == 302
        client.logout()
        for _ in range(PROMISED_LIMIT - 1):
            assert _sign_in(client, EMAIL, "wrong-password").status_code == 401

    def test_one_address_gets_twenty_failures_across_accounts(self, client, kate, counting_hasher):
        for n in range(20):
            assert _sign_in(client, f"guess-{n}@example.com", "wrong-password").status_code == 401
        checks = counting_hasher.checks
        refused = _sign_in(client, EMAIL, factories.PASSWORD)
        assert refused.status_code == 429
        assert "from your address" in refused.content.decode()
        assert counting_hasher.checks == checks
        assert _sign_in(client, EMAIL, factories.PASSWORD,
                        ip="192.0.2.9").status_code == 302

    def test_the_lock_lifts_after_fifteen_minutes(self, client, kate):
        for _ in range(PROMISED_LIMIT):
            _sign_in(client, EMAIL, "wrong-password")
        with time_machine.travel(timezone.now() + timedelta(minutes=14)):
            assert _sign_in(client, EMAIL, factories.PASSWORD).status_code == 429
        with time_machine.travel(timezone.now() + timedelta(minutes=16)):
            assert _sign_in(client, EMAIL, factories.PASSWORD).status_code == 302

    def test_next_may_not_leave_the_site(self, client, staff):
        response = _sign_in(client, staff.email, factories.PASSWORD,
                            next="https://evil.invalid/")
        assert response["Location"] == "/"


@pytest.fixture(params=["database cache", "redis"])
def shared_cache(request, settings):
    """The counters on each cache the product runs: the database cache, or Redis at scale."""
    if request.param == "redis":
        settings.CACHES = {"default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("PRIVACYOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "KEY_PREFIX": f"login-test-{uuid.uuid4().hex}",  # others share this Redis
        }}
        assert type(caches["default"]).__name__ == "RedisCache"
    return request.param


class TestParallelAttempts:
    def test_twelve_parallel_wrong_passwords_get_at_most_five_checks(
        self, live_server, kate, counting_hasher, shared_cache
    ):
        login_url = live_server.url + "/login/"
        statuses: list[int] = []
        barrier = threading.Barrier(12)

        def attempt() -> None:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            page = opener.open(login_url).read().decode()
            token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
            body = urllib.parse.urlencode({"username": EMAIL, "password": "wrong-password",
                                           "csrfmiddlewaretoken": token}).encode()
            barrier.wait(timeout=30)  # every thread has its page: all post at once
            try:
                statuses.append(opener.open(login_url, body).status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)

        threads = [threading.Thread(target=attempt) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(statuses) == [401] * PROMISED_LIMIT + [429] * (12 - PROMISED_LIMIT)
        assert counting_hasher.checks == PROMISED_LIMIT


class TestFailureAudit:
    def test_repeated_failures_become_one_event_with_a_count(self, client, kate):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            for _ in range(PROMISED_LIMIT + 2):  # five checked, two refused
                _sign_in(client, " Kate@Example.com", "wrong-password")
            _sign_in(client, "someone-else@example.com", "wrong-password")
        assert not AuditEvent.objects.filter(action="auth.login_failed").exists()

        with time_machine.travel(start + timedelta(minutes=16), tick=False):
            assert login_failure_windows_close() == 2
            assert login_failure_windows_close() == 0

        events = AuditEvent.objects.filter(action="auth.login_failed").order_by("seq")
        counts = sorted((e.metadata["failures"], e.metadata["refused"]) for e in events)
        assert counts == [(1, 0), (PROMISED_LIMIT, 2)]
        for event in events:
            assert event.outcome == "failure"
            recorded = str(event.metadata) + event.actor_label + event.target_id
            assert "example.com" not in recorded.lower()
            assert "127.0.0.1" not in recorded

    def test_the_next_failed_sign_in_closes_windows_that_are_over(self, client, kate):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            _sign_in(client, EMAIL, "wrong-password")
        with time_machine.travel(start + timedelta(minutes=16), tick=False):
            _sign_in(client, EMAIL, "wrong-password")
        event = AuditEvent.objects.get(action="auth.login_failed")
        assert event.metadata["failures"] == 1
