from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.holds.models import LegalHold
from privacyops.tenancy.models import Role
from tests import factories
from tests.api.conftest import api_as, assert_error

pytestmark = pytest.mark.django_db


def _hold_body(tenant, **overrides):
    return {"tenant_id": tenant.pk, "scope_type": "subject", "scope_id": "subject-7",
            "reason": "Litigation hold, case 2024-17", **overrides}


class TestPlaceHold:
    def test_places_an_active_hold_and_audits_it(self, staff_api, tenant, staff):
        response = staff_api.post("/holds", _hold_body(tenant))
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["state"] == "active"
        assert body["created_by"] == staff.email
        assert body["tenant_name"] == "Acme Corp"
        assert LegalHold.objects.get(pk=body["id"]).in_force
        event = AuditEvent.objects.get(action="hold.placed")
        assert event.tenant_id == tenant.pk
        assert event.actor_type == "api_token"

    def test_with_an_expiry(self, staff_api, tenant):
        expires = (timezone.now() + timedelta(days=30)).isoformat()
        body = staff_api.post("/holds", _hold_body(tenant, expires_at=expires)).json()
        assert body["expires_at"] is not None

    def test_expiry_in_the_past_is_refused(self, staff_api, tenant):
        past = (timezone.now() - timedelta(days=1)).isoformat()
        body = assert_error(staff_api.post("/holds", _hold_body(tenant, expires_at=past)), 422,
                            "invalid")
        assert "in the past" in body["message"]
        assert not LegalHold.objects.exists()

    def test_expiry_without_a_timezone_is_refused(self, staff_api, tenant):
        body = assert_error(staff_api.post("/holds", _hold_body(tenant, expires_at="2031-01-01T00:00")),
                            422, "invalid")
        assert body["message"].startswith("expires_at:")

    def test_blank_reason_is_refused(self, staff_api, tenant):
        body = assert_error(staff_api.post("/holds", _hold_body(tenant, reason="")), 422, "invalid")
        assert body["message"].startswith("reason:")

    def test_a_tenant_super_admin_may_not_place_holds(self, tenant):
        owner = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        body = assert_error(api_as(owner).post("/holds", _hold_body(tenant)), 403, "forbidden")
        assert "platform staff" in body["message"]
        assert not LegalHold.objects.exists()


class TestListHolds:
    @pytest.fixture
    def holds(self, tenant, other_tenant, staff):
        released = factories.hold_create(tenant=tenant, created_by=staff, scope_id="1",
                                         active=False, released_at=timezone.now())
        expired = factories.hold_create(tenant=tenant, created_by=staff, scope_id="2",
                                        expires_at=timezone.now() - timedelta(hours=1))
        active = factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                                       scope_id="acme")
        other = factories.hold_create(tenant=other_tenant, created_by=staff, scope_id="3")
        return {"released": released, "expired": expired, "active": active, "other": other}

    @staticmethod
    def _ids(response):
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    @pytest.mark.parametrize(("params", "expected"), [
        ({}, {"released", "expired", "active", "other"}),
        ({"state": "active"}, {"active", "other"}),
        ({"state": "expired"}, {"expired"}),
        ({"state": "released"}, {"released"}),
        ({"scope_type": "tenant"}, {"active"}),
    ])
    def test_filters(self, staff_api, holds, params, expected):
        assert self._ids(staff_api.get("/holds", **params)) == {holds[n].pk for n in expected}

    def test_filter_by_tenant(self, staff_api, holds, other_tenant):
        assert self._ids(staff_api.get("/holds", tenant_id=other_tenant.pk)) == {holds["other"].pk}

    def test_state_is_reported(self, staff_api, holds):
        states = {item["id"]: item["state"] for item in staff_api.get("/holds").json()["items"]}
        assert states[holds["expired"].pk] == "expired"
        assert states[holds["released"].pk] == "released"

    def test_unknown_state_names_the_field(self, staff_api):
        body = assert_error(staff_api.get("/holds", state="paused"), 422, "invalid")
        assert body["message"].startswith("state:")

    def test_paging(self, staff_api, holds):
        page = staff_api.get("/holds", limit=3, offset=2).json()
        assert page["count"] == 4
        assert len(page["items"]) == 2

    def test_a_tenant_admin_sees_their_tenant_only(self, holds, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        assert self._ids(api_as(admin).get("/holds")) == {
            holds["released"].pk, holds["expired"].pk, holds["active"].pk}


class TestReleaseHold:
    def test_releases_and_audits(self, staff_api, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        response = staff_api.post(f"/holds/{hold.pk}/release", {"reason": "Case settled"})
        assert response.status_code == 200, response.content
        assert response.json()["state"] == "released"
        assert response.json()["released_by"] == staff.email
        hold.refresh_from_db()
        assert not hold.active
        assert hold.release_reason == "Case settled"
        assert AuditEvent.objects.get(action="hold.released").outcome == "success"

    def test_releasing_twice_conflicts(self, staff_api, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        staff_api.post(f"/holds/{hold.pk}/release", {"reason": "Case settled"})
        body = assert_error(staff_api.post(f"/holds/{hold.pk}/release", {"reason": "Again"}),
                            409, "conflict")
        assert "already released" in body["message"]

    def test_needs_a_reason(self, staff_api, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        assert_error(staff_api.post(f"/holds/{hold.pk}/release", {"reason": " "}), 422, "invalid")
        hold.refresh_from_db()
        assert hold.active

    def test_missing_hold(self, staff_api):
        assert_error(staff_api.post("/holds/9999/release", {"reason": "x"}), 404, "not_found")

    def test_another_tenants_hold_looks_missing(self, tenant, other_tenant, staff):
        admin = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        hold = factories.hold_create(tenant=other_tenant, created_by=staff)
        assert_error(api_as(admin).post(f"/holds/{hold.pk}/release", {"reason": "x"}), 404,
                     "not_found")
        hold.refresh_from_db()
        assert hold.active
