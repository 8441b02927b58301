"""(b) A newsletter service: API-key header, page numbers, Link headers, DELETE, 429s."""

from __future__ import annotations

import copy
import logging
import time
from itertools import pairwise
from pathlib import Path

import pytest

from privacyops.connectors.base import ConnectorError, Target
from privacyops.connectors.http import load_http_connector
from tests.connectors.http.conftest import ALICE, NEWSLETTER_KEY, NEWSLETTER_MAP, write_map
from tests.connectors.http.services import Newsletter

ALICE_ID = Target("subject", "s1", None)


def test_export_follows_link_headers_and_sends_the_api_key(
        newsletter: Newsletter, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, NEWSLETTER_MAP), tenant_key=None)

    assert connector.resolve_identity({"email": ALICE}, None) == ["s1"]
    sections = {s.name: list(s.rows) for s in connector.iter_export(ALICE_ID)}

    assert sections["subscribers"] == [{"id": "s1", "email": ALICE.lower(),
                                        "first_name": "Alice"}]
    assert [r["list"] for r in sections["subscriptions"]] == [f"list-{i}" for i in range(1, 6)]
    pages = newsletter.requests_to("GET", "/v1/subscriptions")
    assert [p.query.get("offset") for p in pages] == [None, "2", "4"]
    assert all(s.headers["X-Api-Key"] == NEWSLETTER_KEY for s in newsletter.seen)
    searches = newsletter.requests_to("GET", "/v1/subscribers")
    assert searches[0].query == {"email": ALICE.lower(), "page": "1", "per_page": "2"}


def test_page_numbers_go_on_until_a_short_page(newsletter: Newsletter, tmp_path: Path) -> None:
    # Five subscriber records with Alice's email: pages 1, 2 (full) and 3 (one record).
    for i in range(3, 6):
        newsletter.subscribers[f"s{i}"] = {"id": f"s{i}", "email": ALICE, "first_name": "A"}
    connector = load_http_connector(write_map(tmp_path, NEWSLETTER_MAP), tenant_key=None)

    assert connector.resolve_identity({"email": ALICE}, None) == ["s1", "s3", "s4", "s5"]
    assert [s.query["page"] for s in newsletter.requests_to("GET", "/v1/subscribers")] == \
        ["1", "2", "3"]


def test_erase_deletes_and_honours_retry_after(
        newsletter: Newsletter, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    connector = load_http_connector(write_map(tmp_path, NEWSLETTER_MAP), tenant_key=None)
    carol = copy.deepcopy(newsletter.subscribers["s2"]), newsletter.subscriptions["subc"]
    newsletter.throttle = 2  # the next two requests answer 429 with Retry-After: 1
    caplog.set_level(logging.DEBUG, logger="privacyops")

    result = connector.erase(ALICE_ID)

    assert result.by_table() == {"subscriptions": 5, "subscribers": 1}
    assert "s1" not in newsletter.subscribers
    assert [k for k, v in newsletter.subscriptions.items() if v["subscriber"] == "s1"] == []
    assert (newsletter.subscribers["s2"], newsletter.subscriptions["subc"]) == carol
    statuses = [s.status for s in newsletter.seen]
    assert statuses[:3] == [429, 429, 200]
    # The service asked for 1 s: the retries waited at least that long.
    assert newsletter.seen[1].at - newsletter.seen[0].at >= 0.95
    assert newsletter.seen[2].at - newsletter.seen[1].at >= 0.95
    assert "retrying in 1.0 s" in caplog.text
    assert connector.verify_erased(ALICE_ID, {"email": ALICE}) == []
    # Erasing again: the subject is gone, nothing left to delete.
    assert connector.erase(ALICE_ID).by_table() == {"subscriptions": 0, "subscribers": 0}


def test_verify_reports_records_a_delete_left(newsletter: Newsletter, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, NEWSLETTER_MAP), tenant_key=None)
    connector.erase(ALICE_ID)
    newsletter.subscriptions["late"] = {"id": "late", "subscriber": "s1", "list": "x",
                                        "since": "2024-09-09"}

    assert connector.verify_erased(ALICE_ID, {"email": ALICE}) == [
        "newsletter: endpoint subscriptions still holds 1 record(s) of the subject; ERASE "
        "deletes them"]


def test_a_service_that_keeps_throttling_fails_with_a_clear_sentence(
        newsletter: Newsletter, tmp_path: Path) -> None:
    data = copy.deepcopy(NEWSLETTER_MAP)
    data["behaviour"] = {"retries": 2, "max_backoff_seconds": 0.1}
    newsletter.throttle = 100
    newsletter.retry_after = "30"  # capped by max_backoff_seconds
    connector = load_http_connector(write_map(tmp_path, data), tenant_key=None)

    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        connector.resolve_identity({"email": ALICE}, None)

    assert str(caught.value) == (
        "newsletter: GET /v1/subscribers kept failing after 3 attempt(s) (last: 429 Too Many "
        "Requests); the service is down or limiting requests, try the job again later (raise "
        "behaviour.retries or behaviour.timeout_seconds in the map if it is only slow)")
    assert len(newsletter.seen) == 3
    assert time.monotonic() - started < 5


def test_the_rate_limit_spaces_requests(newsletter: Newsletter, tmp_path: Path) -> None:
    data = copy.deepcopy(NEWSLETTER_MAP)
    data["name"] = "newsletter-slow"  # its own limiter
    data["behaviour"] = {"rate_limit_per_second": 5}
    connector = load_http_connector(write_map(tmp_path, data), tenant_key=None)

    sections = {s.name: list(s.rows) for s in connector.iter_export(ALICE_ID)}

    assert len(sections["subscriptions"]) == 5
    times = [s.at for s in newsletter.seen]
    assert len(times) == 4  # the subscriber, then three pages
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 0.18, gaps


def test_a_next_link_to_another_host_is_refused(newsletter: Newsletter, tmp_path: Path) -> None:
    newsletter.base_url = "http://elsewhere.example"
    connector = load_http_connector(write_map(tmp_path, NEWSLETTER_MAP), tenant_key=None)

    with pytest.raises(ConnectorError, match="points the next page at another host"):
        [list(s.rows) for s in connector.iter_export(ALICE_ID)]


def test_an_erase_after_the_subject_is_deleted_still_finds_late_records(
        newsletter: Newsletter, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, NEWSLETTER_MAP), tenant_key=None)
    connector.erase(ALICE_ID)
    newsletter.subscriptions["late"] = {"id": "late", "subscriber": "s1", "list": "x",
                                        "since": "2024-09-09"}

    assert connector.erase(ALICE_ID).by_table() == {"subscriptions": 1, "subscribers": 0}
    assert "late" not in newsletter.subscriptions
    assert connector.verify_erased(ALICE_ID, {"email": ALICE}) == []
