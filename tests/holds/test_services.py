from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from privacyops.holds.models import LegalHold
from privacyops.holds.services import hold_place, hold_release
from privacyops.tenancy.models import Role
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def place(tenant, user, **overrides):
    arguments = {"tenant_id": tenant.pk, "scope_type": "subject", "scope_id": "42",
                 "reason": "Litigation: Doe v. Acme", "actor": factories.actor(user),
                 **overrides}
    return hold_place(**arguments)


class TestHoldPlace:
    def test_staff_place_a_hold_and_it_is_audited(self, tenant, staff):
        expires = timezone.now() + timedelta(days=90)
        hold = place(tenant, staff, scope_id=" 42 ", expires_at=expires)
        assert (hold.scope_type, hold.scope_id, hold.created_by) == ("subject", "42", staff)
        assert hold.state == "active"
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.tenant_id) == ("hold.placed", "success",
                                                                   tenant.pk)
        assert event.target_id == str(hold.pk)
        assert event.metadata == {"scope_type": "subject", "scope_id": "42",
                                  "reason": "Litigation: Doe v. Acme",
                                  "expires_at": expires.isoformat()}

    @pytest.mark.parametrize("role", [Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN, Role.MEMBER])
    def test_tenant_roles_cannot_place_holds(self, tenant, role):
        user = factories.user_create(tenant=tenant, role=role)
        with pytest.raises(PermissionDenied, match="Only platform staff place legal holds"):
            place(tenant, user)
        assert not LegalHold.objects.exists()
        assert AuditEvent.objects.get().outcome == "failure"

    @pytest.mark.parametrize(("overrides", "field", "sentence"), [
        ({"reason": "   "}, "reason", "A reason is required"),
        ({"scope_id": ""}, "scope id", "A scope id is required"),
        ({"reason": "x" * 2001}, "reason", "longer than 2000 characters"),
        ({"expires_at": "past"}, "expires_at", "expiry date is in the past"),
    ], ids=["blank-reason", "blank-scope", "long-reason", "past-expiry"])
    def test_invalid_holds_are_refused_with_the_field(self, tenant, staff, overrides, field,
                                                      sentence):
        if overrides.get("expires_at") == "past":
            overrides = {"expires_at": timezone.now() - timedelta(minutes=1)}
        with pytest.raises(ValidationFailed, match=sentence) as refused:
            place(tenant, staff, **overrides)
        assert refused.value.details["field"] == field
        assert not LegalHold.objects.exists()
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.metadata["code"]) == (
            "hold.placed", "failure", "invalid")

    def test_a_hold_on_a_missing_tenant_is_refused(self, staff):
        with pytest.raises(NotFound, match="Tenant 9999 does not exist"):
            hold_place(tenant_id=9999, scope_type="tenant", scope_id="9999", reason="Audit",
                       actor=factories.actor(staff))


class TestHoldRelease:
    def test_release_records_who_when_and_why(self, tenant, staff, other_staff):
        hold = place(tenant, staff)
        released = hold_release(hold_id=hold.pk, reason="Case settled",
                                actor=factories.actor(other_staff))
        assert released.state == "released"
        hold.refresh_from_db()
        assert (hold.active, hold.released_by, hold.release_reason) == (
            False, other_staff, "Case settled")
        assert hold.released_at is not None
        event = AuditEvent.objects.get(action="hold.released")
        assert (event.outcome, event.target_id, event.metadata) == (
            "success", str(hold.pk), {"reason": "Case settled"})
        assert event.actor_id == str(other_staff.pk)

    def test_release_needs_a_reason(self, tenant, staff):
        hold = place(tenant, staff)
        with pytest.raises(ValidationFailed, match="A release reason is required"):
            hold_release(hold_id=hold.pk, reason=" ", actor=factories.actor(staff))
        hold.refresh_from_db()
        assert hold.active

    def test_a_second_release_is_a_conflict(self, tenant, staff):
        hold = place(tenant, staff)
        hold_release(hold_id=hold.pk, reason="Case settled", actor=factories.actor(staff))
        with pytest.raises(Conflict, match=f"Legal hold #{hold.pk} was already released on"):
            hold_release(hold_id=hold.pk, reason="Again", actor=factories.actor(staff))
        hold.refresh_from_db()
        assert hold.release_reason == "Case settled"
        outcomes = list(AuditEvent.objects.filter(action="hold.released")
                        .order_by("seq").values_list("outcome", flat=True))
        assert outcomes == ["success", "failure"]

    def test_tenant_admins_cannot_release(self, tenant, staff):
        hold = place(tenant, staff)
        owner = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        with pytest.raises(PermissionDenied, match="Only platform staff release"):
            hold_release(hold_id=hold.pk, reason="Done", actor=factories.actor(owner))
        hold.refresh_from_db()
        assert hold.active

    def test_releasing_a_missing_hold_is_not_found(self, staff):
        with pytest.raises(NotFound, match="Legal hold 777 does not exist"):
            hold_release(hold_id=777, reason="Done", actor=factories.actor(staff))
