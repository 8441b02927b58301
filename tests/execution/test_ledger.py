"""No resurrection after a restore: the erasure ledger and `privacyops ledger replay`.

The oracle is the datastore that was never restored: after erasing and purging through real
jobs, restoring a backup taken before them and replaying the ledger, every row of every table
must have the checksum it had before the restore.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import ErasureLedgerEntry
from tests.execution.shop_store import ShopStore, row_checksums, shop_store

__all__ = ["shop_store"]

CANARIES = [b"customer1.shop1@example.com", b"Customer 1 of Shop 1",
            b"customer2.shop1@example.com", b"Customer 2 of Shop 1",
            b"customer4.shop1@example.com", b"Customer 4 of Shop 1"]


def _replay(store: ShopStore, since: str, *extra: str) -> list[str]:
    out = io.StringIO()
    call_command("ledger", "replay", "--tenant", store.tenant.slug, "--since", since, *extra,
                 stdout=out)
    return out.getvalue().strip().splitlines()


def _erase_and_purge(store: ShopStore) -> None:
    store.run("ERASE", "101")
    store.run("PURGE", "102")  # 103 was referred by 102: its pointer is cleared, it stays
    store.run("ERASE", "104")
    store.run("PURGE", "104")  # erased, then purged: the replay must keep that order


class TestLedgerEntries:
    def test_each_completed_erase_and_purge_is_recorded_with_its_rule(self, shop_store):
        job = shop_store.run("ERASE", "101")
        shop_store.run("EXPORT", "105")
        purge = shop_store.run("PURGE", "102")
        entries = list(ErasureLedgerEntry.objects.order_by("id"))
        assert [(e.action, e.target_id, e.system) for e in entries] == [
            ("ERASE", "101", "shop"), ("PURGE", "102", "shop")]
        erase = entries[0]
        assert erase.job_id == job.pk
        assert erase.tenant_id == shop_store.tenant.pk
        assert erase.actions["target"] == {"scope": "subject", "id": "101", "tenant_key": "1"}
        assert erase.actions["tables"]["customers"]["rows"] == 1
        assert erase.datamap is not None
        assert "customers" in erase.datamap.text
        assert entries[1].actions["tables"]["order_items"] == 4
        # Written with the completion: the entry's time is its job.completed event's time.
        completed = AuditEvent.objects.get(action="job.completed", target_id=str(purge.pk))
        assert entries[1].recorded_at == completed.created_at
        # The person appears only by the canonical key, never by email or name.
        for entry in entries:
            stored = repr((entry.actions, entry.target_id, entry.receipt))
            assert "@example.com" not in stored
            assert "Customer " not in stored


class TestReplay:
    def test_restore_then_replay_equals_the_datastore_never_restored(self, shop_store):
        shop_store.backup()
        since = timezone.now()
        _erase_and_purge(shop_store)
        expected = row_checksums(shop_store.url)
        assert 104 not in expected["customers"]
        assert 102 not in expected["customers"]

        shop_store.restore()
        restored = row_checksums(shop_store.url)
        assert restored != expected
        assert 102 in restored["customers"]  # the backup brought them back
        if shop_store.backend == "sqlite":
            assert all(canary in shop_store.file_bytes() for canary in CANARIES)

        dry = _replay(shop_store, since.isoformat(), "--dry-run")
        assert row_checksums(shop_store.url) == restored  # a dry run changes nothing
        assert "remained" in dry[-1]
        assert "nothing remained" not in dry[-1]

        lines = _replay(shop_store, since.isoformat())
        entries = [line for line in lines if line.startswith("#")]
        assert len(entries) == 4
        assert all(" 0 row(s)" not in line for line in entries), lines
        assert lines[-1].endswith("nothing remained.")
        assert row_checksums(shop_store.url) == expected
        if shop_store.backend == "sqlite":
            raw = shop_store.file_bytes()
            assert [c for c in CANARIES if c in raw] == []

        again = _replay(shop_store, since.isoformat())
        assert [line for line in again if line.startswith("#")] == [
            line.rsplit(":", 1)[0] + ": 0 row(s) changed" for line in entries]
        assert again[-1].endswith("nothing remained.")
        assert row_checksums(shop_store.url) == expected

    def test_entries_before_the_backup_are_not_replayed(self, shop_store):
        shop_store.run("ERASE", "101")
        since = timezone.now()
        shop_store.run("ERASE", "103")
        lines = _replay(shop_store, since.isoformat(), "--dry-run")
        entries = [line for line in lines if line.startswith("#")]
        assert len(entries) == 1
        assert "subject:103" in entries[0]
        later = (timezone.now() + timedelta(minutes=1)).isoformat()
        assert _replay(shop_store, later)[-1] == (
            "Replayed 0 ledger entries, 0 row(s) changed; nothing remained.")

    def test_replay_ignores_a_precondition_met_only_in_the_backup(self, shop_store):
        # The backup holds a pending order that was shipped before the erasure.
        from sqlalchemy import create_engine, text

        engine = create_engine(shop_store.url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE orders SET status = 'pending' WHERE id = 1011"))
        engine.dispose()
        shop_store.backup()
        since = timezone.now()
        engine = create_engine(shop_store.url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE orders SET status = 'delivered' WHERE id = 1011"))
        engine.dispose()
        shop_store.run("ERASE", "101")
        shop_store.restore()
        lines = _replay(shop_store, since.isoformat())
        assert lines[-1].endswith("nothing remained.")
        engine = create_engine(shop_store.url)
        with engine.connect() as conn:
            email = conn.execute(text("SELECT email FROM customers WHERE id = 101")).scalar()
        engine.dispose()
        assert email == "erased-101@shop.invalid"

    def test_replay_is_audited_and_a_bad_time_is_refused(self, shop_store):
        _replay(shop_store, "2020-01-01T00:00:00Z", "--dry-run")
        event = AuditEvent.objects.get(action="ledger.replayed")
        assert event.metadata["dry_run"] is True
        with pytest.raises(CommandError, match="ISO 8601"):
            _replay(shop_store, "yesterday")
        with pytest.raises(CommandError, match="No tenant"):
            call_command("ledger", "replay", "--tenant", "nobody", "--since", "2020-01-01")


@pytest.mark.parametrize("shop_store", ["sqlite"], indirect=True)
def test_an_entry_without_a_stored_map_replays_with_the_current_one(shop_store):
    shop_store.backup()
    since = timezone.now()
    shop_store.run("ERASE", "101")
    expected = row_checksums(shop_store.url)
    ErasureLedgerEntry.objects.update(datamap=None)
    shop_store.restore()
    lines = _replay(shop_store, since.isoformat())
    assert " 0 row(s)" not in lines[1]
    assert lines[-1].endswith("nothing remained.")
    assert row_checksums(shop_store.url) == expected


@pytest.mark.parametrize("shop_store", ["sqlite"], indirect=True)
def test_an_entry_that_cannot_be_applied_is_named(shop_store):
    since = timezone.now()
    shop_store.run("ERASE", "101")
    entry = ErasureLedgerEntry.objects.get()
    entry.actions = {**entry.actions, "target": {"scope": "warehouse", "id": "7",
                                                 "tenant_key": "1"}}
    entry.save()
    with pytest.raises(CommandError, match=rf"Ledger entry #{entry.pk} .* cannot be re-applied"):
        _replay(shop_store, since.isoformat())
