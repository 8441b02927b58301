"""The hold guard in front of every destructive write, against a small real datastore.

People 10 to 13 live in workspace 1: Erin (11) and Hank (12) sign in through SSO issuer 1,
so the issuer reaches them; activity row 2 names Erin as actor and Hank as subject, so the
two share rows; Root (13) shares nothing with anyone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import load_datamap
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.execution.guards import covering_holds, hold_guard, refuse_if_held
from privacyops.holds.services import hold_intent
from privacyops.jobs.models import JobStatus
from tests import factories
from tests.connectors.conftest import HASH_KEY
from tests.connectors.test_sql_demo import DEMO_DATAMAP, build_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def datastore(tmp_path) -> Iterator[SqlDatastore]:
    url = f"sqlite:///{tmp_path / 'guarded.sqlite3'}"
    build_demo(url)
    store = SqlDatastore(load_datamap(DEMO_DATAMAP), url, hash_key=HASH_KEY)
    yield store
    store.close()


def subject(pid: int) -> Target:
    return Target("subject", str(pid), "1")


def covered_by(tenant, target: Target, datastore) -> list[int]:
    return [h.pk for h in covering_holds(tenant_id=tenant.pk, target=target,
                                         target_type=target.scope, datastore=datastore)]


class TestCoveringHolds:
    def test_nothing_covers_an_unheld_target(self, tenant, datastore):
        assert covered_by(tenant, subject(11), datastore) == []

    def test_a_hold_on_the_target_itself(self, tenant, staff, datastore):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="13")
        assert covered_by(tenant, subject(13), datastore) == [hold.pk]
        assert covered_by(tenant, subject(13), None) == [hold.pk]
        assert covered_by(tenant, subject(10), datastore) == []

    def test_a_hold_on_someone_the_target_reaches(self, tenant, staff, datastore):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="12")
        issuer = Target("issuer", "1", "1")
        assert covered_by(tenant, issuer, datastore) == [hold.pk]
        # Without the data map only direct holds count.
        assert covered_by(tenant, issuer, None) == []

    def test_a_hold_on_something_that_reaches_the_target(self, tenant, staff, datastore):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_type="issuer",
                                     scope_id="1")
        assert covered_by(tenant, subject(12), datastore) == [hold.pk]
        assert covered_by(tenant, subject(13), datastore) == []
        assert covered_by(tenant, subject(12), None) == []

    def test_a_hold_on_someone_the_target_shares_rows_with(self, tenant, staff, datastore):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="11")
        assert covered_by(tenant, subject(12), datastore) == [hold.pk]
        assert covered_by(tenant, subject(13), datastore) == []

    def test_holds_of_another_tenant_never_cover(self, tenant, other_tenant, staff, datastore):
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_id="12")
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_type="tenant",
                              scope_id=str(other_tenant.pk))
        assert covered_by(tenant, subject(12), datastore) == []

    def test_released_and_expired_holds_do_not_cover(self, tenant, staff, datastore):
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="12", active=False)
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="12",
                              expires_at=timezone.now() - timedelta(seconds=1))
        assert covered_by(tenant, subject(12), datastore) == []


class TestRefuseIfHeld:
    def test_the_first_covering_hold_is_named_with_what_to_do(self, tenant, staff, datastore):
        first = factories.hold_create(tenant=tenant, created_by=staff, scope_id="11",
                                      reason="Litigation 2026-7")
        factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                              scope_id=str(tenant.pk))
        with pytest.raises(JobBlocked) as blocked:
            refuse_if_held(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                           datastore=datastore)
        assert (blocked.value.code, blocked.value.hold_id) == ("legal_hold", first.pk)
        assert blocked.value.message == (
            f"Blocked by legal hold #{first.pk} on subject 11 (Litigation 2026-7): it names this "
            "target. Release the hold (Legal holds tab) before erasing or purging this data.")

    def test_an_unheld_target_passes(self, tenant, datastore):
        refuse_if_held(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                       datastore=datastore)


class TestHoldGuard:
    def leased_job(self, tenant, *, owner="worker-1", seconds=60):
        return factories.job_create(
            tenant=tenant, status=JobStatus.PROCESSING, lease_owner=owner,
            lease_expires_at=timezone.now() + timedelta(seconds=seconds))

    def test_lets_the_write_through_when_nothing_holds_it(self, tenant, datastore):
        job = self.leased_job(tenant)
        entered = []
        with hold_guard(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                        datastore=datastore, job_id=job.pk, worker="worker-1"):
            entered.append(True)
        assert entered == [True]

    def test_a_hold_stops_the_write_before_it_starts(self, tenant, staff, datastore):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="12")
        job = self.leased_job(tenant)
        entered = []
        with pytest.raises(JobBlocked) as blocked:
            with hold_guard(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                            datastore=datastore, job_id=job.pk, worker="worker-1"):
                entered.append(True)
        assert entered == []
        assert blocked.value.hold_id == hold.pk

    @pytest.mark.parametrize(("owner", "seconds"), [("worker-2", 60), ("worker-1", -1)])
    def test_a_lost_lease_stops_the_write(self, tenant, datastore, owner, seconds):
        job = self.leased_job(tenant, owner=owner, seconds=seconds)
        entered = []
        with pytest.raises(LeaseLost) as lost:
            with hold_guard(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                            datastore=datastore, job_id=job.pk, worker="worker-1"):
                entered.append(True)
        assert entered == []
        assert lost.value.args == (job.pk,)

    def test_a_hold_naming_the_target_stops_the_write(self, tenant, staff, datastore):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="13")
        with pytest.raises(JobBlocked) as blocked:
            with hold_guard(tenant_id=tenant.pk, target=subject(13), target_type="subject",
                            datastore=datastore):
                pass
        assert blocked.value.hold_id == hold.pk

    def test_a_hold_being_placed_goes_first(self, tenant, datastore):
        """While a hold waits for the tenant's lock (SQLite), destructive writes wait for it."""
        order: list[str] = []
        announced = threading.Event()

        def place() -> None:
            with hold_intent(tenant.pk):
                announced.set()
                time.sleep(2)
                order.append("hold placed")

        placing = threading.Thread(target=place)
        placing.start()
        assert announced.wait(timeout=30)
        with hold_guard(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                        datastore=datastore):
            order.append("write")
        placing.join(timeout=30)
        expected = ["hold placed", "write"] if connection.vendor == "sqlite" else [
            "write", "hold placed"]
        assert order == expected

    def test_without_a_job_only_holds_are_checked(self, tenant, datastore):
        entered = []
        with hold_guard(tenant_id=tenant.pk, target=subject(11), target_type="subject",
                        datastore=datastore):
            entered.append(True)
        assert entered == [True]
