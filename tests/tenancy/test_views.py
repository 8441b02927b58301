"""Platform → Tenants as a platform operator and as a tenant admin (own tenant, read-only)."""

from __future__ import annotations

import pytest
from django.test import Client

from privacyops.audit.models import AuditEvent
from privacyops.tenancy.models import Membership, System, Tenant, User
from tests import factories
from tests.tenancy.clinic import build_clinic

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic_systems(tenant, other_tenant, tmp_path, settings, monkeypatch):
    build_clinic(tmp_path, settings, monkeypatch)
    return (System.objects.create(tenant=tenant, name="acme-app", datamap_name="clinic",
                                  connection_ref="CLINIC_DATABASE_URL", datastore_key="1"),
            System.objects.create(tenant=other_tenant, name="globex-secret-db",
                                  datamap_name="clinic", datastore_key="2"))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


class TestAsStaff:
    def test_the_list_shows_every_tenant_and_creating_one_opens_its_page(self, staff, tenant,
                                                                         other_tenant):
        client = _client(staff)
        page = client.get("/platform/tenants/").content.decode()
        assert "Acme Corp" in page
        assert "Globex" in page
        response = client.post("/platform/tenants/", {"slug": "nord", "name": "Clinique du Nord"})
        nord = Tenant.objects.get(slug="nord")
        assert response.status_code == 302
        assert response["Location"] == f"/platform/tenants/{nord.pk}/"
        again = client.post("/platform/tenants/", {"slug": "nord", "name": "Other"})
        assert again.status_code == 409
        assert "already exists" in again.content.decode()

    def test_the_tenant_page_lists_members_and_systems_with_their_health(
            self, staff, tenant, clinic_systems):
        factories.user_create(email="dr.ana@example.com", tenant=tenant, role="super-admin")
        client = _client(staff)
        page = client.get(f"/platform/tenants/{tenant.pk}/").content.decode()
        assert "dr.ana@example.com" in page
        assert "acme-app" in page
        assert "CLINIC_DATABASE_URL" in page
        assert "globex-secret-db" not in page
        acme_app = clinic_systems[0]
        health = client.get(f"/platform/tenants/{tenant.pk}/systems/{acme_app.pk}/health/")
        assert "Healthy" in health.content.decode()
        assert "2 patients rows for tenant key 1" in health.content.decode()

    def test_forms_add_a_member_and_a_system(self, staff, tenant, tmp_path, settings,
                                             monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        client = _client(staff)
        added = client.post(f"/platform/tenants/{tenant.pk}/members/",
                            {"email": "front.desk@example.com", "role": "admin"}, follow=True)
        assert "first password, shown only now" in added.content.decode()
        assert Membership.objects.get(tenant=tenant).role == "admin"
        client.post(f"/platform/tenants/{tenant.pk}/systems/",
                    {"name": "clinic-app", "connector_type": "sql", "datamap_name": "clinic",
                     "datastore_key": "1"})
        assert tenant.systems.get().connection_ref == "CLINIC_DATABASE_URL"
        missing = client.post(f"/platform/tenants/{tenant.pk}/systems/",
                              {"name": "shop", "connector_type": "sql", "datamap_name": "shop"})
        assert missing.status_code == 404
        assert "shop.yaml does not exist" in missing.content.decode()
        assert {"member.added", "system.added"} <= set(
            AuditEvent.objects.values_list("action", flat=True))

    def test_forms_need_the_csrf_token(self, staff, tenant):
        client = Client(enforce_csrf_checks=True)
        client.force_login(staff)
        response = client.post(f"/platform/tenants/{tenant.pk}/deactivate/")
        assert response.status_code == 403
        tenant.refresh_from_db()
        assert tenant.is_active


class TestStaffAccounts:
    def test_staff_create_and_deactivate_staff_accounts(self, staff):
        client = _client(staff)
        created = client.post("/platform/tenants/staff/", {"email": "ops@example.com"},
                              follow=True).content.decode()
        assert "ops@example.com created" in created
        assert "shown only now" in created
        ops = User.objects.get(email="ops@example.com")
        assert ops.is_staff
        client.post(f"/platform/tenants/staff/{ops.pk}/deactivate/")
        ops.refresh_from_db()
        assert not ops.is_active
        refused = client.post(f"/platform/tenants/staff/{staff.pk}/deactivate/", follow=True)
        assert "cannot deactivate your own account" in refused.content.decode()

    def test_a_tenant_admin_cannot_create_staff(self, tenant):
        admin = factories.user_create(tenant=tenant, role="super-admin")
        response = _client(admin).post("/platform/tenants/staff/", {"email": "me2@example.com"})
        assert response.status_code == 403
        assert not User.objects.filter(email="me2@example.com").exists()
        assert "Platform staff" not in _client(admin).get("/platform/tenants/").content.decode()


class TestAsTenantAdmin:
    def test_sees_only_their_own_tenant_and_its_systems(self, tenant, other_tenant,
                                                        clinic_systems):
        admin = factories.user_create(tenant=tenant, role="admin")
        client = _client(admin)
        listing = client.get("/platform/tenants/").content.decode()
        assert "Acme Corp" in listing
        assert "Globex" not in listing
        page = client.get(f"/platform/tenants/{tenant.pk}/").content.decode()
        assert "acme-app" in page
        assert "Add a system" not in page
        assert client.get(f"/platform/tenants/{other_tenant.pk}/").status_code == 404
        other_system = clinic_systems[1]
        health = client.get(f"/platform/tenants/{other_tenant.pk}/systems/{other_system.pk}/"
                            "health/")
        assert health.status_code == 404
        assert "globex-secret-db" not in health.content.decode()

    def test_cannot_change_anything(self, tenant):
        admin = factories.user_create(tenant=tenant, role="super-admin")
        client = _client(admin)
        response = client.post(f"/platform/tenants/{tenant.pk}/members/",
                               {"email": "friend@example.com", "role": "super-admin"})
        assert response.status_code == 403
        assert not Membership.objects.filter(user__email="friend@example.com").exists()

    def test_a_member_is_turned_away(self, tenant):
        member = factories.user_create(tenant=tenant, role="member")
        assert _client(member).get("/platform/tenants/").status_code == 403
