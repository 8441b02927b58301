"""The SQL connector against the online-shop fixture (a schema the platform did not write)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from privacyops.connectors import (
    ConnectorError,
    PreconditionsFailed,
    PurgeProgress,
    Target,
    TargetNotFound,
)
from privacyops.connectors.sql import SqlDatastore
from privacyops.connectors.sql_write import hmac_hex
from privacyops.datamap import load_datamap
from tests.connectors.conftest import HASH_KEY, fetch_rows, table_checksums
from tests.fixtures.shop.builder import SHARED_DATAMAP, ShopData, build_shop, shop_metadata

ALICE = Target(scope="subject", id="102", tenant_key="1")


@pytest.fixture
def shop(database_url: str) -> tuple[str, ShopData]:
    engine = create_engine(database_url)
    data = build_shop(engine)
    engine.dispose()
    return database_url, data


@pytest.fixture
def store(shop: tuple[str, ShopData]) -> Iterator[SqlDatastore]:
    datastore = SqlDatastore(load_datamap(SHARED_DATAMAP), shop[0], hash_key=HASH_KEY)
    yield datastore
    datastore.close()


def export(store: SqlDatastore, target: Target) -> dict[str, list[dict[str, Any]]]:
    return {section.name: list(section.rows) for section in store.iter_export(target)}


class TestExport:
    def test_every_reachable_row_and_nothing_else(self, store: SqlDatastore) -> None:
        document = export(store, ALICE)

        assert list(document) == ["customer", "addresses", "orders", "order_items",
                                  "support_tickets"]
        assert document["customer"] == [{
            "id": 102, "email": "customer2.shop1@example.com", "full_name": "Customer 2 of Shop 1",
            "phone": "+1-555-0102", "birth_date": "1982-01-02", "status": "active",
            "marketing_opt_in": True, "created_at": document["customer"][0]["created_at"],
            "referred_by": "customer1.shop1@example.com",
        }]
        assert document["customer"][0]["created_at"].startswith("2025-03-03T09:00:00")
        assert [row["id"] for row in document["orders"]] == [1022, 1021]  # most recent first
        assert {row["order_id"] for row in document["order_items"]} == {1021, 1022}
        assert len(document["order_items"]) == 4
        assert len(document["addresses"]) == 2
        assert [row["subject"] for row in document["support_tickets"]] == ["Where is my parcel?"]

    def test_only_exported_fields_appear(self, store: SqlDatastore) -> None:
        document = export(store, ALICE)

        assert "erased_at" not in document["customer"][0]
        assert list(document["addresses"][0]) == ["line1", "city", "postcode", "country"]

    def test_another_tenant_cannot_reach_the_customer(self, store: SqlDatastore) -> None:
        wrong_tenant = Target(scope="subject", id="102", tenant_key="2")

        document = export(store, wrong_tenant)

        assert all(rows == [] for rows in document.values())
        assert store.exists(wrong_tenant) is False
        assert store.exists(ALICE) is True

    def test_section_counts_match_the_document(self, store: SqlDatastore) -> None:
        assert store.section_counts(ALICE) == {
            name: len(rows) for name, rows in export(store, ALICE).items()}

    def test_section_limit_keeps_the_most_recent(self, shop: tuple[str, ShopData],
                                                   store: SqlDatastore) -> None:
        from tests.fixtures.shop.builder import add_tickets

        engine = create_engine(shop[0])
        add_tickets(engine, customer=102, shop=1, count=80)
        engine.dispose()

        tickets = export(store, ALICE)["support_tickets"]

        assert len(tickets) == 50
        assert tickets[0]["subject"] == "Ticket 79"


class TestErase:
    def test_personal_fields_change_as_declared(self, shop: tuple[str, ShopData],
                                                store: SqlDatastore) -> None:
        result = store.erase(ALICE)

        customer = fetch_rows(shop[0], "customers")[102]
        assert customer["email"] == "erased-102@shop.invalid"
        assert customer["full_name"] == "Erased customer"
        assert customer["phone"] is None
        assert customer["birth_date"] is None
        assert customer["erased_at"] is not None
        addresses = [r for r in fetch_rows(shop[0], "addresses").values()
                     if r["customer_id"] == 102]
        assert {(r["line1"], r["postcode"], r["city"]) for r in addresses} == {
            ("", None, "Springfield")}
        orders = fetch_rows(shop[0], "orders")
        assert orders[1021]["customer_ip"] == hmac_hex(HASH_KEY, "198.51.100.2")
        assert fetch_rows(shop[0], "support_tickets")[1021]["body"] == "[erased]"
        assert result.by_table() == {"support_tickets": 1, "orders": 2, "addresses": 2,
                                     "customers": 1}
        changed = {change.table: set(change.columns) for change in result.tables}
        assert changed["customers"] == {"email", "full_name", "phone", "birth_date", "status",
                                        "marketing_opt_in", "erased_at"}
        assert changed["orders"] == {"customer_ip"}

    def test_every_other_row_is_byte_identical(self, shop: tuple[str, ShopData],
                                               store: SqlDatastore) -> None:
        before = table_checksums(shop[0])

        store.erase(ALICE)

        after = table_checksums(shop[0])
        touched = {"customers": {102}, "addresses": {1021, 1022}, "orders": {1021, 1022},
                   "support_tickets": {1021}}
        for table, rows in before.items():
            for pk, checksum in rows.items():
                if pk in touched.get(table, set()):
                    assert after[table][pk] != checksum, (table, pk)
                else:
                    assert after[table][pk] == checksum, (table, pk)

    def test_second_run_changes_nothing(self, shop: tuple[str, ShopData],
                                        store: SqlDatastore) -> None:
        store.erase(ALICE)
        once = table_checksums(shop[0])

        again = store.erase(ALICE)

        assert again.rows_changed == 0
        assert table_checksums(shop[0]) == once

    def test_dry_run_counts_the_same_and_writes_nothing(self, shop: tuple[str, ShopData],
                                                        store: SqlDatastore) -> None:
        before = table_checksums(shop[0])

        planned = store.erase(ALICE, dry_run=True)

        assert table_checksums(shop[0]) == before
        assert planned.dry_run is True
        assert planned.tables == store.erase(ALICE).tables

    def test_failing_before_commit_hook_rolls_everything_back(
        self, shop: tuple[str, ShopData], store: SqlDatastore
    ) -> None:
        before = table_checksums(shop[0])

        def legal_hold_appeared() -> None:
            raise RuntimeError("held")

        with pytest.raises(RuntimeError, match="held"):
            store.erase(ALICE, before_commit=legal_hold_appeared)

        assert table_checksums(shop[0]) == before

    def test_pending_order_refuses_erase(self, shop: tuple[str, ShopData],
                                         store: SqlDatastore) -> None:
        engine = create_engine(shop[0])
        orders = shop_metadata().tables["orders"]
        with engine.begin() as conn:
            conn.execute(update(orders).where(orders.c.id == 1021).values(status="pending"))
        engine.dispose()
        before = table_checksums(shop[0])

        failures = store.check_preconditions(ALICE)
        with pytest.raises(PreconditionsFailed) as refused:
            store.erase(ALICE)

        assert [(f.name, f.count) for f in failures] == [("pending_orders", 1)]
        assert str(refused.value) == "has 1 pending order(s). Ship or cancel them first."
        assert table_checksums(shop[0]) == before
        assert store.check_preconditions(Target("subject", "101", "1")) == []

    def test_unknown_subject_is_reported(self, store: SqlDatastore) -> None:
        with pytest.raises(TargetNotFound):
            store.erase(Target("subject", "999", "1"))
        with pytest.raises(ConnectorError, match="PURGE"):
            store.erase(Target("tenant", "1", "1"))


class TestPurge:
    def test_subject_purge_removes_its_rows_only(self, shop: tuple[str, ShopData],
                                                 store: SqlDatastore) -> None:
        before = table_checksums(shop[0])

        result = store.purge(ALICE, chunk_size=3)

        after = table_checksums(shop[0])
        gone = {"customers": {102}, "addresses": {1021, 1022}, "orders": {1021, 1022},
                "order_items": {10211, 10212, 10221, 10222}, "support_tickets": {1021}}
        assert result.deleted == {t: len(ids) for t, ids in gone.items()} | result.deleted
        assert result.rows_deleted == sum(len(ids) for ids in gone.values())
        for table, rows in before.items():
            assert set(after[table]) == set(rows) - gone.get(table, set())
        # Customer 103 was referred by 102: the pointer is cleared, the customer stays.
        survivors = fetch_rows(shop[0], "customers")
        assert survivors[103]["referred_by_id"] is None
        assert survivors[103]["email"] == "customer3.shop1@example.com"
        changed = {pk for pk, c in after["customers"].items() if c != before["customers"][pk]}
        assert changed == {103}

    def test_tenant_purge_leaves_other_tenants_alone(self, shop: tuple[str, ShopData],
                                                      store: SqlDatastore) -> None:
        before = table_checksums(shop[0])
        progress: list[PurgeProgress] = []

        result = store.purge(Target("tenant", "1", "1"), chunk_size=4,
                             on_progress=progress.append)

        after = table_checksums(shop[0])
        assert after["customers"] == {k: v for k, v in before["customers"].items() if k >= 200}
        assert all(pk >= 2000 for pk in after["orders"])
        assert after["order_items"] == {
            k: v for k, v in before["order_items"].items() if k >= 20000}
        assert result.deleted["order_items"] == 12
        assert progress[-1].total_deleted == result.rows_deleted
        assert [p.deleted for p in progress if p.table == "order_items"] == [4, 8, 12]

    def test_dry_run_counts_and_deletes_nothing(self, shop: tuple[str, ShopData],
                                                store: SqlDatastore) -> None:
        before = table_checksums(shop[0])

        planned = store.purge(ALICE, dry_run=True)

        assert table_checksums(shop[0]) == before
        assert planned.deleted == store.purge(ALICE).deleted

    def test_hook_failure_keeps_earlier_chunks_and_a_rerun_finishes(
        self, shop: tuple[str, ShopData], store: SqlDatastore
    ) -> None:
        tenant = Target("tenant", "1", "1")
        calls = 0

        def hold_placed_on_third_chunk() -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("legal hold")

        with pytest.raises(RuntimeError):
            store.purge(tenant, chunk_size=5, before_chunk_commit=hold_placed_on_third_chunk)

        # Two chunks of 5 items committed, the third refused.
        remaining = fetch_rows(shop[0], "order_items")
        assert len([pk for pk in remaining if pk < 20000]) == 12 - 10
        assert len(fetch_rows(shop[0], "customers")) == 6

        finished = store.purge(tenant, chunk_size=5)

        assert finished.deleted["order_items"] == 2
        assert all(pk >= 200 for pk in fetch_rows(shop[0], "customers"))
        assert store.exists(Target("subject", "101", "1")) is False
        assert store.exists(Target("subject", "201", "2")) is True


class TestReaches:
    def test_tenant_reaches_its_customers_only(self, store: SqlDatastore) -> None:
        tenant = Target("tenant", "1", "1")

        assert store.reaches(tenant, "subject", "102") is True
        assert store.reaches(tenant, "subject", "202") is False
        assert store.reaches(tenant, "tenant", "1") is True
        assert store.reaches(tenant, "tenant", "2") is False

    def test_subject_reaches_itself_not_its_neighbours(self, store: SqlDatastore) -> None:
        assert store.reaches(ALICE, "subject", "102") is True
        assert store.reaches(ALICE, "subject", "103") is False


class TestPeopleList:
    def test_search_pages_and_erased_flag(self, store: SqlDatastore) -> None:
        store.erase(ALICE)

        listed = store.list_subjects("1", search="", limit=10)
        found = store.list_subjects("1", search="CUSTOMER3")
        page_two = store.list_subjects("1", limit=2, after_id="102")

        assert [row["id"] for row in listed] == [101, 102, 103]
        assert listed[1] == {"id": 102, "name": "Erased customer",
                             "email": "erased-102@shop.invalid", "status": "erased",
                             "erased": True}
        assert listed[0]["erased"] is False
        assert [row["id"] for row in found] == [103]
        assert [row["id"] for row in page_two] == [103]
        assert store.count_subjects("1") == 3
        assert store.count_subjects("2", search="100%") == 0
        assert store.find_subject_ids("1", "Customer1.Shop1@example.com") == ["101"]
        assert store.find_subject_ids("2", "customer1.shop1@example.com") == []

    @pytest.mark.parametrize(("role", "descending"), [
        ("name", False), ("name", True), ("email", False), ("status", True)])
    def test_ordered_by_a_display_role_then_id(self, store: SqlDatastore, role: str,
                                               descending: bool) -> None:
        """The oracle: the same rows in id order, sorted here (text case-insensitively)."""
        store.erase(ALICE)
        by_id = store.list_subjects("1", limit=10)
        expected = sorted(by_id, key=lambda r: (str(r[role]).lower(), r["id"]),
                          reverse=descending)

        ordered = store.list_subjects("1", limit=10, order_by=role, descending=descending)
        second = store.list_subjects("1", limit=2, offset=1, order_by=role,
                                     descending=descending)

        assert [r["id"] for r in ordered] == [r["id"] for r in expected]
        assert [r["id"] for r in second] == [r["id"] for r in expected[1:3]]
        assert ordered[0].keys() == by_id[0].keys()

    def test_an_unknown_role_orders_by_id(self, store: SqlDatastore) -> None:
        listed = store.list_subjects("1", order_by="salary", descending=True)
        assert [row["id"] for row in listed] == [103, 102, 101]
