from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from privacyops.audit.chain import canonical, event_hash
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
EXAMPLES = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def broken_at(expected_seq: int) -> None:
    result = audit_verify()
    assert not result.ok
    assert result.broken_seq == expected_seq, result.sentence()
    assert result.sentence().startswith(f"BROKEN at event #{expected_seq}:")


@st.composite
def edits(draw, events: list[AuditEvent]):
    """(seq, field, new value) for one canonical field of one event, the value really changed."""
    event = draw(st.sampled_from(events))
    field = draw(st.sampled_from(["created_at", "tenant_id", "metadata", "prev_hash", "hash",
                                  "seq", *TEXT_FIELDS]))
    old = getattr(event, field)
    if field == "created_at":
        value = old + timedelta(microseconds=draw(st.integers(1, 10**9)) * draw(
            st.sampled_from([1, -1])))
    elif field == "tenant_id":
        value = draw(st.none() | st.integers(1, 2**40))
    elif field == "metadata":
        value = draw(st.dictionaries(TEXT, JSON, max_size=3))
        assume(canonical({**_values(event), "metadata": value}) != canonical(_values(event)))
    elif field in {"prev_hash", "hash"}:
        value = draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    elif field == "seq":
        value = draw(st.integers(len(events) + 1, 10**6))
    else:
        value = draw(TEXT.filter(lambda text: len(text) <= TEXT_FIELDS[field]))
    assume(value != old)
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
        field_update(seq, **{field: value})
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
