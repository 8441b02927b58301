"""Retention, keep and record-of-processing keys of a data map: validated, errors with paths."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine

from privacyops.datamap import DataMapError, parse_datamap
from privacyops.datamap.schema import Duration
from tests.datamap.test_live import MAP, _by_path, _check, _schema
from tests.fixtures.shop.builder import SHARED_DATAMAP


@pytest.fixture
def shop() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SHARED_DATAMAP.read_text())
    return copy.deepcopy(data)


@pytest.fixture
def live_url(database_url: str) -> str:
    engine = create_engine(database_url)
    _schema().create_all(engine)
    engine.dispose()
    return database_url


def issues_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DataMapError) as raised:
        parse_datamap(data)
    return dict(raised.value.issues)


def test_a_full_rule_loads(shop: dict[str, Any]) -> None:
    orders = shop["entities"]["orders"]
    orders["retention"] = {"after": "730d", "from": "placed_at", "action": "erase",
                           "where": [{"column": "status", "op": "=", "value": "closed"},
                                     {"column": "customer_ip", "op": "is not null"}]}
    orders["keep"] = {"for": "10y", "from": "placed_at", "reason": "tax records (HGB §257)"}
    orders["purposes"] = ["order fulfilment", "accounting"]
    orders["legal_basis"] = "Art. 6(1)(b) contract"
    orders["recipients"] = "payment provider"

    spec = parse_datamap(shop).entities["orders"]

    assert spec.retention is not None
    assert spec.keep is not None
    assert spec.retention.describe() == (
        "erase 730d after placed_at where status = 'closed' where customer_ip is not null")
    assert spec.keep.describe() == "kept 10y after placed_at (tax records (HGB §257))"
    assert spec.recipients == ["payment provider"]


def test_a_keep_rule_alone_implies_deleting_the_rows_when_it_ends(shop: dict[str, Any]) -> None:
    shop["entities"]["orders"]["keep"] = {"for": "10y", "from": "placed_at", "reason": "tax"}
    datamap = parse_datamap(shop)
    rule = datamap.entities["orders"].effective_retention
    assert rule is not None
    assert (str(rule.after), rule.from_, rule.action) == (
        "10y", "placed_at", "purge")
    assert datamap.retention_entities() == ["orders"]


def test_errors_name_the_path_and_the_fix(shop: dict[str, Any]) -> None:
    entities = shop["entities"]
    entities["orders"]["retention"] = {
        "after": "2 years", "from": "placed_at", "action": "archive",
        "where": [{"column": "status", "op": "LIKE", "value": "c%"},
                  {"column": "status", "op": "in", "value": "closed"},
                  {"column": "status; DROP TABLE orders", "value": 1},
                  {"column": "status", "op": "is null", "value": "x"}]}
    entities["addresses"]["keep"] = {"for": "10y", "from": "city"}
    issues = issues_of(shop)
    assert "is not a period" in issues["entities.orders.retention.after"]
    assert "'purge' or 'erase'" in issues["entities.orders.retention.action"]
    assert "is not an operator" in issues["entities.orders.retention.where[0].op"]
    assert "non-empty list" in issues["entities.orders.retention.where[1]"]
    assert "plain SQL identifier" in issues["entities.orders.retention.where[2].column"]
    assert "takes no value" in issues["entities.orders.retention.where[3]"]
    assert "required" in issues["entities.addresses.keep.reason"]


def test_rules_that_could_not_work_are_refused(shop: dict[str, Any]) -> None:
    entities = shop["entities"]
    entities["order_items"]["retention"] = {"after": "30d", "from": "id", "action": "erase"}
    entities["order_items"]["keep"] = {"for": "1y", "from": "id", "reason": "x"}
    entities["orders"]["retention"] = {"after": "30d", "from": "shop_id"}
    issues = issues_of(shop)
    assert "none is declared" in issues["entities.order_items.retention.action"]
    assert "none is declared" in issues["entities.order_items.keep"]
    assert "tenant column" in issues["entities.orders.retention"]


def test_years_are_calendar_years() -> None:
    ten = Duration.parse("10y")
    assert ten.before(datetime(2036, 2, 29, 12, tzinfo=UTC)) == datetime(2026, 2, 28, 12,
                                                                           tzinfo=UTC)
    assert Duration.parse("2w").before(datetime(2026, 1, 15, tzinfo=UTC)).day == 1


def test_live_check_names_missing_rule_columns(live_url: str) -> None:
    data = copy.deepcopy(MAP)
    data["entities"]["orders"]["retention"] = {
        "after": "30d", "from": "placed_at",
        "where": [{"column": "total_cents", "op": ">", "value": 0},
                  {"column": "state", "value": "closed"}]}
    data["entities"]["orders"]["keep"] = {"for": "10y", "from": "paid_at", "reason": "tax"}
    data["entities"]["orders"]["fields"]["total_cents"]["erase"] = {"set": 0}
    problems = _by_path(_check(data, live_url).problems)
    assert "has no column 'placed_at'" in problems["entities.orders.retention.from"].message
    assert "has no column 'state'" in problems["entities.orders.retention.where[1].column"].message
    assert "has no column 'paid_at'" in problems["entities.orders.keep.from"].message
    assert "entities.orders.retention.where[0].column" not in problems
