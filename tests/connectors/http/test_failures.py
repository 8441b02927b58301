"""(c) A service that fails mid-erase, timeouts, and what messages and logs never contain."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import pytest

from privacyops.connectors.base import ConnectorError, Target
from privacyops.connectors.http import load_http_connector
from tests.connectors.http.conftest import (
    ALICE,
    LOYALTY_MAP,
    LOYALTY_PASSWORD,
    LOYALTY_USER,
    write_map,
)
from tests.connectors.http.services import Loyalty, Seen, basic

ALICE_ID = Target("subject", "m1", None)
# What a finished ERASE leaves, written out by hand: Alice's member record masked (the fields
# the map does not erase untouched), her three cards deleted, Dan untouched.
ERASED_MEMBERS = {
    "m1": {"id": "m1", "email": "erased-m1@erased.local", "iban": None, "points": 0,
           "tier": "gold"},
    "m2": {"id": "m2", "email": "dan@example.com", "iban": "DE89370400440532013000",
           "points": 10, "tier": "basic"},
}
ERASED_CARDS = {"kd": {"id": "kd", "member_id": "m2", "number": "4000-9999"}}


def test_an_erase_that_fails_half_way_is_finished_by_the_next_one(
        loyalty: Loyalty, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    connector = load_http_connector(write_map(tmp_path, LOYALTY_MAP), tenant_key=None)
    loyalty.broken = "k2"  # deleting the second card answers 500
    members_before = copy.deepcopy(loyalty.members)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ConnectorError) as caught:
        connector.erase(ALICE_ID)

    assert str(caught.value).startswith(
        "loyalty: DELETE /cards/{id} kept failing after 2 attempt(s) (last: 500 Internal Server "
        "Error)")
    assert sorted(loyalty.cards) == ["k2", "k3", "kd"]  # the first card is gone
    assert loyalty.members == members_before  # the member record is erased last

    loyalty.broken = None
    result = connector.erase(ALICE_ID)

    assert result.by_table() == {"cards": 2, "members": 1}
    assert loyalty.members == ERASED_MEMBERS
    assert loyalty.cards == ERASED_CARDS
    assert connector.verify_erased(ALICE_ID, {"email": ALICE}) == []
    assert connector.erase(ALICE_ID).by_table() == {"cards": 0, "members": 0}
    assert loyalty.members == ERASED_MEMBERS
    # PUT sent the whole record (the service refuses a partial one with 422).
    put = loyalty.requests_to("PUT", "/members/m1")
    assert [p.status for p in put] == [200]
    assert put[0].headers["Authorization"] == basic(LOYALTY_USER, LOYALTY_PASSWORD)
    # Neither the message nor the logs hold a secret, an email or a query string.
    everything = str(caught.value) + caplog.text
    for leak in (LOYALTY_PASSWORD, basic(LOYALTY_USER, LOYALTY_PASSWORD).split()[1],
                 "alice", "@example.com", "?", "email=", "127.0.0.1"):
        assert leak not in everything.lower(), leak
    assert "loyalty: DELETE /cards/{id}: 500 Internal Server Error, attempt 1 of 2" in caplog.text


def test_an_erase_in_one_go_gives_the_same_end_state(loyalty: Loyalty, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, LOYALTY_MAP), tenant_key=None)

    assert connector.erase(ALICE_ID).by_table() == {"cards": 3, "members": 1}
    assert (loyalty.members, loyalty.cards) == (ERASED_MEMBERS, ERASED_CARDS)


def test_before_commit_runs_before_the_first_write_and_can_stop_it(
        loyalty: Loyalty, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, LOYALTY_MAP), tenant_key=None)
    before = copy.deepcopy((loyalty.members, loyalty.cards))

    class HoldPlaced(Exception):
        pass

    def refuse() -> None:
        raise HoldPlaced

    with pytest.raises(HoldPlaced):
        connector.erase(ALICE_ID, before_commit=refuse)

    assert (loyalty.members, loyalty.cards) == before
    assert [s.method for s in loyalty.seen] == ["GET", "GET"]


def test_a_service_slower_than_the_timeout(loyalty: Loyalty, tmp_path: Path) -> None:
    data = copy.deepcopy(LOYALTY_MAP)
    data["behaviour"] = {"timeout_seconds": 0.3, "retries": 1, "backoff_seconds": 0.01}

    def slow(seen: Seen) -> None:
        time.sleep(0.8)

    loyalty.before = slow
    connector = load_http_connector(write_map(tmp_path, data), tenant_key=None)

    with pytest.raises(ConnectorError) as caught:
        connector.resolve_identity({"email": ALICE}, None)

    assert str(caught.value).startswith(
        "loyalty: GET /members kept failing after 2 attempt(s) (last: no answer (timed out))")


def test_a_transient_5xx_is_retried(loyalty: Loyalty, tmp_path: Path) -> None:
    failures = [503]

    def flaky(seen: Seen) -> tuple[int, dict[str, str], object] | None:
        return (failures.pop(), {}, {"error": "busy"}) if failures else None

    loyalty.before = flaky
    connector = load_http_connector(write_map(tmp_path, LOYALTY_MAP), tenant_key=None)

    assert connector.resolve_identity({"email": ALICE}, None) == ["m1"]
    assert [s.status for s in loyalty.seen] == [503, 200]
