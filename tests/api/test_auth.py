from __future__ import annotations

import io
import secrets
import string
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job
from privacyops.tenancy.models import ApiToken, Role
from privacyops.tenancy.services import token_digest
from tests import factories
from tests.api.conftest import Api, api_as, assert_error, token_for

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> Api:
    return Api(headers={"Authorization": f"Bearer {raw}"})


def _signed_in(user, *, with_csrf: bool) -> Api:
    """A browser session; with_csrf sends the csrftoken cookie's value back as X-CSRFToken."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    headers: dict[str, str] = {}
    if with_csrf:
        secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        client.cookies["csrftoken"] = secret
        headers["X-CSRFToken"] = secret
    return Api(client=client, headers=headers)


class TestTokenAuth:
    def test_a_valid_token_authenticates_and_marks_last_use(self, staff):
        raw = token_for(staff)
        response = _bearer(raw).get("/jobs")
        assert response.status_code == 200
        token = ApiToken.objects.get(token_hash=token_digest(raw))
        assert token.last_used_at is not None
        assert timezone.now() - token.last_used_at < timedelta(minutes=1)

    def test_anonymous_gets_401_json_with_a_challenge(self, db):
        response = Api().get("/jobs")
        assert_error(response, 401, "unauthenticated")
        assert response["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("header", [
        "Bearer po_not-a-real-token",
        "Bearer something-else",
        "Token po_abc",
        "Bearer ",
    ])
    def test_unknown_or_malformed_tokens_are_refused(self, staff, header):
        token_for(staff)
        response = Api(headers={"Authorization": header}).get("/jobs")
        assert_error(response, 401, "unauthenticated")

    def test_a_revoked_token_is_refused(self, staff):
        raw = token_for(staff)
        ApiToken.objects.filter(token_hash=token_digest(raw)).update(revoked_at=timezone.now())
        body = assert_error(_bearer(raw).get("/jobs"), 401, "token_revoked")
        assert "was revoked" in body["message"]

    def test_the_token_of_a_deactivated_account_is_refused(self, staff):
        raw = token_for(staff)
        staff.is_active = False
        staff.save()
        assert_error(_bearer(raw).get("/jobs"), 401, "unauthenticated")

    def test_a_tenant_application_token_cannot_act_as_a_person(self, tenant):
        raw = "po_application-token-for-tests"
        ApiToken.objects.create(user=None, tenant=tenant, name="privacy center", prefix=raw[:10],
                                token_hash=token_digest(raw))
        assert_error(_bearer(raw).get("/jobs"), 401, "unauthenticated")


class TestSessionAuth:
    def test_a_signed_in_user_reads_without_csrf(self, staff):
        assert _signed_in(staff, with_csrf=False).get("/jobs").status_code == 200

    def test_a_write_without_the_csrf_token_is_refused(self, staff, tenant):
        response = _signed_in(staff, with_csrf=False).post(
            "/jobs", {"tenant_id": tenant.pk, "type": "EXPORT", "target_type": "subject",
                      "target_id": "7"})
        body = assert_error(response, 403, "csrf_failed")
        assert "X-CSRFToken" in body["message"]
        assert not Job.objects.exists()

    def test_a_write_with_the_csrf_token_succeeds_and_is_audited_as_the_user(self, staff, tenant):
        response = _signed_in(staff, with_csrf=True).post(
            "/jobs", {"tenant_id": tenant.pk, "type": "EXPORT", "target_type": "subject",
                      "target_id": "7"})
        assert response.status_code == 201, response.content
        event = AuditEvent.objects.get(action="job.created")
        assert (event.actor_type, event.actor_id) == ("user", str(staff.pk))

    def test_a_token_needs_no_csrf_token(self, staff, tenant):
        api = api_as(staff)
        api.client = Client(enforce_csrf_checks=True)
        response = api.post("/jobs", {"tenant_id": tenant.pk, "type": "EXPORT",
                                      "target_type": "subject", "target_id": "7"})
        assert response.status_code == 201, response.content

    def test_an_anonymous_write_is_401_not_a_csrf_error(self, tenant):
        response = Api(client=Client(enforce_csrf_checks=True)).post("/jobs", {"tenant_id": tenant.pk})
        assert_error(response, 401, "unauthenticated")


class TestCreateToken:
    def test_a_signed_in_user_gets_the_raw_token_once(self, tenant):
        member = factories.user_create(tenant=tenant, role=Role.ADMIN)
        response = _signed_in(member, with_csrf=True).post("/tokens", {"name": "nightly export"})
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["token"].startswith("po_")
        assert body["prefix"] == body["token"][:10]
        stored = ApiToken.objects.get(pk=body["id"])
        assert stored.user == member
        assert stored.token_hash == token_digest(body["token"])
        assert body["token"] not in str(AuditEvent.objects.get(action="token.created").metadata)
        assert _bearer(body["token"]).get("/tenants").status_code == 200

    def test_a_token_cannot_mint_tokens(self, staff):
        body = assert_error(api_as(staff).post("/tokens", {"name": "more"}), 403, "session_required")
        assert "Sign in" in body["message"]
        assert ApiToken.objects.count() == 1

    def test_a_name_is_required(self, staff):
        body = assert_error(_signed_in(staff, with_csrf=True).post("/tokens", {"name": ""}), 422,
                            "invalid")
        assert body["message"].startswith("name:")

    def test_needs_the_csrf_token(self, staff):
        response = _signed_in(staff, with_csrf=False).post("/tokens", {"name": "x"})
        assert_error(response, 403, "csrf_failed")
        assert not ApiToken.objects.exists()


class TestTokenCommand:
    def test_prints_a_working_token_once(self, staff):
        out, err = io.StringIO(), io.StringIO()
        call_command("token", "create", "--email", "STAFF@example.com", "--name", "ci",
                     stdout=out, stderr=err)
        raw = out.getvalue().strip()
        assert raw.startswith("po_")
        assert "shown only now" in err.getvalue()
        token = ApiToken.objects.get(token_hash=token_digest(raw))
        assert (token.user, token.name) == (staff, "ci")
        assert _bearer(raw).get("/jobs").status_code == 200

    def test_unknown_account(self, db):
        with pytest.raises(CommandError, match=r"No active account has the email nobody@example\.com"):
            call_command("token", "create", "--email", "nobody@example.com", "--name", "ci")


class TestTenants:
    def test_staff_see_every_tenant(self, staff_api, tenant, other_tenant):
        body = staff_api.get("/tenants").json()
        assert [t["slug"] for t in body] == ["acme", "globex"]
        assert body[0]["approval_required_types"] == ["ERASE", "PURGE"]
        assert "hash_key" not in body[0]

    def test_a_tenant_admin_sees_their_own(self, tenant, other_tenant):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        assert [t["slug"] for t in api_as(admin).get("/tenants").json()] == ["acme"]


class TestErrors:
    def test_an_unknown_path_answers_json_404(self, staff_api):
        body = assert_error(staff_api.get("/nothing/here"), 404, "not_found")
        assert "/api/v1/nothing/here" in body["message"]

    def test_a_wrong_method_answers_json_405(self, staff_api):
        response = staff_api.client.delete("/api/v1/jobs", headers=staff_api.headers)
        body = assert_error(response, 405, "method_not_allowed")
        assert "GET" in response["Allow"]
        assert "DELETE" in body["message"]

    def test_docs_and_openapi_are_served(self, staff):
        client = Client()
        client.force_login(staff)
        assert client.get("/api/v1/docs").status_code == 200
        document = client.get("/api/v1/openapi.json").json()
        assert document["info"]["title"] == "PrivacyOps API"
        assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}/approve", "/api/v1/holds",
                "/api/v1/audit/export", "/api/v1/tenants", "/api/v1/tokens"} <= set(document["paths"])
