"""Audit retention per tenant: archive, delete, and still prove both halves of the chain."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from privacyops.audit.models import AuditEvent, AuditTombstone
from privacyops.audit.retention import archive_verify, audit_prune, audit_prune_due
from privacyops.audit.selectors import audit_verify
from privacyops.audit.services import audit_record
from privacyops.jobs.management.commands.worker import audit_retention_daily
from privacyops.tenancy.actors import Actor
from tests import factories

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RETENTION = Actor.system("retention")


@pytest.fixture(autouse=True)
def signing(settings, tmp_path):
    settings.SIGNING_KEY_FILE = str(tmp_path / "signing.pem")
    settings.AUDIT_CHECKPOINT_EVERY = 4


def _record(tenant_id: int | None, n: int) -> AuditEvent:
    with transaction.atomic():
        return audit_record(actor=Actor.system("worker"), action="job.started", tenant_id=tenant_id,
                            target_type="job", target_id=n, metadata={"n": n, "note": "café"})


def _archive_path(name: str) -> Path:
    return Path(django_settings.STORAGES["default"]["OPTIONS"]["location"]) / name


def _interleaved(tenant, other, *, days_old: int, rounds: int = 3) -> None:
    with time_machine.travel(START - timedelta(days=days_old), tick=False) as clock:
        for n in range(rounds):
            for tenant_id in (tenant.pk, other.pk, None):
                _record(tenant_id, n)
                clock.shift(timedelta(seconds=1))


@pytest.mark.django_db
class TestBoundaries:
    def test_an_event_exactly_at_the_period_stays_and_one_a_microsecond_older_goes(self):
        tenant = factories.tenant_create(audit_retention_days=30)
        with time_machine.travel(START, tick=False):
            kept = _record(tenant.pk, 1)
        with time_machine.travel(START - timedelta(microseconds=1), tick=False):
            old = _record(tenant.pk, 0)
        now = START + timedelta(days=30)
        outcome = audit_prune(tenant=tenant, actor=RETENTION, now=now)
        assert outcome.archived == 1
        remaining = set(AuditEvent.objects.filter(tenant_id=tenant.pk).values_list("seq", flat=True))
        assert kept.seq in remaining
        assert old.seq not in remaining
        assert AuditTombstone.objects.filter(seq=old.seq).exists()

    @pytest.mark.parametrize(("setting", "effective"), [(10, 30), (30, 30), (3650, 3650),
                                                         (5000, 3650)])
    def test_the_period_is_held_between_30_and_3650_days(self, setting, effective):
        tenant = factories.tenant_create(audit_retention_days=setting)
        with time_machine.travel(START - timedelta(days=effective) + timedelta(seconds=1)):
            younger = _record(tenant.pk, 1)
        with time_machine.travel(START - timedelta(days=effective) - timedelta(seconds=1)):
            older = _record(tenant.pk, 0)
        audit_prune(tenant=tenant, actor=RETENTION, now=START)
        assert AuditEvent.objects.filter(seq=younger.seq).exists()
        assert not AuditEvent.objects.filter(seq=older.seq).exists()


@pytest.mark.django_db
class TestVerifyAcrossTheCut:
    def test_the_remaining_chain_and_the_archive_both_verify(self):
        tenant = factories.tenant_create(audit_retention_days=30)
        other = factories.tenant_create(audit_retention_days=30)
        _interleaved(tenant, other, days_old=40)
        _interleaved(tenant, other, days_old=1)
        lines = audit_prune_due(actor=RETENTION, tenant_slug=tenant.slug, now=START)
        assert lines == [f"{tenant.slug}: archived 3 audit events to "
                         f"{AuditEvent.objects.get(action='audit.pruned').metadata['archive']} "
                         "and deleted them from the log."]
        assert AuditEvent.objects.filter(tenant_id=other.pk).count() == 6  # other tenant untouched
        result = audit_verify()
        assert result.ok, result.sentence()
        assert "3 older events archived by retention" in result.sentence()
        archive = AuditEvent.objects.get(action="audit.pruned").metadata["archive"]
        out = io.StringIO()
        call_command("audit", "verify", "--archive", str(_archive_path(archive)), stdout=out)
        assert out.getvalue().startswith("OK: 3 archived events of tenant")
        assert "3 of them are linked into this installation's chain" in out.getvalue()

    def test_the_archive_holds_each_event_as_it_was(self):
        tenant = factories.tenant_create(audit_retention_days=30)
        other = factories.tenant_create()
        _interleaved(tenant, other, days_old=40, rounds=2)
        before = {e.seq: e for e in AuditEvent.objects.filter(tenant_id=tenant.pk)}
        outcome = audit_prune(tenant=tenant, actor=RETENTION, now=START)
        with gzip.open(_archive_path(outcome.archive), "rt") as handle:
            records = [json.loads(line) for line in handle][:-1]
        assert [r["seq"] for r in records] == sorted(before)
        for record in records:
            event = before[record["seq"]]
            assert (record["action"], record["metadata"], record["hash"], record["prev_hash"]) \
                == (event.action, event.metadata, event.hash, event.prev_hash)

    @pytest.mark.parametrize("tamper", ["delete_tombstone", "tombstone_hash", "fake_tombstone"])
    def test_tampering_with_the_tombstones_is_detected(self, tamper):
        tenant = factories.tenant_create(audit_retention_days=30)
        other = factories.tenant_create()
        _interleaved(tenant, other, days_old=40)
        audit_prune(tenant=tenant, actor=RETENTION, now=START)
        first = AuditTombstone.objects.order_by("seq").first()
        table = AuditTombstone._meta.db_table
        with connection.cursor() as cursor:
            if tamper == "delete_tombstone":
                cursor.execute(f"DELETE FROM {table} WHERE seq = %s", [first.seq])  # noqa: S608
            elif tamper == "tombstone_hash":
                cursor.execute(f"UPDATE {table} SET hash = %s WHERE seq = %s",  # noqa: S608
                               ["e" * 64, first.seq])
            else:  # an event of the other tenant deleted and dressed up as archived
                victim = AuditEvent.objects.filter(tenant_id=other.pk).order_by("seq").first()
                AuditTombstone.objects.create(seq=victim.seq, tenant_id=other.pk,
                                              created_at=victim.created_at,
                                              prev_hash=victim.prev_hash, hash=victim.hash,
                                              prune=first.prune)
                AuditEvent.objects.filter(seq=victim.seq)._raw_delete(AuditEvent.objects.db)
        result = audit_verify()
        assert not result.ok, result.sentence()

    @pytest.mark.parametrize("tamper", ["edit", "drop", "cut_short", "foreign_key"])
    def test_a_tampered_archive_is_refused(self, tamper, tmp_path):
        tenant = factories.tenant_create(audit_retention_days=30)
        other = factories.tenant_create()
        _interleaved(tenant, other, days_old=40)
        outcome = audit_prune(tenant=tenant, actor=RETENTION, now=START)
        with gzip.open(_archive_path(outcome.archive), "rt") as handle:
            lines = handle.read().splitlines()
        if tamper == "edit":
            lines[1] = lines[1].replace("job.started", "job.approved")
        elif tamper == "drop":
            del lines[1]
        elif tamper == "cut_short":
            del lines[-1]
        else:
            last = json.loads(lines[-1])
            last["checkpoint"]["signature"] = last["checkpoint"]["signature"][::-1]
            lines[-1] = json.dumps(last)
        forged = tmp_path / "forged.jsonl.gz"
        with gzip.open(forged, "wt") as handle:
            handle.write("\n".join(lines) + "\n")
        assert archive_verify(_archive_path(outcome.archive)).ok
        report = archive_verify(forged)
        assert not report.ok
        with pytest.raises(CommandError, match="ARCHIVE REFUSED"):
            call_command("audit", "verify", "--archive", str(forged))


@pytest.mark.django_db
class TestLegalHold:
    def test_a_tenant_hold_stops_audit_deletion_and_is_recorded(self):
        tenant = factories.tenant_create(audit_retention_days=30)
        other = factories.tenant_create()
        staff = factories.user_create(is_staff=True)
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                                     scope_id=str(tenant.pk))
        _interleaved(tenant, other, days_old=400)
        outcome = audit_prune(tenant=tenant, actor=RETENTION, now=START)
        assert outcome.held_by == hold.pk
        assert "legal hold" in outcome.sentence()
        assert AuditEvent.objects.filter(tenant_id=tenant.pk, action="job.started").count() == 3
        assert not AuditTombstone.objects.exists()
        refused = AuditEvent.objects.get(action="audit.pruned")
        assert refused.outcome == "failure"
        assert refused.metadata["code"] == "legal_hold"
        hold.active = False
        hold.save()
        assert audit_prune(tenant=tenant, actor=RETENTION, now=START).archived == 3

    def test_a_subject_hold_does_not_stop_audit_retention(self):
        tenant = factories.tenant_create(audit_retention_days=30)
        other = factories.tenant_create()
        staff = factories.user_create(is_staff=True)
        factories.hold_create(tenant=tenant, created_by=staff, scope_type="subject")
        _interleaved(tenant, other, days_old=40)
        assert audit_prune(tenant=tenant, actor=RETENTION, now=START).archived == 3


@pytest.mark.django_db
def test_retention_refuses_to_archive_a_broken_chain():
    tenant = factories.tenant_create(audit_retention_days=30)
    other = factories.tenant_create()
    _interleaved(tenant, other, days_old=40)
    AuditEvent.objects.filter(seq=2)._update(
        [(AuditEvent._meta.get_field("action"), None, "job.approved")])
    with pytest.raises(CommandError, match="Audit retention did not run"):
        call_command("audit", "prune")
    assert not AuditTombstone.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_prunes_on_its_daily_pass():
    tenant = factories.tenant_create(audit_retention_days=30)
    other = factories.tenant_create()
    _interleaved(tenant, other, days_old=40 + (datetime.now(UTC) - START).days)
    stop = threading.Event()
    worker = threading.Thread(target=audit_retention_daily, args=(stop,),
                              kwargs={"first_after": 0.01, "every": 3600.0}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while not AuditTombstone.objects.exists() and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    worker.join(timeout=30)
    assert AuditTombstone.objects.filter(tenant_id=tenant.pk).count() == 3
    assert audit_verify().ok
