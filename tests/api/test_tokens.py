"""Personal API tokens over their life: listed with their last use, revoked, expired.

Every route (API, CLI, the own-tokens page) ends in the same place a client notices: the token
answers 401 with a sentence naming why and what to do, and the change is in the audit log.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.tenancy.models import ApiToken
from privacyops.tenancy.services import token_digest
from tests import factories
from tests.api.conftest import Api, api_as, assert_error, token_for

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> Api:
    return Api(headers={"Authorization": f"Bearer {raw}"})


def _session(user) -> Api:
    client = Client()
    client.force_login(user)
    client.cookies["csrftoken"] = "c" * 32
    return Api(client=client, headers={"X-CSRFToken": "c" * 32})


def _row(raw: str) -> ApiToken:
    return ApiToken.objects.get(token_hash=token_digest(raw))


class TestListing:
    def test_lists_own_tokens_with_last_use_and_never_the_token(self, staff, other_staff):
        raw = token_for(staff, "nightly export")
        token_for(other_staff, "someone else's")
        used = timezone.now()
        with time_machine.travel(used, tick=False):
            assert _bearer(raw).get("/tenants").status_code == 200
        body = _bearer(raw).get("/tokens").json()
        assert [t["name"] for t in body] == ["nightly export"]
        assert body[0]["status"] == "active"
        assert body[0]["prefix"] == raw[:10]
        assert body[0]["last_used_at"].startswith(used.strftime("%Y-%m-%dT%H:%M:%S"))
        assert raw not in str(body)

    def test_shows_revoked_and_expired_tokens_as_such(self, staff):
        session = _session(staff)
        session.post("/tokens", {"name": "short", "expires_in_days": 1})
        revoked = session.post("/tokens", {"name": "gone"}).json()
        assert session.delete(f"/tokens/{revoked['id']}").status_code == 204
        reader = api_as(staff)  # a session would have ended, idle, two days later
        with time_machine.travel(timezone.now() + timedelta(days=2)):
            body = reader.get("/tokens").json()
        assert {t["name"]: t["status"] for t in body} == {
            "short": "expired", "gone": "revoked", "tests": "active"}


class TestRevoking:
    def test_a_revoked_token_answers_401_with_what_to_do(self, staff):
        raw = token_for(staff, "laptop")
        token = _row(raw)
        assert _session(staff).delete(f"/tokens/{token.pk}").status_code == 204
        body = assert_error(_bearer(raw).get("/jobs"), 401, "token_revoked")
        assert "was revoked" in body["message"]
        assert "Create a new one" in body["message"]
        assert raw not in body["message"]
        event = AuditEvent.objects.get(action="token.revoked")
        assert (event.actor_id, event.target_id) == (str(staff.pk), str(token.pk))

    def test_a_token_may_revoke_itself(self, staff):
        raw = token_for(staff)
        assert _bearer(raw).delete(f"/tokens/{_row(raw).pk}").status_code == 204
        assert_error(_bearer(raw).get("/tokens"), 401, "token_revoked")

    def test_another_persons_token_looks_missing_even_to_staff(self, staff, tenant):
        member = factories.user_create(tenant=tenant, role="admin")
        raw = token_for(member)
        assert_error(api_as(staff).delete(f"/tokens/{_row(raw).pk}"), 404, "not_found")
        assert _bearer(raw).get("/tenants").status_code == 200

    def test_revoking_twice_says_so(self, staff):
        raw = token_for(staff)
        api = api_as(staff)
        api.delete(f"/tokens/{_row(raw).pk}")
        body = assert_error(api.delete(f"/tokens/{_row(raw).pk}"), 409, "already_revoked")
        assert "already revoked" in body["message"]
        assert AuditEvent.objects.filter(action="token.revoked").count() == 1


class TestExpiry:
    def test_a_token_works_until_it_expires_then_answers_401(self, staff):
        created = _session(staff).post("/tokens", {"name": "ci", "expires_in_days": 7})
        assert created.status_code == 201
        body = created.json()
        raw = body["token"]
        assert body["expires_at"] is not None
        with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
            assert _bearer(raw).get("/tenants").status_code == 200
        with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
            refused = assert_error(_bearer(raw).get("/tenants"), 401, "token_expired")
        assert "expired on" in refused["message"]
        assert "Create a new one" in refused["message"]
        event = AuditEvent.objects.get(action="token.created")
        recorded = datetime.fromisoformat(event.metadata["expires_at"])
        assert abs(recorded - datetime.fromisoformat(body["expires_at"])) < timedelta(seconds=1)

    def test_without_expiry_a_token_keeps_working(self, staff):
        raw = _session(staff).post("/tokens", {"name": "ci"}).json()["token"]
        with time_machine.travel(timezone.now() + timedelta(days=3000)):
            assert _bearer(raw).get("/tenants").status_code == 200

    @pytest.mark.parametrize("days", [0, -1, 3651])
    def test_an_expiry_out_of_range_is_refused(self, staff, days):
        response = _session(staff).post("/tokens", {"name": "ci", "expires_in_days": days})
        assert_error(response, 422, "invalid")
        assert not ApiToken.objects.exists()


class TestCommand:
    def _run(self, *args: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("token", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_create_with_expiry_list_and_revoke(self, staff):
        raw, err = self._run("create", "--email", " Staff@Example.com", "--name", "ci",
                             "--expires-days", "30")
        raw = raw.strip()
        assert "expires" in err
        token = _row(raw)
        assert token.expires_at is not None
        assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)

        listing, _ = self._run("list", "--email", "staff@example.com")
        line = next(line for line in listing.splitlines() if re.match(rf"\s*{token.pk}\s", line))
        assert "active" in line
        assert token.prefix in line
        assert raw not in listing

        revoked, _ = self._run("revoke", str(token.pk))
        assert "Revoked token" in revoked
        assert_error(_bearer(raw).get("/jobs"), 401, "token_revoked")
        event = AuditEvent.objects.get(action="token.revoked")
        assert event.actor_type == "system"
        listing, _ = self._run("list", "--email", "staff@example.com")
        assert "revoked" in listing

    def test_revoke_of_an_unknown_token_says_how_to_find_one(self, db):
        with pytest.raises(CommandError, match="token list"):
            self._run("revoke", "999999")

    def test_an_expiry_out_of_range_is_refused(self, staff):
        with pytest.raises(CommandError, match="between 1 and 3650"):
            self._run("create", "--email", staff.email, "--name", "ci", "--expires-days", "0")


class TestOwnTokensPage:
    def test_shows_own_tokens_with_last_use_and_revokes_them(self, client, staff, other_staff):
        raw = token_for(staff, "nightly export")
        token_for(other_staff, "not mine")
        _bearer(raw).get("/tenants")
        client.force_login(staff)
        page = client.get("/account/tokens/").content.decode()
        assert "nightly export" in page
        assert "not mine" not in page
        assert raw not in page
        assert _row(raw).last_used_at.strftime("%Y-%m-%d %H:%M") in page

        response = client.post(f"/account/tokens/{_row(raw).pk}/revoke/", follow=True)
        assert "is revoked" in response.content.decode()
        assert_error(_bearer(raw).get("/tenants"), 401, "token_revoked")

    def test_cannot_revoke_someone_elses_token(self, client, staff, other_staff):
        raw = token_for(other_staff)
        client.force_login(staff)
        assert client.post(f"/account/tokens/{_row(raw).pk}/revoke/").status_code == 404
        assert _row(raw).revoked_at is None

    def test_creates_a_token_shown_once(self, client, staff):
        client.force_login(staff)
        page = client.post("/account/tokens/", {"name": "script", "expires_in_days": "5"})
        text = page.content.decode()
        raw = re.search(r"po_[A-Za-z0-9_-]{20,}", text).group(0)
        assert _bearer(raw).get("/tenants").status_code == 200
        assert raw not in client.get("/account/tokens/").content.decode()

    def test_needs_a_signed_in_user(self, client):
        assert client.get("/account/tokens/")["Location"].startswith("/login/")
