"""/api/v1/tenants and its members and systems: answers beyond who may call them."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from privacyops.tenancy.models import Tenant
from tests import factories
from tests.api.conftest import api_as, assert_error
from tests.tenancy.clinic import build_clinic

pytestmark = pytest.mark.django_db


class TestTenants:
    def test_create_twice_is_a_conflict_that_changes_nothing(self, staff_api):
        created = staff_api.post("/tenants", {"slug": "nord", "name": "Clinique du Nord"})
        assert created.status_code == 201
        assert created.json()["is_active"] is True
        body = assert_error(staff_api.post("/tenants", {"slug": "nord", "name": "Other"}), 409,
                            "tenant_exists")
        assert body["details"]["tenant_id"] == created.json()["id"]
        assert Tenant.objects.get(slug="nord").name == "Clinique du Nord"

    def test_edit_sends_only_what_changes(self, staff_api, tenant):
        response = staff_api.patch(f"/tenants/{tenant.pk}", {"super_admins_can_approve": True})
        assert response.status_code == 200
        assert response.json()["super_admins_can_approve"] is True
        assert response.json()["name"] == "Acme Corp"


class TestMembers:
    def test_a_new_person_gets_a_first_password_once(self, staff_api, tenant):
        response = staff_api.post(f"/tenants/{tenant.pk}/members",
                                  {"email": "dr.ana@example.com", "role": "super-admin"})
        assert response.status_code == 201
        password = response.json()["initial_password"]
        assert authenticate(username="dr.ana@example.com", password=password) is not None
        listed = staff_api.get(f"/tenants/{tenant.pk}/members").json()
        assert listed == [{"user_id": response.json()["user_id"], "email": "dr.ana@example.com",
                           "full_name": "", "role": "super-admin", "is_active": True}]

    def test_an_unknown_role_is_refused(self, staff_api, tenant):
        assert_error(staff_api.post(f"/tenants/{tenant.pk}/members",
                                    {"email": "x@example.com", "role": "owner"}), 422, "invalid")


class TestSystems:
    def test_a_missing_data_map_is_named(self, staff_api, tenant, tmp_path, settings):
        settings.DATAMAP_DIR = str(tmp_path)
        body = assert_error(staff_api.post(f"/tenants/{tenant.pk}/systems",
                                           {"name": "shop", "datamap_name": "shop",
                                            "datastore_key": "1"}), 404, "datamap_not_found")
        assert "shop.yaml" in body["message"]

    def test_a_tenant_admin_lists_their_own_systems_only(self, tenant, other_tenant, tmp_path,
                                                         settings, monkeypatch, staff_api):
        build_clinic(tmp_path, settings, monkeypatch)
        for each, key in ((tenant, "1"), (other_tenant, "2")):
            assert staff_api.post(f"/tenants/{each.pk}/systems",
                                  {"name": f"{each.slug}-app", "datamap_name": "clinic",
                                   "datastore_key": key}).status_code == 201
        admin = api_as(factories.user_create(tenant=tenant, role="it-admin"))
        own = admin.get(f"/tenants/{tenant.pk}/systems").json()
        assert [s["name"] for s in own] == ["acme-app"]
        assert_error(admin.get(f"/tenants/{other_tenant.pk}/systems"), 404, "not_found")
