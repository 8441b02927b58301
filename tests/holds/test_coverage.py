"""Each legal-hold coverage rule, one targeted test each, on a real datastore.

The demo schema of the connector tests (workspace 1): Boss (10) manages Erin (11), who manages
Hank (12); Erin and Hank sign in through issuer 1; Root (13) has no issuer and no activity;
activity row 2 has Erin as actor and Hank as subject. Each case is chosen so that exactly one
rule covers it, and the test names the rule it expects (the first that matches), so switching
any one rule off fails its test: it would be covered by a later rule, or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import load_datamap
from privacyops.execution.guards import hold_coverage_reasons
from privacyops.holds.selectors import COVERS_BY_NAME, COVERS_BY_TENANT
from tests import factories
from tests.connectors.conftest import HASH_KEY, database_url, new_database
from tests.connectors.test_sql_demo import DEMO_DATAMAP, build_demo

__all__ = ["database_url", "new_database"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def store(database_url: str) -> Iterator[SqlDatastore]:
    build_demo(database_url)
    datastore = SqlDatastore(load_datamap(DEMO_DATAMAP), database_url, hash_key=HASH_KEY)
    yield datastore
    datastore.close()


@pytest.fixture
def workspace(db):
    return factories.tenant_create(slug="acme", datastore_key="1")


def why(workspace, store, target: Target, **hold) -> list[str]:
    """Why each hold covers the target (empty: not covered)."""
    staff = factories.user_create(is_staff=True)
    factories.hold_create(tenant=workspace, created_by=staff, **hold)
    return [reason for _hold, reason in hold_coverage_reasons(
        tenant_id=workspace.pk, target=target, target_type=target.scope, datastore=store)]


def subject(pid: int) -> Target:
    return Target("subject", str(pid), "1")


class TestEachRule:
    def test_a_hold_naming_the_target_covers_it(self, workspace, store):
        """Subject 99 has no rows yet (litigation can precede data): only the name matches."""
        assert why(workspace, store, subject(99), scope_type="subject", scope_id="99") == [
            COVERS_BY_NAME]

    def test_a_hold_naming_the_tenant_covers_everything_in_it(self, workspace, store):
        """Whatever id the tenant hold carries, it holds the tenant it was placed in."""
        assert why(workspace, store, subject(13), scope_type="tenant", scope_id="acme") == [
            COVERS_BY_TENANT]

    def test_a_hold_on_something_the_target_reaches_covers_it(self, workspace, store):
        """A purge of issuer 1 reaches Hank (12), who is held."""
        assert why(workspace, store, Target("issuer", "1", "1"), scope_type="subject",
                   scope_id="12") == ["the target reaches the held subject"]

    def test_a_hold_on_something_that_reaches_the_target_covers_it(self, workspace, store):
        """Issuer 1 is held; erasing Hank (12), who signs in through it, would change its data."""
        assert why(workspace, store, subject(12), scope_type="issuer", scope_id="1") == [
            "the held issuer reaches the target"]

    def test_a_hold_sharing_rows_with_the_target_covers_it(self, workspace, store):
        """Hank (12) is held; Erin (11) is the actor of an activity row about him."""
        assert why(workspace, store, subject(11), scope_type="subject", scope_id="12") == [
            "the held subject shares rows with the target"]


class TestIdentityHolds:
    """A hold naming a person by an identity field ("email <address>"), resolved by the
    datastore: Erin is erin@example.com (11), Root root@example.com (13)."""

    def test_it_covers_the_person_it_names(self, workspace, store):
        assert why(workspace, store, subject(11), scope_type="identity",
                   scope_id="email Erin@Example.com") == ["it names this person by identity"]

    def test_it_covers_a_target_that_reaches_the_person(self, workspace, store):
        """A purge of issuer 1 reaches Erin, who signs in through it."""
        assert why(workspace, store, Target("issuer", "1", "1"), scope_type="identity",
                   scope_id="email erin@example.com") == [
            "the target reaches the person it names by identity"]

    def test_it_leaves_other_people_alone(self, workspace, store):
        """Root shares no rows with Erin."""
        assert why(workspace, store, subject(13), scope_type="identity",
                   scope_id="email erin@example.com") == []

    def test_a_value_with_spaces_is_read_whole(self, workspace, store, database_url):
        """Only the first space separates the field from the value."""
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE people SET employee_id = 'E 11 B' WHERE id = 11"))
        engine.dispose()
        assert why(workspace, store, subject(11), scope_type="identity",
                   scope_id="employee_id E 11 B") == ["it names this person by identity"]

    def test_an_address_nobody_has_covers_no_one(self, workspace, store):
        assert why(workspace, store, subject(11), scope_type="identity",
                   scope_id="email nobody@example.com") == []


class TestNotCovered:
    """The same holds leave unrelated targets alone, so the rules above are not 'always yes'."""

    @pytest.mark.parametrize(("target", "hold"), [
        (subject(13), {"scope_type": "subject", "scope_id": "99"}),
        (subject(13), {"scope_type": "issuer", "scope_id": "1"}),
        (subject(13), {"scope_type": "subject", "scope_id": "12"}),
        (Target("issuer", "1", "1"), {"scope_type": "subject", "scope_id": "13"}),
    ], ids=["other-name", "issuer-of-others", "no-shared-rows", "issuer-without-him"])
    def test_unrelated_holds_do_not_cover(self, workspace, store, target, hold):
        assert why(workspace, store, target, **hold) == []

    def test_another_tenant_s_holds_do_not_cover(self, workspace, store, other_tenant):
        staff = factories.user_create(is_staff=True)
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_type="tenant",
                              scope_id="2")
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_id="12")
        assert hold_coverage_reasons(tenant_id=workspace.pk, target=subject(12),
                                     target_type="subject", datastore=store) == []
