"""Tenants, members, systems and staff accounts: each change checked, made and audited."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from privacyops.audit.models import AuditEvent
from privacyops.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from privacyops.execution.registry import DatastoreUnavailable, datastore_for, tenant_key_for
from privacyops.jobs.services import job_create
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Membership, Role, System, Tenant, User
from privacyops.tenancy.services import (
    member_add,
    member_remove,
    member_role_set,
    staff_create,
    staff_deactivate,
    system_add,
    system_remove,
    tenant_create,
    tenant_deactivate,
    tenant_update,
)
from tests import factories
from tests.tenancy.clinic import build_clinic

pytestmark = pytest.mark.django_db
CLI = Actor.system("cli")


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


class TestTenantCreate:
    def test_creates_the_tenant_with_its_audit_event(self, staff):
        tenant = tenant_create(slug="Nord", name=" Clinique du Nord ", actor=Actor.for_user(staff))
        assert (tenant.slug, tenant.name, tenant.is_active) == ("nord", "Clinique du Nord", True)
        assert tenant.approval_required_types == ["ERASE", "PURGE"]
        event = AuditEvent.objects.get(action="tenant.created")
        assert event.tenant_id == tenant.pk
        assert event.actor_id == str(staff.pk)

    def test_a_second_create_with_the_same_slug_changes_nothing(self):
        first = tenant_create(slug="nord", name="Clinique du Nord", actor=CLI)
        with pytest.raises(Conflict) as refused:
            tenant_create(slug="nord", name="Another name", actor=CLI)
        assert refused.value.code == "tenant_exists"
        assert "already exists" in refused.value.message
        assert list(Tenant.objects.values_list("pk", "name")) == [(first.pk, "Clinique du Nord")]
        assert _actions() == ["tenant.created"]

    def test_a_slug_that_cannot_be_a_host_label_is_refused(self):
        with pytest.raises(ValidationFailed, match="lower-case letters"):
            tenant_create(slug="clinique du nord", name="Nord", actor=CLI)

    def test_a_tenant_admin_may_not_create_tenants(self, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        with pytest.raises(PermissionDenied):
            tenant_create(slug="nord", name="Nord", actor=Actor.for_user(admin))
        assert not Tenant.objects.filter(slug="nord").exists()


class TestTenantUpdate:
    def test_changes_are_audited_with_old_and_new_values(self, tenant):
        tenant_update(tenant_id=tenant.pk, name="Acme Europe", audit_retention_days=400,
                      approval_required_types=["PURGE", "ERASE", "EXPORT"], actor=CLI)
        tenant.refresh_from_db()
        assert tenant.name == "Acme Europe"
        assert tenant.audit_retention_days == 400
        assert tenant.approval_required_types == ["EXPORT", "ERASE", "PURGE"]
        changes = AuditEvent.objects.get(action="tenant.updated").metadata["changes"]
        assert changes["name"] == ["Acme Corp", "Acme Europe"]
        assert changes["audit_retention_days"] == [3650, 400]

    @pytest.mark.parametrize("days", [29, 3651])
    def test_retention_outside_30_to_3650_days_is_refused(self, tenant, days):
        with pytest.raises(ValidationFailed, match="30 to 3650"):
            tenant_update(tenant_id=tenant.pk, audit_retention_days=days, actor=CLI)

    def test_an_unchanged_tenant_writes_no_event(self, tenant):
        tenant_update(tenant_id=tenant.pk, name=tenant.name, actor=CLI)
        assert _actions() == []

    def test_a_deactivated_tenant_takes_no_new_jobs(self, tenant, staff):
        tenant_deactivate(tenant_id=tenant.pk, actor=CLI)
        with pytest.raises(Conflict) as refused:
            job_create(tenant_id=tenant.pk, job_type="EXPORT", target_type="subject",
                       target_id="7", actor=Actor.for_user(staff))
        assert refused.value.code == "tenant_inactive"
        assert "tenant activate acme" in refused.value.message


class TestMembers:
    def test_a_new_person_gets_an_account_and_a_password_shown_once(self, tenant):
        added = member_add(tenant_id=tenant.pk, email="Dr.Ana@Example.com", role="super-admin",
                           full_name="Ana Médecin", actor=CLI)
        assert added.membership.role == "super-admin"
        assert added.initial_password
        user = authenticate(username="dr.ana@example.com", password=added.initial_password)
        assert user is not None
        assert not user.is_staff
        event = AuditEvent.objects.get(action="member.added")
        assert event.metadata == {"role": "super-admin"}
        assert "ana" not in str(event.metadata).lower()

    def test_an_address_with_accents_is_a_member_who_can_sign_in(self, tenant):
        added = member_add(tenant_id=tenant.pk, email=" Zoë.Lefèvre@Example.com", role="admin",
                           actor=CLI)
        assert added.membership.user.email == "zoë.lefèvre@example.com"
        assert authenticate(username="ZOË.LEFÈVRE@example.com",
                            password=added.initial_password) is not None
        for wrong in ("zoë.lefèvre", "zoë@", "zoë lefèvre@example.com"):
            with pytest.raises(ValidationFailed):
                member_add(tenant_id=tenant.pk, email=wrong, role="admin", actor=CLI)

    def test_an_existing_account_keeps_its_password(self, tenant, other_tenant):
        user = factories.user_create(email="it@example.com", tenant=other_tenant, role="admin")
        added = member_add(tenant_id=tenant.pk, email="it@example.com", role="it-admin",
                           actor=CLI)
        assert added.initial_password is None
        assert added.membership.user == user

    def test_an_unknown_role_names_the_roles(self, tenant):
        with pytest.raises(ValidationFailed) as refused:
            member_add(tenant_id=tenant.pk, email="x@example.com", role="owner", actor=CLI)
        assert "super-admin, admin, it-admin, member" in refused.value.message
        assert not User.objects.filter(email="x@example.com").exists()

    def test_adding_a_member_twice_is_a_conflict(self, tenant):
        member_add(tenant_id=tenant.pk, email="x@example.com", role="admin", actor=CLI)
        with pytest.raises(Conflict, match="already a member"):
            member_add(tenant_id=tenant.pk, email="x@example.com", role="member", actor=CLI)

    def test_role_change_and_removal(self, tenant):
        user = factories.user_create(tenant=tenant, role="member")
        member_role_set(tenant_id=tenant.pk, user_id=user.pk, role="admin", actor=CLI)
        assert Membership.objects.get(user=user).role == "admin"
        member_remove(tenant_id=tenant.pk, user_id=user.pk, actor=CLI)
        assert not Membership.objects.filter(user=user).exists()
        assert User.objects.filter(pk=user.pk).exists()
        assert _actions() == ["member.role_changed", "member.removed"]

    def test_an_unknown_tenant_is_named(self):
        with pytest.raises(NotFound, match="tenant list"):
            member_add(tenant_id=999, email="x@example.com", role="admin", actor=CLI)


class TestStaff:
    def test_the_last_active_staff_account_cannot_be_deactivated(self, staff):
        with pytest.raises(Conflict, match="last active"):
            staff_deactivate(user_id=staff.pk, actor=CLI)

    def test_deactivated_staff_cannot_sign_in(self, staff):
        other = staff_create(email="ops@example.com", actor=CLI)
        staff_deactivate(user_id=other.user.pk, actor=Actor.for_user(staff))
        assert authenticate(username="ops@example.com", password=other.initial_password) is None
        assert _actions() == ["staff.created", "staff.deactivated"]


class TestSystems:
    def test_adding_a_system_makes_it_the_tenants_datastore(self, tenant, tmp_path, settings,
                                                            monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        with pytest.raises(DatastoreUnavailable, match="no system yet"):
            datastore_for(tenant)
        system = system_add(tenant_id=tenant.pk, name="clinic-app", datamap_name="clinic",
                            datastore_key="1", actor=CLI)
        assert system.connection_ref == "CLINIC_DATABASE_URL"
        fresh = Tenant.objects.get(pk=tenant.pk)
        assert tenant_key_for(fresh) == "1"
        assert datastore_for(fresh).count_subjects("1") == 2
        event = AuditEvent.objects.get(action="system.added")
        assert event.metadata["connection_ref"] == "CLINIC_DATABASE_URL"
        system_remove(tenant_id=tenant.pk, system_id=system.pk, actor=CLI)
        with pytest.raises(DatastoreUnavailable):
            datastore_for(Tenant.objects.get(pk=tenant.pk))

    def test_a_missing_data_map_says_where_it_was_looked_for(self, tenant, tmp_path, settings):
        settings.DATAMAP_DIR = str(tmp_path)
        with pytest.raises(NotFound) as refused:
            system_add(tenant_id=tenant.pk, name="shop", datamap_name="shop", actor=CLI)
        assert str(tmp_path / "shop.yaml") in refused.value.message
        assert "put the YAML file there" in refused.value.message
        assert not System.objects.exists()

    def test_an_unknown_connector_type_is_refused(self, tenant, tmp_path, settings,
                                                  monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        with pytest.raises(ValidationFailed, match="sql, http or manual"):
            system_add(tenant_id=tenant.pk, name="crm", datamap_name="clinic",
                       datastore_key="1", connector_type="ftp", actor=CLI)
        assert not System.objects.exists()

    def test_a_shared_datastore_needs_the_tenant_key(self, tenant, tmp_path, settings,
                                                     monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        with pytest.raises(ValidationFailed, match="clinic_id"):
            system_add(tenant_id=tenant.pk, name="clinic-app", datamap_name="clinic", actor=CLI)

    def test_names_are_unique_per_tenant(self, tenant, other_tenant, tmp_path, settings,
                                         monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        system_add(tenant_id=tenant.pk, name="app", datamap_name="clinic", datastore_key="1",
                   actor=CLI)
        system_add(tenant_id=other_tenant.pk, name="app", datamap_name="clinic",
                   datastore_key="2", actor=CLI)
        with pytest.raises(Conflict, match="already has a system named app"):
            system_add(tenant_id=tenant.pk, name="app", datamap_name="clinic",
                       datastore_key="1", actor=CLI)

    def test_jobs_run_on_the_first_sql_system(self, tenant, tmp_path, settings, monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        system_add(tenant_id=tenant.pk, name="first", datamap_name="clinic", datastore_key="2",
                   actor=CLI)
        system_add(tenant_id=tenant.pk, name="second", datamap_name="clinic",
                   datastore_key="1", actor=CLI)
        assert tenant_key_for(Tenant.objects.get(pk=tenant.pk)) == "2"
