from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from privacyops.audit.chain import event_hash
from privacyops.audit.models import AuditChainHead, AuditEvent
from privacyops.audit.selectors import audit_verify
from privacyops.audit.services import audit_record
from privacyops.tenancy.actors import Actor
from tests import factories
from tests.audit.chain_tools import append_events, field_update, forged, raw_delete, swap_seq

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)
JSON_LEAVES = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | TEXT
JSON = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
METADATA = st.dictionaries(TEXT, JSON | st.floats(allow_nan=False, allow_infinity=False),
                           max_size=4)
TEXT_FIELDS = {"actor_type": 20, "actor_id": 100, "actor_label": 200, "action": 60,
               "target_type": 40, "target_id": 200, "outcome": 10}
# The tests keep no state on `self`; pytest called in one process more than once (mutmut does,
# see scripts/mutation) runs them on new instances of their class, which Hypothesis flags.
SHARED_SAFE = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=SHARED_SAFE)


def broken_at(expected_seq: int) -> None:
    result = audit_verify()
    assert not result.ok
    assert result.broken_seq == expected_seq, result.sentence()
    assert result.sentence().startswith(f"BROKEN at event #{expected_seq}:")


def _stored_row(seq: int) -> tuple:
    """Every column of one stored event, as the database holds it (the oracle of an edit)."""
    table = AuditEvent._meta.db_table
    columns = ", ".join(f"CAST({name} AS TEXT)" if connection.vendor == "sqlite" else
                        (f"{name}::text" if name in {"created_at", "metadata"} else name)
                        for name in STORED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE seq = %s", [seq])  # noqa: S608
        return cursor.fetchone()


# Every column of the table, written out here rather than read from the code under test.
STORED_COLUMNS = ("seq", "created_at", "tenant_id", "actor_type", "actor_id", "actor_label",
                  "action", "target_type", "target_id", "outcome", "metadata", "prev_hash", "hash")


EDITABLE = ("created_at", "tenant_id", "metadata", "prev_hash", "hash", "seq", *TEXT_FIELDS)


@st.composite
def edits(draw, events: list[AuditEvent], field: str | None = None):
    """(seq, field, new value) for any stored column of one event."""
    event = draw(st.sampled_from(events))
    field = field or draw(st.sampled_from(EDITABLE))
    old = getattr(event, field)
    if field == "created_at":
        value = old + timedelta(microseconds=draw(st.integers(1, 10**9)) * draw(
            st.sampled_from([1, -1])))
    elif field == "tenant_id":
        value = draw(st.none() | st.integers(1, 2**40))
    elif field == "metadata":
        value = draw(st.dictionaries(TEXT, JSON, max_size=3)
                     | st.just({**old, "attempt": old.get("attempt", 0) + 1}))
    elif field in {"prev_hash", "hash"}:
        value = draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    elif field == "seq":
        value = draw(st.integers(len(events) + 1, 10**6))
    else:
        value = draw(TEXT.filter(lambda text: len(text) <= TEXT_FIELDS[field]))
    return event.seq, field, value


def _values(event: AuditEvent) -> dict:
    return {name: getattr(event, name) for name in (
        "seq", "created_at", "tenant_id", "actor_type", "actor_id", "actor_label", "action",
        "target_type", "target_id", "outcome", "metadata")}


def _tamper(data, events: list[AuditEvent]) -> int:
    """Tamper with the stored chain one way; returns the seq verify must name."""
    last = len(events)
    kind = data.draw(st.sampled_from(["edit", "delete", "append_forged", "append_garbage",
                                      "insert_forged", "prepend_forged", "swap", "truncate",
                                      "rewrite_rehashed"]))
    seq = data.draw(st.integers(1, last))
    if kind == "edit":
        seq, field, value = data.draw(edits(events))
        before = _stored_row(seq)
        field_update(seq, **{field: value})
        # Whether the edit mattered is judged on the stored bytes, not by the code under test.
        assume(_stored_row(value if field == "seq" else seq) != before)
        return seq
    if kind == "delete":
        raw_delete(seq=seq)
        return seq
    if kind in {"append_forged", "append_garbage"}:
        forged(seq=last + 1, prev_hash=events[-1].hash, correct_hash=kind == "append_forged")
        return last + 1
    if kind == "prepend_forged":
        forged(seq=0, prev_hash="0" * 64)
        return 0
    if kind == "insert_forged":
        for later in range(last, seq - 1, -1):
            field_update(later, seq=later + 1)
        forged(seq=seq, prev_hash=events[seq - 2].hash if seq > 1 else "0" * 64)
        return seq + 1  # the forgery links back correctly; the event after it no longer does
    if kind == "swap":
        assume(last >= 2)
        other = data.draw(st.integers(1, last).filter(lambda n: n != seq))
        swap_seq(min(seq, other), max(seq, other))
        return min(seq, other)
    if kind == "truncate":
        raw_delete(seq__gte=seq)
        return seq
    event = events[seq - 1]  # rewrite_rehashed: a forger who recomputes the edited event's hash
    values = {**_values(event), "actor_label": "someone-else@example.com"}
    field_update(seq, actor_label=values["actor_label"],
                 hash=event_hash(event.prev_hash, values))
    return seq + 1 if seq < last else seq


# One event written out by hand: its canonical text and its hash (hashlib over that text,
# computed once and pinned). Nothing here comes from the code under test.
HAND_EVENT_TEXT = (
    '[1,"2026-03-04T05:06:07.000008+00:00",7,"user","42","dpo@example.com","job.approved",'
    '"job","9","success",{"note":"café ☕","reason":"contract ended","rows":[1,2.5,null,true]}]'
)
HAND_EVENT_HASH = "52e3c5229199ce1771bb3971a8d3d2ae0a323a6c3dea2c71b8aca07b64c0c002"


@pytest.mark.django_db
class TestHandCheckedEvent:
    def test_the_hash_covers_every_field_as_written_by_hand(self):
        pinned = hashlib.sha256(("0" * 64 + HAND_EVENT_TEXT).encode()).hexdigest()
        assert pinned == HAND_EVENT_HASH
        tenant_actor = Actor("user", "42", "dpo@example.com")
        with time_machine.travel(datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC), tick=False), \
                transaction.atomic():
            event = audit_record(actor=tenant_actor, action="job.approved", tenant_id=7,
                                 target_type="job", target_id=9,
                                 metadata={"reason": "contract ended", "note": "café ☕",
                                           "rows": [1, 2.5, None, True]})
        assert event.hash == HAND_EVENT_HASH
        assert AuditEvent.objects.get(seq=1).hash == HAND_EVENT_HASH
        assert audit_verify().ok

    @pytest.mark.parametrize(("column", "value"), [
        ("metadata", {"reason": "FORGED", "note": "café ☕", "rows": [1, 2.5, None, True]}),
        ("actor_label", "mallory@example.com"), ("outcome", "failure"), ("tenant_id", 8),
        ("target_id", "10"), ("created_at", datetime(2026, 3, 4, 5, 6, 7, 9, tzinfo=UTC)),
    ])
    def test_a_change_of_any_stored_column_of_the_hand_checked_event_is_detected(
            self, column, value):
        with time_machine.travel(datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC), tick=False), \
                transaction.atomic():
            audit_record(actor=Actor("user", "42", "dpo@example.com"), action="job.approved",
                         tenant_id=7, target_type="job", target_id=9,
                         metadata={"reason": "contract ended", "note": "café ☕",
                                   "rows": [1, 2.5, None, True]})
        assert AuditEvent.objects.get().hash == HAND_EVENT_HASH
        field_update(1, **{column: value})
        broken_at(1)


def test_every_stored_column_is_one_the_chain_hashes():
    """A column added to the table and left out of the hash would be editable unseen."""
    assert {field.column for field in AuditEvent._meta.concrete_fields} == set(STORED_COLUMNS)


@pytest.mark.django_db
class TestVerify:
    def test_an_empty_log_verifies(self):
        assert audit_verify().sentence() == "OK: 0 events, chain intact."

    def test_appended_events_verify_with_their_count(self):
        append_events(12, tenant_ids=(None, 1, 2))
        result = audit_verify()
        assert result.ok
        assert result.sentence() == "OK: 12 events, chain intact."

    @EXAMPLES
    @given(metadata=st.lists(METADATA, min_size=1, max_size=4), label=TEXT)
    def test_any_metadata_survives_the_database_round_trip(self, metadata, label):
        with transaction.atomic():
            for n, meta in enumerate(metadata):
                audit_record(actor=Actor("user", str(n), label), action="gdpr.export",
                             tenant_id=n, target_type="subject", target_id=label, metadata=meta)
            result = audit_verify()
            assert result.ok, result.sentence()
            assert result.count == len(metadata)
            transaction.set_rollback(True)

    @EXAMPLES
    @given(count=st.integers(1, 8), data=st.data())
    def test_every_tampering_is_detected_at_the_first_broken_event(self, count, data):
        with transaction.atomic():
            events = append_events(count, tenant_ids=(None, 7))
            expected = _tamper(data, events)
            broken_at(expected)
            transaction.set_rollback(True)

    @pytest.mark.parametrize("field", EDITABLE)
    @settings(max_examples=15, deadline=None, suppress_health_check=SHARED_SAFE)
    @given(count=st.integers(1, 5), data=st.data())
    def test_any_change_of_a_stored_column_is_detected(self, field, count, data):
        """The oracle is the stored row itself: if its bytes changed, verify must say so."""
        with transaction.atomic():
            events = append_events(count, tenant_ids=(None, 7))
            seq, field, value = data.draw(edits(events, field))
            before = _stored_row(seq)
            field_update(seq, **{field: value})
            assume(_stored_row(value if field == "seq" else seq) != before)
            broken_at(seq)
            transaction.set_rollback(True)

    def test_a_removed_head_row_is_detected(self):
        append_events(3)
        AuditChainHead.objects.all().delete()
        broken_at(1)


@pytest.mark.django_db
class TestVerifyCommand:
    def test_prints_ok_with_the_count(self):
        append_events(5)
        out = io.StringIO()
        call_command("audit", "verify", stdout=out)
        assert out.getvalue().strip() == "OK: 5 events, chain intact."

    def test_names_the_edited_event(self):
        append_events(5)
        field_update(3, target_id="999")
        with pytest.raises(CommandError, match=r"BROKEN at event #3: its content does not match"):
            call_command("audit", "verify")


@pytest.mark.django_db(transaction=True)
def test_the_cli_exits_non_zero_on_a_broken_chain():
    append_events(4)
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "PRIVACYOPS_DATABASE_URL": url}
    command = [sys.executable, "-m", "privacyops.cli", "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "OK: 4 events, chain intact." in ok.stdout
    raw_delete(seq=2)
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert broken.returncode != 0
    assert "BROKEN at event #2: event #2 is missing" in broken.stderr


@pytest.mark.django_db
class TestAppendOnly:
    def test_saving_an_existing_event_is_refused(self):
        event = append_events(1)[0]
        event.action = "job.rejected"
        with pytest.raises(TypeError, match="append-only"):
            event.save()
        assert AuditEvent.objects.get().action == "job.started"

    def test_a_new_instance_cannot_overwrite_an_event_by_its_pk(self):
        event = append_events(1)[0]
        copy = AuditEvent(pk=event.pk, **{**_values(event), "action": "job.rejected"},
                          prev_hash=event.prev_hash, hash=event.hash)
        with pytest.raises(IntegrityError), transaction.atomic():
            copy.save()
        assert AuditEvent.objects.get().action == "job.started"

    def test_deleting_an_event_is_refused(self):
        event = append_events(1)[0]
        with pytest.raises(TypeError, match="cannot be deleted"):
            event.delete()
        assert AuditEvent.objects.count() == 1

    @pytest.mark.parametrize("operation", [
        lambda events: events.update(outcome="failure"),
        lambda events: events.delete(),
        lambda events: events.bulk_update(list(events), ["outcome"]),
        lambda events: events.bulk_create(
            [AuditEvent(**{**_values(events.get(seq=1)), "outcome": "failure"},
                        prev_hash="0", hash="0")],
            update_conflicts=True, unique_fields=["seq"], update_fields=["outcome"]),
    ], ids=["update", "delete", "bulk_update", "bulk_create_upsert"])
    def test_queryset_writes_are_refused(self, operation):
        append_events(2)
        with pytest.raises(TypeError, match="append-only"), transaction.atomic():
            operation(AuditEvent.objects.all())
        assert list(AuditEvent.objects.values_list("outcome", flat=True)) == ["success"] * 2
        assert audit_verify().ok

    def test_deleting_a_tenant_keeps_its_evidence(self):
        tenant = factories.tenant_create()
        append_events(3, tenant_ids=(tenant.pk,))
        tenant_id = tenant.pk
        tenant.delete()
        assert AuditEvent.objects.filter(tenant_id=tenant_id).count() == 3
        assert audit_verify().ok
