"""The response deadline: one calendar month from receipt, across month ends, leap years and
time zones; the one extension, by up to two further months.

Oracles: dateutil's relativedelta (an independent calendar computation) and a hand table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacyops.intake.lifecycle import add_months, response_deadline
from privacyops.tenancy.models import Tenant

# The intake folder's autouse fixture empties the (database) cache around every test.
pytestmark = pytest.mark.django_db
FIXTURES_OK = [HealthCheck.function_scoped_fixture]

ZONES = ["UTC", "Europe/Berlin", "Europe/Lisbon", "America/New_York", "Asia/Kolkata",
         "Pacific/Auckland", "Pacific/Kiritimati", "America/St_Johns"]


def workspace(days: int = 30) -> Tenant:
    return Tenant(slug="acme", name="Acme", response_deadline_days=days)  # not saved: pure


@settings(max_examples=400, deadline=None, suppress_health_check=FIXTURES_OK)
@given(moment=st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2100, 12, 31),  # noqa: DTZ001
                           timezones=st.sampled_from([ZoneInfo(z) for z in ZONES])),
       months=st.integers(min_value=0, max_value=3))
def test_add_months_agrees_with_relativedelta(moment, months):
    assert add_months(moment, months) == moment + relativedelta(months=months)


@settings(max_examples=300, deadline=None, suppress_health_check=FIXTURES_OK)
@given(received=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 1),  # noqa: DTZ001
                             timezones=st.just(UTC)),
       zone=st.sampled_from(ZONES))
def test_the_deadline_is_one_calendar_month_in_the_workspace_zone(received, zone):
    local = received.astimezone(ZoneInfo(zone))
    deadline = response_deadline(received, workspace(), ZoneInfo(zone))
    expected = local + relativedelta(months=1)
    assert deadline == expected


@pytest.mark.parametrize(("received", "deadline"), [
    ("2024-01-31 10:00", "2024-02-29 10:00"),  # leap year: the last day of February
    ("2023-01-31 10:00", "2023-02-28 10:00"),
    ("2024-02-29 10:00", "2024-03-29 10:00"),
    ("2026-03-31 10:00", "2026-04-30 10:00"),
    ("2026-12-31 23:59", "2027-01-31 23:59"),  # over the year end
    ("2026-05-15 00:00", "2026-06-15 00:00"),
])
def test_month_ends_and_leap_years_by_hand(received, deadline):
    at = datetime.fromisoformat(received).replace(tzinfo=UTC)
    assert response_deadline(at, workspace(), UTC) == datetime.fromisoformat(deadline).replace(
        tzinfo=UTC)


def test_the_zone_decides_which_day_is_received():
    # 23:30 UTC on 31 January is already 1 February in Berlin: the month runs to 1 March there.
    at = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    berlin = response_deadline(at, workspace(), ZoneInfo("Europe/Berlin"))
    assert berlin.astimezone(ZoneInfo("Europe/Berlin")).isoformat() == "2026-03-01T00:30:00+01:00"
    assert response_deadline(at, workspace(), UTC) == datetime(2026, 2, 28, 23, 30, tzinfo=UTC)


def test_a_shorter_workspace_setting_counts_days():
    at = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert response_deadline(at, workspace(21), UTC) == at + timedelta(days=21)
