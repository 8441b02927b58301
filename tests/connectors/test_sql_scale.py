"""Traversal cost, database-per-tenant datastores, and SQLite's on-disk erasure."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import load_datamap, resolve_connection_url
from tests.connectors.conftest import (
    HASH_KEY,
    NewDatabase,
    StatementCounter,
    fetch_rows,
    table_checksums,
)
from tests.fixtures.shop.builder import (
    PER_TENANT_DATAMAP,
    SHARED_DATAMAP,
    add_tickets,
    build_shop,
)


def test_statement_count_does_not_grow_with_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    build_shop(engine)
    add_tickets(engine, customer=101, shop=1, count=10)
    add_tickets(engine, customer=102, shop=1, count=1000)
    engine.dispose()
    store = SqlDatastore(load_datamap(SHARED_DATAMAP), database_url, hash_key=HASH_KEY)
    assert not store.reflected.issues  # reflect once, before counting
    counter = StatementCounter(store.engine)
    few, many = Target("subject", "101", "1"), Target("subject", "102", "1")

    def statements(action: str, target: Target) -> int:
        counter.reset()
        if action == "export":
            rows = sum(len(list(section.rows)) for section in store.iter_export(target))
            assert rows > 10
        else:
            assert store.erase(target).rows_changed > 10
        return counter.count

    export_few, export_many = statements("export", few), statements("export", many)
    erase_few, erase_many = statements("erase", few), statements("erase", many)

    assert export_few == export_many == 5  # one query per section
    assert erase_few == erase_many
    assert erase_many <= 20
    store.close()


def test_database_per_tenant(new_database: NewDatabase) -> None:
    env = {"SHOP_DB_a": new_database(), "SHOP_DB_b": new_database()}
    for tenant, shop in (("a", 1), ("b", 2)):
        engine = create_engine(env[f"SHOP_DB_{tenant}"])
        build_shop(engine, shops=(shop,), tenant_column=False)
        engine.dispose()
    datamap = load_datamap(PER_TENANT_DATAMAP)
    store_a = SqlDatastore(datamap, resolve_connection_url(datamap, "a", env), hash_key=HASH_KEY)
    before_b = table_checksums(env["SHOP_DB_b"])

    store_a.erase(Target("subject", "102", "a"))
    store_a.purge(Target("subject", "103", "a"))
    everything = store_a.purge(Target("tenant", "a", None), chunk_size=4)

    assert everything.deleted["customers"] == 2
    assert all(rows == {} for rows in table_checksums(env["SHOP_DB_a"]).values())
    assert table_checksums(env["SHOP_DB_b"]) == before_b
    store_a.close()


def test_sqlite_erase_leaves_no_old_value_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite3"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    build_shop(engine)
    engine.dispose()
    store = SqlDatastore(load_datamap(SHARED_DATAMAP), url, hash_key=HASH_KEY)
    old = b"customer2.shop1@example.com"
    assert old in path.read_bytes()

    store.erase(Target("subject", "102", "1"))
    store.purge(Target("subject", "103", "1"))

    on_disk = path.read_bytes()
    wal = Path(f"{path}-wal")
    assert old not in on_disk
    assert b"customer3.shop1@example.com" not in on_disk
    assert not wal.exists() or wal.stat().st_size == 0
    assert fetch_rows(url, "customers")[102]["email"] == "erased-102@shop.invalid"
    store.close()


def test_schema_mismatch_names_the_entity(database_url: str) -> None:
    from privacyops.datamap import DataMapError

    engine = create_engine(database_url)
    build_shop(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE support_tickets RENAME COLUMN body TO message")
    engine.dispose()
    store = SqlDatastore(load_datamap(SHARED_DATAMAP), database_url, hash_key=HASH_KEY)

    with pytest.raises(DataMapError) as mismatch:
        store.exists(Target("subject", "101", "1"))

    assert ("entities.support_tickets",
            "column 'body' does not exist in table 'support_tickets'") in mismatch.value.issues
    store.close()
