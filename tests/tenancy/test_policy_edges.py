"""The permission policy's helpers that other apps call directly: role_in (the API's tenant
tokens, the workspace screen, the intake queue), tenants_visible_to (every tenant-bound
selector) and has_any_admin_role (the navigation). Another tenant always has admins of its
own here, so a lookup that forgets the user shows up as a leak.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from privacyops.errors import PermissionDenied
from privacyops.tenancy import policy
from privacyops.tenancy.models import Role, User
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_admins(other_tenant):
    return [factories.user_create(tenant=other_tenant, role=role)
            for role in (Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN)]


def fresh(user: User) -> User:
    """The same account, as the next request loads it (no cached roles)."""
    return User.objects.get(pk=user.pk)


class TestRoleIn:
    def test_names_the_role_in_the_tenant_given_as_row_or_id(self, tenant, other_tenant,
                                                             other_admins):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        assert policy.role_in(admin, tenant) == Role.IT_ADMIN
        assert policy.role_in(fresh(admin), tenant.pk) == Role.IT_ADMIN
        assert policy.role_in(admin, other_tenant) is None
        assert policy.role_in(fresh(admin), other_tenant.pk) is None

    def test_an_inactive_or_anonymous_user_has_no_role(self, tenant):
        inactive = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        inactive.is_active = False
        inactive.save()
        assert policy.role_in(inactive, tenant) is None
        assert policy.role_in(AnonymousUser(), tenant) is None

    def test_one_query_answers_every_question_about_one_user(self, tenant, other_tenant,
                                                             django_assert_num_queries):
        admin = fresh(factories.user_create(tenant=tenant, role=Role.ADMIN))
        with django_assert_num_queries(1):
            allowed = {action for action in sorted(policy.ALL_ACTIONS)
                       for t in (tenant, other_tenant) if policy.can(admin, action, t)}
            assert policy.role_in(admin, tenant.pk) == Role.ADMIN
        assert "gdpr.export" in allowed
        assert "gdpr.erase" not in allowed


class TestTenantsVisibleTo:
    def test_an_admin_sees_their_tenant_only(self, tenant, other_tenant, other_admins):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        assert list(policy.tenants_visible_to(admin)) == [tenant]
        assert list(policy.tenants_visible_to(admin, "intake.manage")) == [tenant]
        for foreign in other_admins:
            assert list(policy.tenants_visible_to(foreign)) == [other_tenant]

    def test_a_member_sees_no_tenant(self, tenant, other_admins):
        member = factories.user_create(tenant=tenant, role=Role.MEMBER)
        assert list(policy.tenants_visible_to(member)) == []

    def test_staff_see_every_tenant(self, staff, tenant, other_tenant):
        assert set(policy.tenants_visible_to(staff)) == {tenant, other_tenant}


class TestHasAnyAdminRole:
    @pytest.mark.parametrize(("role", "expected"), [
        (Role.SUPER_ADMIN, True), (Role.ADMIN, True), (Role.IT_ADMIN, True),
        (Role.MEMBER, False),
    ])
    def test_only_admin_roles_count(self, tenant, other_admins, role, expected):
        assert policy.has_any_admin_role(factories.user_create(tenant=tenant, role=role)) \
            is expected

    def test_staff_and_anonymous(self, staff):
        assert policy.has_any_admin_role(staff) is True
        assert policy.has_any_admin_role(AnonymousUser()) is False
        assert policy.has_any_admin_role(factories.user_create()) is False


class TestRequireSentences:
    @pytest.mark.parametrize(("role", "action", "sentence"), [
        (Role.MEMBER, "job.view", "Your role does not allow this action."),
        (Role.ADMIN, "gdpr.erase",
         "Erasure is super-admin only. Ask an owner to run it, or have your role elevated."),
        (Role.SUPER_ADMIN, "job.reject",
         "Only platform staff reject jobs (or super-admins, if the tenant allows it)."),
        (Role.SUPER_ADMIN, "hold.release", "Only platform staff release legal holds."),
    ])
    def test_the_whole_sentence(self, tenant, role, action, sentence):
        with pytest.raises(PermissionDenied) as refused:
            policy.require(factories.user_create(tenant=tenant, role=role), action, tenant)
        assert refused.value.message == sentence
