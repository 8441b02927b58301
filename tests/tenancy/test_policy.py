from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from privacyops.errors import PermissionDenied
from privacyops.tenancy import policy
from privacyops.tenancy.models import Membership, Role
from tests import factories

pytestmark = pytest.mark.django_db

EVERY_ACTION = frozenset({
    "job.view", "job.create.EXPORT", "job.create.ERASE", "job.create.PURGE",
    "job.create.RECTIFY", "job.create.RESTRICT", "job.retry", "job.approve", "job.reject",
    "hold.view", "hold.place", "hold.release",
    "audit.view", "audit.export", "audit.verify", "gdpr.view", "gdpr.export", "gdpr.erase",
    "intake.view", "intake.manage", "tenant.manage", "member.view", "system.view",
})
TENANT_ADMIN = frozenset({
    "job.view", "job.create.EXPORT", "hold.view", "audit.view", "audit.export", "gdpr.view",
    "gdpr.export", "intake.view", "intake.manage", "member.view", "system.view",
})
# Corrections of a subject's data (GDPR Art. 16, 18): super-admins and admins, not it-admins.
CORRECTIONS = frozenset({"job.create.RECTIFY", "job.create.RESTRICT"})
# What each kind of person may do in their own tenant (tenant policy: super-admins don't approve).
OWN_TENANT: dict[str, frozenset[str]] = {
    "staff": EVERY_ACTION,
    "super-admin": TENANT_ADMIN | CORRECTIONS | {"job.create.ERASE", "job.retry", "gdpr.erase"},
    "admin": TENANT_ADMIN | CORRECTIONS,
    "it-admin": TENANT_ADMIN,
    "member": frozenset(),
    "inactive super-admin": frozenset(),
    "inactive staff": frozenset(),
    "anonymous": frozenset(),
}
PEOPLE = list(OWN_TENANT)


def person(kind: str, tenant):
    if kind == "anonymous":
        return AnonymousUser()
    if kind in {"staff", "inactive staff"}:
        user = factories.user_create(is_staff=True)
    else:
        user = factories.user_create(tenant=tenant, role=kind.removeprefix("inactive "))
    if kind.startswith("inactive"):
        user.is_active = False
        user.save()
    return user


def allowed(user, tenant) -> frozenset[str]:
    return frozenset(action for action in policy.ALL_ACTIONS if policy.can(user, action, tenant))


def test_the_table_below_covers_every_action():
    assert policy.ALL_ACTIONS == EVERY_ACTION


@pytest.mark.parametrize("kind", PEOPLE)
class TestCan:
    def test_in_their_own_tenant(self, kind, tenant):
        assert allowed(person(kind, tenant), tenant) == OWN_TENANT[kind]

    def test_in_another_tenant_only_staff_act(self, kind, tenant, other_tenant):
        expected = EVERY_ACTION if kind == "staff" else frozenset()
        assert allowed(person(kind, tenant), other_tenant) == expected

    def test_across_tenants_only_staff_act(self, kind, tenant):
        expected = EVERY_ACTION if kind == "staff" else frozenset()
        assert allowed(person(kind, tenant), None) == expected


class TestSuperAdminsCanApprove:
    @pytest.fixture
    def approving_tenant(self):
        return factories.tenant_create(super_admins_can_approve=True)

    @pytest.mark.parametrize(("kind", "expected"), [
        ("staff", True), ("super-admin", True), ("admin", False), ("it-admin", False),
        ("member", False), ("inactive super-admin", False), ("anonymous", False),
    ])
    def test_only_super_admins_gain_approval(self, approving_tenant, kind, expected):
        user = person(kind, approving_tenant)
        assert policy.can(user, "job.approve", approving_tenant) is expected
        assert policy.can(user, "job.reject", approving_tenant) is expected
        gained = allowed(user, approving_tenant) - OWN_TENANT[kind]
        assert gained == ({"job.approve", "job.reject"} if kind == "super-admin" else set())

    def test_it_does_not_reach_other_tenants(self, approving_tenant, tenant):
        owner = person("super-admin", tenant)
        assert not policy.can(owner, "job.approve", approving_tenant)
        assert not policy.can(owner, "job.approve", tenant)

    def test_staff_only_actions_stay_staff_only(self, approving_tenant):
        owner = person("super-admin", approving_tenant)
        assert not any(policy.can(owner, action, approving_tenant)
                       for action in policy.STAFF_ONLY_ACTIONS)


class TestRequire:
    @pytest.mark.parametrize(("kind", "action", "sentence"), [
        ("admin", "gdpr.erase", "Erasure is super-admin only"),
        ("super-admin", "job.approve", "Only platform staff approve jobs"),
        ("super-admin", "hold.place", "Only platform staff place legal holds"),
        ("member", "job.view", "Your role does not allow this action"),
    ])
    def test_refusals_say_why(self, tenant, kind, action, sentence):
        with pytest.raises(PermissionDenied, match=sentence) as refused:
            policy.require(person(kind, tenant), action, tenant)
        assert refused.value.details == {"action": action}

    def test_allowed_actions_pass(self, tenant):
        policy.require(person("super-admin", tenant), "gdpr.erase", tenant)

    def test_an_unknown_action_is_a_programming_error(self, staff, tenant):
        with pytest.raises(ValueError, match=r"unknown action 'gdpr\.delete'"):
            policy.can(staff, "gdpr.delete", tenant)


class TestTenantsVisibleTo:
    def test_each_person_sees_the_tenants_they_may_act_in(self, tenant, other_tenant):
        third = factories.tenant_create()
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        Membership.objects.create(user=admin, tenant=other_tenant, role=Role.MEMBER)
        assert list(policy.tenants_visible_to(admin, "audit.view")) == [tenant]
        assert list(policy.tenants_visible_to(admin, "gdpr.erase")) == []
        staff = person("staff", tenant)
        assert set(policy.tenants_visible_to(staff, "hold.place")) == {tenant, other_tenant, third}
        assert list(policy.tenants_visible_to(AnonymousUser())) == []
        assert list(policy.tenants_visible_to(person("inactive super-admin", tenant))) == []
