"""No resurrection after a restore, for a tenant with several systems.

Shop One has two SQL systems holding the same people by email, with different keys: the shop
(customer 101…) and a loyalty programme (member 9101…). People are erased by identity through
the multi-system job path, one is purged by key; both datastores are then restored from a copy
taken before, and `ledger replay --system NAME` must bring each back to the datastore that was
never restored (row checksums computed here), the other system left alone.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.utils import timezone
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url

from privacyops.execution.models import ErasureLedgerEntry, JobStep
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.models import ConnectorType, System, Tenant
from tests import factories
from tests.execution.shop_store import ShopStore, row_checksums, shop_store

__all__ = ["shop_store"]

LOYALTY_MAP = {
    "version": 1,
    "name": "loyalty",
    "connection": {"url_env": "LOYALTY_DATABASE_URL"},
    "tenant_column": "shop_id",
    "subject": {"entity": "members", "identity_fields": ["email"],
                "display_fields": {"name": "full_name", "email": "email"},
                "erased_marker": {"column": "erased_at", "value": "now"}},
    "entities": {
        "members": {"table": "members", "primary_key": "id", "fields": {
            "id": {"category": "identity"},
            "email": {"category": "contact", "erase": {"pseudonym": "gone-{id}@loyalty.invalid"}},
            "full_name": {"category": "identity", "erase": {"set": "Erased member"}},
            "card_number": {"category": "identity", "erase": "hash"},
            "points": {"category": "behavioral"},
            "erased_at": {"category": "technical", "export": False}}},
        "visits": {"table": "visits", "primary_key": "id",
                   "relations": [{"to": "subject", "via": "member_id"}],
                   "fields": {"note": {"category": "free_text", "erase": {"set": "[erased]"}},
                              "visited_on": {"category": "behavioral"}}},
    },
}


def build_loyalty(url: str) -> None:
    """The shop's customers as loyalty members (id 9000 + customer id), 2 visits each."""
    metadata = MetaData()
    members = Table("members", metadata, Column("id", Integer, primary_key=True),
                    Column("shop_id", Integer, nullable=False), Column("email", String(200)),
                    Column("full_name", String(200)), Column("card_number", String(200)),
                    Column("points", Integer), Column("erased_at", DateTime))
    visits = Table("visits", metadata, Column("id", Integer, primary_key=True),
                   Column("shop_id", Integer, nullable=False),
                   Column("member_id", Integer, ForeignKey("members.id")),
                   Column("note", String(200)), Column("visited_on", String(20)))
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for shop in (1, 2):
            for n in range(1, 6):
                member = 9000 + shop * 100 + n
                conn.execute(members.insert().values(
                    id=member, shop_id=shop, email=f"customer{n}.shop{shop}@example.com",
                    full_name=f"Member {n} of Shop {shop}", card_number=f"CARD-{shop}-{n:04d}",
                    points=10 * n, erased_at=None))
                for v in (1, 2):
                    conn.execute(visits.insert().values(
                        id=member * 10 + v, shop_id=shop, member_id=member,
                        note=f"Visit note {v} of member {n} shop {shop}",
                        visited_on=f"2026-0{v}-0{n}"))
    engine.dispose()


@dataclass
class TwoSystems:
    shop: ShopStore
    loyalty: ShopStore  # the same backup/restore, on the loyalty datastore

    @property
    def tenant(self) -> Any:
        return self.shop.tenant

    def checksums(self) -> dict[str, Any]:
        return {"shop": row_checksums(self.shop.url), "loyalty": row_checksums(self.loyalty.url)}

    def backup(self) -> None:
        self.shop.backup()
        self.loyalty.backup()

    def restore(self) -> None:
        self.shop.restore()
        self.loyalty.restore()

    def completed(self, job: Job) -> Job:
        """The job approved (when its tenant's policy asks) and run to Completed."""
        if job.status == JobStatus.PENDING:
            job_approve(job_id=job.pk, actor=factories.actor(self.shop.approver))
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        return job

    def erase_by_identity(self, email: str) -> Job:
        job = self.completed(job_create(
            tenant_id=self.tenant.pk, job_type="ERASE", target_type="subject",
            identity={"email": email}, reason="Art. 17",
            actor=factories.actor(self.shop.requester)))
        steps = {s.system_name: s.status for s in JobStep.objects.filter(job=job)}
        assert steps == {"shop": "completed", "loyalty": "completed"}
        return job


@pytest.fixture
def two_systems(shop_store: ShopStore, tmp_path: Path, settings: Any,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoSystems]:
    (Path(settings.DATAMAP_DIR) / "loyalty.yaml").write_text(yaml.safe_dump(LOYALTY_MAP))
    path: Path | None = None
    if shop_store.backend == "sqlite":
        path = tmp_path / "loyalty.sqlite3"
        url = f"sqlite:///{path}"
    else:
        name = f"privacyops_loyalty_{uuid.uuid4().hex[:10]}"
        with create_engine(shop_store._admin_url, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f"CREATE DATABASE {name}"))
        shop_store._names.append(name)  # dropped with the shop's databases
        url = make_url(shop_store._admin_url).set(database=name).render_as_string(
            hide_password=False)
    build_loyalty(url)
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    for slug, key in (("shop-one", "1"), ("shop-two", "2")):
        System.objects.create(tenant=Tenant.objects.get(slug=slug), name="loyalty",
                              datamap_name="loyalty", datastore_key=key,
                              connector_type=ConnectorType.SQL)
    loyalty = ShopStore(shop_store.backend, url, shop_store.tenant, shop_store.requester,
                        shop_store.approver, path=path, _admin_url=shop_store._admin_url,
                        _names=shop_store._names)
    yield TwoSystems(shop_store, loyalty)
    from privacyops.execution import registry

    for key in [k for k in registry._engines if k[1] == url]:
        registry._engines.pop(key).close()


def _replay(store: TwoSystems, since: str, *extra: str, tenant: str = "") -> list[str]:
    out = io.StringIO()
    call_command("ledger", "replay", "--tenant", tenant or store.tenant.slug, "--since", since,
                 *extra, stdout=out)
    return out.getvalue().strip().splitlines()


def _entries(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("#")]


ERASED = ("customer1.shop1@example.com", "customer2.shop1@example.com",
          "customer4.shop1@example.com")
CANARIES = {
    "shop": [b"customer1.shop1@example.com", b"Customer 1 of Shop 1",
             b"customer2.shop1@example.com", b"Customer 4 of Shop 1"],
    "loyalty": [b"customer1.shop1@example.com", b"Member 1 of Shop 1", b"CARD-1-0002",
                b"customer4.shop1@example.com", b"Visit note 2 of member 4 shop 1"],
}


def _erase_several_and_purge_one(store: TwoSystems) -> list[Job]:
    jobs = [store.erase_by_identity(email) for email in ERASED]
    store.shop.run("PURGE", "104")  # erased by identity, then purged by key in the shop
    return jobs


class TestMultiSystemEntries:
    def test_each_system_part_is_recorded_by_its_own_key(self, two_systems):
        jobs = _erase_several_and_purge_one(two_systems)
        entry = ErasureLedgerEntry.objects.get(job=jobs[0])
        parts = entry.actions["systems"]
        assert sorted(parts) == ["loyalty", "shop"]
        assert parts["shop"]["target"] == {"scope": "subject", "id": "101", "tenant_key": "1"}
        assert parts["loyalty"]["target"] == {"scope": "subject", "id": "9101",
                                              "tenant_key": "1"}
        assert parts["loyalty"]["tables"]["visits"]["rows"] == 2
        assert parts["loyalty"]["datamap_sha256"]
        assert parts["shop"]["datamap_sha256"]
        for stored in ErasureLedgerEntry.objects.all():
            text_of = repr((stored.actions, stored.target_id, stored.system))
            assert "@example.com" not in text_of
            assert "Member " not in text_of
            assert "CARD-" not in text_of


class TestReplayPerSystem:
    def test_restore_both_then_replay_each_system(self, two_systems):
        two_systems.backup()
        since = timezone.now().isoformat()
        _erase_several_and_purge_one(two_systems)
        expected = two_systems.checksums()
        assert 9104 in expected["loyalty"]["members"]  # erased there, not purged
        assert 104 not in expected["shop"]["customers"]

        two_systems.restore()
        restored = two_systems.checksums()
        assert restored["shop"] != expected["shop"]
        assert restored["loyalty"] != expected["loyalty"]
        if two_systems.shop.backend == "sqlite":
            for name, store in (("shop", two_systems.shop), ("loyalty", two_systems.loyalty)):
                assert all(c in store.file_bytes() for c in CANARIES[name]), name

        dry = _replay(two_systems, since, "--system", "loyalty", "--dry-run")
        assert two_systems.checksums() == restored  # a dry run changes nothing anywhere
        assert "on system loyalty" in dry[0]
        assert [line.split(" ", 2)[2].split(" (job")[0] for line in _entries(dry)] == [
            "ERASE subject:9101 on loyalty", "ERASE subject:9102 on loyalty",
            "ERASE subject:9104 on loyalty"]
        assert "remained" in dry[-1]
        assert "nothing remained" not in dry[-1]

        lines = _replay(two_systems, since, "--system", "loyalty")
        assert len(_entries(lines)) == 3
        assert all(" 0 row(s)" not in line for line in _entries(lines)), lines
        assert lines[-1].endswith("nothing remained.")
        now = two_systems.checksums()
        assert now["loyalty"] == expected["loyalty"]
        assert now["shop"] == restored["shop"]  # the other system is left alone

        lines = _replay(two_systems, since, "--system", "shop")
        shop_lines = _entries(lines)
        assert [line.split(" ", 2)[2].split(" (job")[0] for line in shop_lines] == [
            "ERASE subject:101 on shop", "ERASE subject:102 on shop",
            "ERASE subject:104 on shop", "PURGE subject:104 on shop"]
        assert all(" 0 row(s)" not in line for line in shop_lines), lines
        assert lines[-1].endswith("nothing remained.")
        assert two_systems.checksums() == expected
        if two_systems.shop.backend == "sqlite":
            for name, store in (("shop", two_systems.shop), ("loyalty", two_systems.loyalty)):
                raw = store.file_bytes()
                assert [c for c in CANARIES[name] if c in raw] == [], name

        for system in ("loyalty", "shop"):
            again = _replay(two_systems, since, "--system", system)
            assert _entries(again)
            assert all(line.endswith(": 0 row(s) changed") for line in _entries(again)), again
            assert again[-1].endswith("nothing remained.")
        assert two_systems.checksums() == expected

    def test_replay_without_system_applies_every_part(self, two_systems):
        two_systems.backup()
        since = timezone.now().isoformat()
        _erase_several_and_purge_one(two_systems)
        expected = two_systems.checksums()
        two_systems.restore()
        restored = two_systems.checksums()
        lines = _replay(two_systems, since, "--dry-run")
        assert two_systems.checksums() == restored
        assert "on every system (loyalty, shop)" in lines[0] or \
            "on every system (shop, loyalty)" in lines[0]
        assert len(_entries(lines)) == 7  # 3 erasures on 2 systems, 1 purge on the shop
        lines = _replay(two_systems, since)
        assert lines[-1] == "Replayed 4 ledger entries, " + lines[-1].split(", ", 1)[1]
        assert lines[-1].endswith("nothing remained.")
        assert two_systems.checksums() == expected

    def test_a_tenant_purge_over_both_systems_is_replayed_per_system(self, two_systems):
        two_systems.backup()
        since = timezone.now().isoformat()
        other = Tenant.objects.get(slug="shop-two")
        two_systems.completed(job_create(
            tenant_id=other.pk, job_type="PURGE", target_type="tenant", target_id="2",
            reason="Contract ended", actor=factories.actor(two_systems.shop.requester)))
        expected = two_systems.checksums()
        assert not [m for m in expected["loyalty"]["members"] if m // 100 == 92]
        assert not [c for c in expected["shop"]["customers"] if c // 100 == 2]
        assert 9101 in expected["loyalty"]["members"]  # shop one's members stay

        two_systems.restore()
        restored = two_systems.checksums()
        lines = _replay(two_systems, since, "--system", "loyalty", tenant="shop-two")
        assert [line.split(" ", 2)[2].split(" (job")[0] for line in _entries(lines)] == [
            "PURGE tenant:2 on loyalty"]
        assert " 0 row(s)" not in lines[1]
        assert lines[-1].endswith("nothing remained.")
        now = two_systems.checksums()
        assert now["loyalty"] == expected["loyalty"]
        assert now["shop"] == restored["shop"]
        # Shop One's ledger has nothing since: its replay changes nothing.
        assert _entries(_replay(two_systems, since, "--system", "loyalty")) == []
        lines = _replay(two_systems, since, "--system", "shop", tenant="shop-two")
        assert lines[-1].endswith("nothing remained.")
        assert two_systems.checksums() == expected

    def test_an_entry_recorded_before_entries_held_their_systems(self, two_systems):
        # Older multi-system entries held no parts, and their steps no target: the replay
        # rebuilds each system's part from the job's steps (their keys), with today's maps.
        two_systems.backup()
        since = timezone.now().isoformat()
        for email in ERASED[:2]:
            two_systems.erase_by_identity(email)
        expected = two_systems.checksums()
        for entry in ErasureLedgerEntry.objects.all():
            entry.actions = {k: v for k, v in entry.actions.items() if k != "systems"}
            entry.save()
        for step in JobStep.objects.all():
            step.result = {k: v for k, v in step.result.items()
                           if k not in ("target", "datamap_sha256")}
            step.save()
        two_systems.restore()
        lines = _replay(two_systems, since, "--system", "loyalty")
        assert [line.split(" ", 2)[2].split(" (job")[0] for line in _entries(lines)] == [
            "ERASE subject:9101 on loyalty", "ERASE subject:9102 on loyalty"]
        assert lines[-1].endswith("nothing remained.")
        assert two_systems.checksums()["loyalty"] == expected["loyalty"]

    def test_an_unknown_system_is_named(self, two_systems):
        with pytest.raises(CommandError, match="no system named 'crm'; its systems are "
                                               "loyalty, shop"):
            _replay(two_systems, "2020-01-01T00:00:00Z", "--system", "crm")


def test_help_explains_several_systems():
    # What an operator reads: the real console command's --help.
    env = {**os.environ, "COLUMNS": "400", "PYTHONPATH": "src"}
    shown = subprocess.run([sys.executable, "-m", "privacyops.cli", "ledger", "replay", "--help"],
                           capture_output=True, text=True, env=env, check=True, timeout=60)
    help_text = " ".join(shown.stdout.split())
    assert "--system NAME" in help_text
    assert "its part of every entry, multi-system ones included" in help_text
    assert "a line per system, each with the subject's key in that system" in help_text
    assert "the other systems, which were not restored, are left alone" in help_text


def test_a_manual_systems_part_is_listed_not_replayed(two_systems, staff):
    from privacyops.execution.demo import write_paper_files_map
    from privacyops.execution.steps import step_settle
    from privacyops.tenancy.actors import Actor

    write_paper_files_map()
    System.objects.create(tenant=two_systems.tenant, name="paper-files", datamap_name="paper-files",
                          connector_type=ConnectorType.MANUAL)
    since = timezone.now().isoformat()
    job = job_create(tenant_id=two_systems.tenant.pk, job_type="ERASE", target_type="subject",
                     identity={"email": ERASED[0]}, reason="Art. 17",
                     actor=factories.actor(two_systems.shop.requester))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(two_systems.shop.approver))
    run_job_now(job.pk)
    step = JobStep.objects.get(job=job, system_name="paper-files")
    step_settle(step_id=step.pk, status="completed", rows=2, actor=Actor.for_user(staff))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message

    lines = _replay(two_systems, since)
    assert [line.split(" ", 2)[2] for line in _entries(lines)] == [
        f"ERASE subject:9101 on loyalty (job #{job.pk}): 0 row(s) changed",
        f"ERASE subject (by identity) on paper-files (job #{job.pk}): not replayed (manual "
        "system): erase it there by hand if it was restored",
        f"ERASE subject:101 on shop (job #{job.pk}): 0 row(s) changed"]
    assert "nothing remained. Not replayed: the parts on paper-files" in lines[-1]
    assert _entries(_replay(two_systems, since, "--system", "shop")) == [_entries(lines)[2]]

