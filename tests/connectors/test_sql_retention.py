"""Retention rules and keep rules on the shop fixture (SQLite, PostgreSQL and MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import parse_datamap
from tests.connectors.conftest import HASH_KEY, fetch_rows
from tests.fixtures.shop.builder import BASE_TIME, SHARED_DATAMAP, build_shop

SHOP_1 = Target(scope="tenant", id="1", tenant_key="1")
# Ticket of customer 101 (shop 1) was created at BASE_TIME + 1 day + 5 hours.
TICKET_1011_AT = BASE_TIME + timedelta(days=1, hours=5)
TAX_KEEP = {"for": "10y", "from": "placed_at", "reason": "tax records (HGB §257)"}


def shop_map(**entities: dict[str, Any]) -> Any:
    data = yaml.safe_load(SHARED_DATAMAP.read_text())
    for name, extra in entities.items():
        data["entities"][name].update(extra)
    return parse_datamap(data)


@pytest.fixture
def url(database_url: str) -> str:
    engine = create_engine(database_url)
    build_shop(engine)
    engine.dispose()
    return database_url


def store_for(url: str, **entities: dict[str, Any]) -> SqlDatastore:
    return SqlDatastore(shop_map(**entities), url, hash_key=HASH_KEY)


@pytest.fixture
def closes() -> Iterator[list[SqlDatastore]]:
    opened: list[SqlDatastore] = []
    yield opened
    for store in opened:
        store.close()


def ids(url: str, table: str, shop: int | None = 1) -> set[int]:
    return {k for k, row in fetch_rows(url, table).items()
            if shop is None or row["shop_id"] == shop}


def run(store: SqlDatastore, entity: str, now: datetime, *, held: list[Target] | None = None,
        dry_run: bool = False, tenant: str = "1", chunk_size: int = 1000) -> Any:
    return store.retention(entity, tenant_key=tenant, now=now, held_now=lambda: held or [],
                           dry_run=dry_run, chunk_size=chunk_size)


TICKETS_30D = {"retention": {"after": "30d", "from": "created_at", "action": "purge"}}


class TestBoundaries:
    def test_a_row_exactly_the_retention_age_old_goes_one_second_younger_stays(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, support_tickets=TICKETS_30D)
        closes.append(store)
        young = run(store, "support_tickets", TICKET_1011_AT + timedelta(days=30, seconds=-1))
        assert young.rows_removed == 0
        assert 1011 in ids(url, "support_tickets")

        exact = run(store, "support_tickets", TICKET_1011_AT + timedelta(days=30))
        assert exact.deleted == {"support_tickets": 1}
        assert ids(url, "support_tickets") == {1021, 1031}
        assert ids(url, "support_tickets", shop=2) == {2011, 2021, 2031}  # other tenant untouched

    def test_dry_run_counts_what_the_run_then_removes(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, orders={"retention": {"after": "1y", "from": "placed_at"}})
        closes.append(store)
        now = BASE_TIME + timedelta(days=367, hours=12)  # orders of customers 101 and 102
        preview = run(store, "orders", now, dry_run=True)
        assert preview.dry_run
        assert preview.due == 4
        assert preview.deleted == {"support_tickets": 2, "order_items": 8, "orders": 4}
        assert ids(url, "orders") == {1011, 1012, 1021, 1022, 1031, 1032}

        done = run(store, "orders", now, chunk_size=3)  # chunked: several transactions
        assert done.deleted == preview.deleted
        assert ids(url, "orders") == {1031, 1032}
        assert ids(url, "order_items") == {10311, 10312, 10321, 10322}
        assert run(store, "orders", now).rows_removed == 0  # a second run finds nothing

    def test_where_filter_selects_only_matching_rows(
            self, url: str, closes: list[SqlDatastore]) -> None:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE orders SET status = 'closed' WHERE id IN (1011, 1031)"))
        engine.dispose()
        store = store_for(url, orders={"retention": {
            "after": "730d", "from": "placed_at",
            "where": [{"column": "status", "op": "in", "value": ["closed", "refunded"]}]}})
        closes.append(store)
        result = run(store, "orders", datetime(2030, 1, 1, tzinfo=UTC))
        assert result.due == 2
        assert result.deleted["orders"] == 2
        assert ids(url, "orders") == {1012, 1021, 1022, 1032}


class TestHolds:
    def test_held_rows_are_skipped_and_counted(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, orders={"retention": {"after": "1y", "from": "placed_at"}})
        closes.append(store)
        held = [Target(scope="subject", id="101", tenant_key="1")]
        result = run(store, "orders", datetime(2030, 1, 1, tzinfo=UTC), held=held)
        assert result.due == 6
        assert result.held == 2
        assert ids(url, "orders") == {1011, 1012}
        assert ids(url, "order_items") == {10111, 10112, 10121, 10122}

    def test_rows_with_an_empty_pointer_are_not_taken_for_held(
            self, url: str, closes: list[SqlDatastore]) -> None:
        engine = create_engine(url)
        with engine.begin() as conn:  # a ticket about no order: its order_id is NULL
            conn.execute(text("UPDATE support_tickets SET order_id = NULL WHERE id = 1021"))
        engine.dispose()
        store = store_for(url, support_tickets=TICKETS_30D)
        closes.append(store)
        held = [Target(scope="subject", id="101", tenant_key="1")]
        result = run(store, "support_tickets", datetime(2030, 1, 1, tzinfo=UTC), held=held)
        assert result.held == 1
        assert result.deleted == {"support_tickets": 2}
        assert ids(url, "support_tickets") == {1011}

    def test_a_tenant_hold_stops_everything(self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, orders={"retention": {"after": "1y", "from": "placed_at"}})
        closes.append(store)
        result = run(store, "orders", datetime(2030, 1, 1, tzinfo=UTC), held=[SHOP_1])
        assert result.held == 6
        assert result.rows_removed == 0
        assert len(ids(url, "orders")) == 6

    def test_a_hold_placed_during_the_run_stops_the_next_chunk(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, support_tickets=TICKETS_30D)
        closes.append(store)
        holds: list[Target] = []

        def held_now() -> list[Target]:
            current = list(holds)
            holds.append(Target(scope="subject", id="103", tenant_key="1"))
            return current

        result = store.retention("support_tickets", tenant_key="1",
                                 now=datetime(2030, 1, 1, tzinfo=UTC), held_now=held_now,
                                 chunk_size=1)
        assert ids(url, "support_tickets") == {1031}
        assert result.held == 1
        assert result.deleted == {"support_tickets": 2}


class TestErase:
    def test_erase_rule_rewrites_fields_with_a_pseudonym_per_row(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, customers={"retention": {
            "after": "2y", "from": "created_at", "action": "erase",
            "where": [{"column": "status", "op": "=", "value": "active"}]}})
        closes.append(store)
        now = BASE_TIME + timedelta(days=2 + 730)  # customers 101 and 102 (2025 is no leap year)
        preview = run(store, "customers", now, dry_run=True)
        assert preview.erased == {"customers": 2}
        result = run(store, "customers", now, chunk_size=1)
        assert result.erased == {"customers": 2}
        rows = fetch_rows(url, "customers")
        assert rows[101]["email"] == "erased-101@shop.invalid"
        assert rows[102]["email"] == "erased-102@shop.invalid"
        assert rows[102]["full_name"] == "Erased customer"
        assert rows[102]["erased_at"] is not None
        assert rows[103]["email"] == "customer3.shop1@example.com"
        assert len(ids(url, "orders")) == 6  # erase deletes nothing


class TestKeepRules:
    def test_tenant_purge_without_keep_deletes_every_order(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url)
        closes.append(store)
        store.purge(SHOP_1)
        assert ids(url, "orders") == set()
        assert ids(url, "customers") == set()

    def test_tenant_purge_with_keep_leaves_orders_anonymised(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, orders={"keep": TAX_KEEP})
        closes.append(store)
        preview = store.purge(SHOP_1, dry_run=True)
        assert preview.anonymised == {"customers": 3, "orders": 6}
        result = store.purge(SHOP_1)

        assert result.anonymised == {"customers": 3, "orders": 6}
        orders = {k: r for k, r in fetch_rows(url, "orders").items() if r["shop_id"] == 1}
        assert set(orders) == {1011, 1012, 1021, 1022, 1031, 1032}
        assert all(len(r["customer_ip"]) == 64 for r in orders.values())  # HMAC, not the IP
        assert {r["total_cents"] for r in orders.values()} == {1000, 2000}  # the record stays
        customers = {k: r for k, r in fetch_rows(url, "customers").items() if r["shop_id"] == 1}
        assert {r["email"] for r in customers.values()} == {
            "erased-101@shop.invalid", "erased-102@shop.invalid", "erased-103@shop.invalid"}
        assert ids(url, "order_items") == set()
        assert ids(url, "addresses") == set()
        assert ids(url, "support_tickets") == set()
        assert len(ids(url, "orders", shop=2)) == 6  # the other shop untouched
        assert fetch_rows(url, "customers")[201]["email"] == "customer1.shop2@example.com"

    def test_subject_purge_keeps_only_records_inside_their_period(
            self, url: str, closes: list[SqlDatastore]) -> None:
        engine = create_engine(url)
        with engine.begin() as conn:  # one of Alice's orders is older than ten years
            conn.execute(text("UPDATE orders SET placed_at = :old WHERE id = 1021"),
                         {"old": datetime(2010, 1, 1, tzinfo=UTC)})
        engine.dispose()
        store = store_for(url, orders={"keep": TAX_KEEP})
        closes.append(store)
        store.purge(Target(scope="subject", id="102", tenant_key="1"))
        assert 1021 not in ids(url, "orders")
        assert 1022 in ids(url, "orders")
        assert fetch_rows(url, "customers")[102]["email"] == "erased-102@shop.invalid"

    def test_the_keep_rule_deletes_the_rows_once_the_period_ends(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, orders={"keep": TAX_KEEP})
        closes.append(store)
        store.purge(SHOP_1)
        first_order = BASE_TIME + timedelta(days=1, hours=1)
        inside = run(store, "orders", first_order.replace(year=2035) - timedelta(seconds=1))
        assert inside.rows_removed == 0
        ended = run(store, "orders", first_order.replace(year=2035))
        assert ended.deleted["orders"] == 1
        assert ids(url, "orders") == {1012, 1021, 1022, 1031, 1032}

    def test_a_retention_rule_leaves_rows_inside_a_keep_period(
            self, url: str, closes: list[SqlDatastore]) -> None:
        store = store_for(url, orders={
            "keep": TAX_KEEP, "retention": {"after": "1y", "from": "placed_at"}})
        closes.append(store)
        result = run(store, "orders", datetime(2030, 1, 1, tzinfo=UTC))
        assert result.due == 6
        assert result.kept == 6
        assert result.rows_removed == 0
