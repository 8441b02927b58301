from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from privacyops.errors import ValidationFailed
from privacyops.holds.selectors import (
    hold_coverage,
    hold_matches_data,
    holds_covering,
    holds_filtered,
)
from privacyops.tenancy.models import Membership, Role
from tests import factories
from tests.demo_store import demo_store

__all__ = ["demo_store"]

pytestmark = pytest.mark.django_db


def covering(tenant, target_type="subject", target_id="42", reach=None) -> list[int]:
    return [hold.pk for hold in holds_covering(tenant_id=tenant.pk, target_type=target_type,
                                               target_id=target_id, reach=reach)]


class TestCoverage:
    def test_a_hold_covers_the_target_it_names(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="42")
        assert covering(tenant, target_id="42") == [hold.pk]
        assert covering(tenant, target_id="43") == []
        assert covering(tenant, target_type="issuer", target_id="42") == []

    def test_a_tenant_hold_covers_everything_in_the_tenant(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                                     scope_id=str(tenant.pk))
        assert covering(tenant, target_id="42") == [hold.pk]
        assert covering(tenant, target_type="tenant", target_id=str(tenant.pk)) == [hold.pk]

    def test_a_hold_on_something_the_traversal_reaches_covers_the_target(self, tenant, staff):
        """A PURGE of a tenant is blocked by a hold on one of its users."""
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="7")
        asked = []

        def reach(scope_type: str, scope_id: str) -> bool:
            asked.append((scope_type, scope_id))
            return (scope_type, scope_id) == ("subject", "7")

        assert covering(tenant, target_type="tenant", target_id=str(tenant.pk),
                        reach=reach) == [hold.pk]
        assert asked == [("subject", "7")]
        assert covering(tenant, target_type="tenant", target_id=str(tenant.pk),
                        reach=lambda *_: False) == []
        assert covering(tenant, target_type="tenant", target_id=str(tenant.pk)) == []

    def test_an_expired_hold_stops_covering_by_itself(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff,
                                     expires_at=timezone.now() - timedelta(seconds=1))
        assert hold.active
        assert hold.state == "expired"
        assert covering(tenant) == []
        assert covering(tenant, reach=lambda *_: True) == []

    def test_a_hold_expiring_later_still_covers(self, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff,
                                     expires_at=timezone.now() + timedelta(hours=1))
        assert covering(tenant) == [hold.pk]

    def test_a_released_hold_does_not_cover(self, tenant, staff):
        factories.hold_create(tenant=tenant, created_by=staff, active=False,
                              released_by=staff, released_at=timezone.now())
        assert covering(tenant) == []

    def test_another_tenant_s_holds_do_not_cover(self, tenant, other_tenant, staff):
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_id="42")
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_type="tenant",
                              scope_id=str(other_tenant.pk))
        assert covering(tenant, reach=lambda *_: True) == []

    def test_every_covering_hold_is_listed_oldest_first(self, tenant, staff):
        first = factories.hold_create(tenant=tenant, created_by=staff, scope_id="42")
        second = factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                                       scope_id=str(tenant.pk))
        assert covering(tenant) == [first.pk, second.pk]


@pytest.fixture
def holds(tenant, other_tenant, staff):
    now = timezone.now()
    return {
        "active": factories.hold_create(tenant=tenant, created_by=staff),
        "open_ended": factories.hold_create(tenant=tenant, created_by=staff, scope_type="issuer",
                                            expires_at=now + timedelta(days=1)),
        "expired": factories.hold_create(tenant=tenant, created_by=staff,
                                         expires_at=now - timedelta(days=1)),
        "released": factories.hold_create(tenant=tenant, created_by=staff, active=False,
                                          released_at=now, released_by=staff),
        "other": factories.hold_create(tenant=other_tenant, created_by=staff),
    }


def names(holds, found) -> set[str]:
    by_pk = {hold.pk: name for name, hold in holds.items()}
    return {by_pk[hold.pk] for hold in found}


class TestHoldsFiltered:
    @pytest.mark.parametrize(("state", "expected"), [
        ("active", {"active", "open_ended", "other"}),
        ("expired", {"expired"}),
        ("released", {"released"}),
        ("", {"active", "open_ended", "expired", "released", "other"}),
    ])
    def test_staff_filter_by_state(self, holds, staff, state, expected):
        assert names(holds, holds_filtered(staff, state=state)) == expected

    def test_filter_by_scope_type_and_tenant(self, holds, staff, tenant):
        assert names(holds, holds_filtered(staff, scope_type="issuer")) == {"open_ended"}
        assert names(holds, holds_filtered(staff, state="active", tenant_id=tenant.pk)) == {
            "active", "open_ended"}

    def test_an_unknown_state_is_refused(self, staff):
        with pytest.raises(ValidationFailed, match="active, expired or released"):
            holds_filtered(staff, state="paused")

    def test_tenant_admins_see_only_their_tenant_s_holds(self, holds, tenant, other_tenant):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        assert names(holds, holds_filtered(admin)) == {"active", "open_ended", "expired",
                                                       "released"}
        assert names(holds, holds_filtered(admin, tenant_id=other_tenant.pk)) == set()

    @pytest.mark.parametrize("who", ["member", "anonymous"])
    def test_members_and_anonymous_see_no_holds(self, holds, tenant, who):
        viewer = (AnonymousUser() if who == "anonymous"
                  else factories.user_create(tenant=tenant, role=Role.MEMBER))
        assert names(holds, holds_filtered(viewer)) == set()


class TestWhyAHoldCovers:
    """The sentence the job page shows: the rule that covered, in the reach's own words."""

    def _why(self, tenant, reach) -> list[str]:
        return [why for _hold, why in hold_coverage(tenant_id=tenant.pk, target_type="tenant",
                                                    target_id=str(tenant.pk), reach=reach)]

    def test_a_reach_that_explains_itself_is_quoted(self, tenant, staff):
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="7")
        said = "it shares rows of hardware_assignments with the target"
        assert self._why(tenant, lambda *_: said) == [said]

    def test_a_reach_that_answers_yes_gets_the_plain_sentence(self, tenant, staff):
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="7")
        assert self._why(tenant, lambda *_: True) == ["the target reaches what it holds"]

    def test_naming_and_tenant_rules_say_which_one(self, tenant, staff):
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="42")
        factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                              scope_id=str(tenant.pk))
        found = hold_coverage(tenant_id=tenant.pk, target_type="subject", target_id="42")
        assert [why for _hold, why in found] == ["it names this target",
                                                 "it holds the whole tenant"]


class TestHoldsFilteredEdges:
    def test_a_released_hold_past_its_expiry_is_released_not_expired(self, tenant, staff):
        past = timezone.now() - timedelta(days=1)
        released = factories.hold_create(tenant=tenant, created_by=staff, active=False,
                                         expires_at=past, released_at=past, released_by=staff)
        expired = factories.hold_create(tenant=tenant, created_by=staff, expires_at=past)
        assert [h.pk for h in holds_filtered(staff, state="expired")] == [expired.pk]
        assert [h.pk for h in holds_filtered(staff, state="released")] == [released.pk]

    def test_an_unknown_state_names_its_field_and_the_states(self, staff):
        with pytest.raises(ValidationFailed) as refused:
            holds_filtered(staff, state="paused")
        assert refused.value.message == "state must be active, expired or released."
        assert refused.value.details.get("field") == "state"

    def test_a_member_of_both_tenants_sees_holds_only_where_an_admin(self, tenant, other_tenant,
                                                                     staff):
        """Scoped by `hold.view`: a member role in the other tenant opens nothing there."""
        viewer = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        Membership.objects.create(user=viewer, tenant=other_tenant, role=Role.MEMBER)
        own = factories.hold_create(tenant=tenant, created_by=staff)
        factories.hold_create(tenant=other_tenant, created_by=staff)
        assert [h.pk for h in holds_filtered(viewer)] == [own.pk]

    def test_the_list_reads_tenant_and_people_in_the_same_query(self, tenant, staff,
                                                                django_assert_num_queries):
        for n in range(3):
            factories.hold_create(tenant=tenant, created_by=staff, scope_id=str(n), active=False,
                                  released_by=staff, released_at=timezone.now())
        with django_assert_num_queries(1):
            shown = [(h.tenant.name, h.created_by.email, h.released_by.email)
                     for h in holds_filtered(staff)]
        assert shown == [(tenant.name, staff.email, staff.email)] * 3


class TestMatchesData:
    """"Matches no data today": asked of the tenant's own datastore, only while in force."""

    def test_a_hold_on_a_person_who_exists_matches(self, demo_store, staff):
        person = demo_store.erasable_person()
        hold = factories.hold_create(tenant=demo_store.tenant, created_by=staff,
                                     scope_id=str(person))
        assert hold_matches_data(hold) is True

    def test_a_person_of_the_other_tenant_does_not_match(self, demo_store, staff):
        other = demo_store.query("SELECT id FROM people WHERE workspace_id = ? ORDER BY id",
                                 int(factories.tenant_key(demo_store.other_tenant)))[0][0]
        hold = factories.hold_create(tenant=demo_store.tenant, created_by=staff,
                                     scope_id=str(other))
        assert hold_matches_data(hold) is False

    def test_an_id_nobody_has_does_not_match(self, demo_store, staff):
        hold = factories.hold_create(tenant=demo_store.tenant, created_by=staff,
                                     scope_id="999999")
        assert hold_matches_data(hold) is False

    def test_a_released_hold_is_not_asked(self, demo_store, staff):
        hold = factories.hold_create(tenant=demo_store.tenant, created_by=staff,
                                     scope_id=str(demo_store.erasable_person()), active=False,
                                     released_by=staff, released_at=timezone.now())
        assert hold_matches_data(hold) is None
