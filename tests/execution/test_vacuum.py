"""PostgreSQL: after an ERASE or PURGE the worker VACUUMs the tables it changed.

The oracle is the server itself: `pg_stat_user_tables` says when a table was last vacuumed and
how many dead row versions it holds, and `pg_read_binary_file` hands back the bytes of the
table's file after a CHECKPOINT has written its pages out (superuser only, as the test server's
user is), wherever the server runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from privacyops.execution.vacuum import vacuums_done
from tests.execution.shop_store import ShopStore, shop_store
from tests.execution.test_ledger_multi import two_systems

__all__ = ["shop_store", "two_systems"]

CANARY = b"canary-ticket-of-customer-102-shop-1"


def _stats(url: str, table: str) -> tuple[Any, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT last_vacuum, n_dead_tup FROM pg_stat_user_tables WHERE relname = :t"),
            {"t": table}).one()
    engine.dispose()
    return row[0], int(row[1])


def _table_file(url: str, table: str) -> bytes:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        data = conn.execute(text(
            "SELECT pg_read_binary_file(pg_relation_filepath(CAST(:t AS regclass)))"),
            {"t": table}).scalar_one()
    engine.dispose()
    return bytes(data)


def _file_node(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        node = conn.execute(text("SELECT pg_relation_filenode(CAST(:t AS regclass))"),
                            {"t": table}).scalar_one()
    engine.dispose()
    return int(node)


def _postgres(store: ShopStore) -> None:
    if store.backend != "postgresql":
        pytest.fail("run with the postgresql parameter only")


@pytest.mark.parametrize("shop_store", ["postgresql"], indirect=True)
class TestVacuumAfterErase:
    def test_erase_vacuums_the_changed_tables_and_the_old_value_leaves_the_heap(
            self, shop_store, settings):
        _postgres(shop_store)
        settings.VACUUM_AFTER_ERASE = "vacuum"
        before, _ = _stats(shop_store.url, "customers")
        assert b"customer1.shop1@example.com" in _table_file(shop_store.url, "customers")
        job = shop_store.run("ERASE", "101")
        assert vacuums_done()  # the vacuum thread ran what the job handed it
        assert "customers" in job.result["vacuumed"]
        last_vacuum, dead = _stats(shop_store.url, "customers")
        assert last_vacuum is not None
        assert before is None or last_vacuum > before
        assert dead == 0
        assert b"customer1.shop1@example.com" not in _table_file(shop_store.url, "customers")

    def test_the_job_is_recorded_completed_before_the_vacuum_runs(self, shop_store, settings):
        """The person's answer does not wait for VACUUM: the server's own clock says the
        table was vacuumed after the job was recorded finished."""
        _postgres(shop_store)
        settings.VACUUM_AFTER_ERASE = "vacuum"
        job = shop_store.run("ERASE", "101")
        assert vacuums_done()  # the vacuum thread ran what the job handed it
        last_vacuum, _dead = _stats(shop_store.url, "customers")
        assert job.finished_at is not None
        assert last_vacuum is not None
        assert job.finished_at < last_vacuum

    def test_full_rewrites_the_files_of_a_purge(self, shop_store, settings):
        _postgres(shop_store)
        settings.VACUUM_AFTER_ERASE = "full"
        engine = create_engine(shop_store.url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE support_tickets SET body = :b WHERE customer_id = 102"),
                         {"b": CANARY.decode()})
        engine.dispose()
        assert CANARY in _table_file(shop_store.url, "support_tickets")
        before = {t: _file_node(shop_store.url, t) for t in ("support_tickets", "customers")}
        job = shop_store.run("PURGE", "102")
        assert vacuums_done()  # the vacuum thread ran what the job handed it
        assert "support_tickets" in job.result["vacuumed"]
        # The server says the table now lives in a new file: VACUUM FULL rewrote it, and the
        # old file, canary and all, is gone. (Whether the new file still holds the dead
        # version depends on every transaction of the shared test server: VACUUM FULL keeps
        # a version any running transaction might still see, so the bytes are not checked.)
        for table, node in before.items():
            assert _file_node(shop_store.url, table) != node, table

    def test_off_leaves_it_to_autovacuum(self, shop_store, settings):
        _postgres(shop_store)
        settings.VACUUM_AFTER_ERASE = ""
        job = shop_store.run("ERASE", "101")
        assert vacuums_done()  # the vacuum thread ran what the job handed it
        assert job.result["vacuumed"] == []
        last_vacuum, _dead = _stats(shop_store.url, "customers")
        assert last_vacuum is None


@pytest.mark.parametrize("shop_store", ["postgresql"], indirect=True)
def test_an_erasure_across_systems_vacuums_each_system_it_changed(two_systems, settings):
    """A person erased by identity in two PostgreSQL systems: each system's changed tables are
    vacuumed once its step is recorded (the server's `last_vacuum`)."""
    _postgres(two_systems.shop)
    settings.VACUUM_AFTER_ERASE = "vacuum"
    two_systems.erase_by_identity("customer1.shop1@example.com")
    assert vacuums_done()
    for store, table in ((two_systems.shop, "customers"), (two_systems.loyalty, "members")):
        last_vacuum, _dead = _stats(store.url, table)
        assert last_vacuum is not None, table
