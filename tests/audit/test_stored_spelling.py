"""Verify reads what the database reads: another spelling of the same stored value is refused.

The oracle is the database itself: whatever spelling verify accepts must read, through the
database's own JSON functions, exactly as the original event did.
"""

from __future__ import annotations

import json
import random

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import audit_verify
from tests.audit.chain_tools import append_events

TABLE = AuditEvent._meta.db_table
ORIGINAL = {"reason": "retention ends", "count": 5, "ratio": 0.25, "ok": True, "none": None,
            "nested": {"list": [1, "x/y", "café ☕"], "b": "\t"}}
EXAMPLES = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _store_metadata(seq: int, text: str) -> None:
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET metadata = %s{cast} WHERE seq = %s", [text, seq])  # noqa: S608


def _stored_metadata(seq: int) -> str:
    cast = "::text" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT metadata{cast} FROM {TABLE} WHERE seq = %s", [seq])  # noqa: S608
        return cursor.fetchone()[0]


def _database_reads(seq: int, key: str) -> object:
    """What a query of the database reads for one top-level key (json_extract / ->>)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT metadata ->> %s FROM {TABLE} WHERE seq = %s", [key, seq])  # noqa: S608
        else:
            cursor.execute(f"SELECT json_extract(metadata, %s) FROM {TABLE} WHERE seq = %s",  # noqa: S608
                           [f'$."{key}"', seq])
        return cursor.fetchone()[0]


@st.composite
def spellings(draw, value: object) -> str:
    """Another text that json.loads reads as `value`: spacing, key order, duplicate keys,
    escapes, number forms."""
    space = st.sampled_from(["", "", " ", "\n", "\t", "  "])
    if isinstance(value, dict):
        keys = list(value)
        order = draw(st.permutations(keys))
        parts = []
        for key in order:
            if draw(st.booleans()) and draw(st.booleans()):
                parts.append(f"{draw(spellings(key))}:{draw(space)}\"FORGED\"")  # overridden later
            parts.append(f"{draw(space)}{draw(spellings(key))}{draw(space)}:{draw(space)}"
                         f"{draw(spellings(value[key]))}{draw(space)}")
        return "{" + ",".join(parts) + draw(space) + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"{draw(space)}{draw(spellings(item))}" for item in value) + "]"
    if isinstance(value, str):
        out = []
        for char in value:
            form = draw(st.sampled_from(["plain", "plain", "escape", "upper"]))
            if char in '"\\' or char < " " or form != "plain":
                code = f"{ord(char):04x}" if ord(char) < 0x10000 else None
                if code is None:
                    out.append(json.dumps(char, ensure_ascii=True)[1:-1])
                else:
                    out.append("\\u" + (code.upper() if form == "upper" else code))
            elif char == "/" and draw(st.booleans()):
                out.append("\\/")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    if value is True or value is False or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return draw(st.sampled_from([str(value), f"{value}.0", f"{value}e0", f"{value}0e-1",
                                     f"{value}.00"]))
    assert isinstance(value, float)
    return draw(st.sampled_from([repr(value), f"{value!r}0", f"{value * 10!r}e-1",
                                 f"{value:.6e}"]))


@pytest.mark.django_db
class TestRespelledMetadata:
    def test_the_reported_forgery_is_refused_or_reads_the_original(self):
        append_events(3)
        original = AuditEvent.objects.get(seq=2).metadata["note"]
        _store_metadata(2, json.dumps({"attempt": 1, "note": "FORGED"})[:-1]
                        + f', "note": {json.dumps(original)}}}')
        reads = _database_reads(2, "note")
        result = audit_verify()
        if reads == "FORGED":
            assert not result.ok
            assert result.broken_seq == 2, result.sentence()
            assert "not spelled canonically" in result.sentence()
        else:  # jsonb keeps the last of duplicate keys: the database reads the original
            assert connection.vendor == "postgresql"
            assert reads == original
            assert result.ok, result.sentence()

    @EXAMPLES
    @given(data=st.data())
    def test_any_respelling_is_refused_unless_the_stored_text_is_unchanged(self, data):
        with transaction.atomic():
            append_events(2)
            from privacyops.audit.services import audit_record
            from privacyops.tenancy.actors import Actor
            audit_record(actor=Actor.system(), action="job.started", tenant_id=None,
                         metadata=ORIGINAL)
            append_events(1)
            before = _stored_metadata(3)
            respelled = data.draw(spellings(ORIGINAL))
            assume(respelled != before)
            assert json.loads(respelled) == ORIGINAL  # the same value to a JSON parser
            _store_metadata(3, respelled)
            result = audit_verify()
            if _stored_metadata(3) == before:  # jsonb normalised it back: nothing changed
                assert result.ok, result.sentence()
            else:
                assert not result.ok, f"accepted {respelled!r}"
                assert result.broken_seq == 3, result.sentence()
            transaction.set_rollback(True)

    @pytest.mark.parametrize("forged", ["{}", "[]", '"text"', "null"])
    def test_other_json_values_are_refused(self, forged):
        append_events(2)
        _store_metadata(1, forged)
        result = audit_verify()
        assert not result.ok
        assert result.broken_seq == 1


@pytest.mark.django_db
class TestRespelledTime:
    def test_every_other_spelling_of_the_same_moment_is_refused(self):
        append_events(2)
        event = AuditEvent.objects.get(seq=1)
        moment = event.created_at.replace(microsecond=0)
        seen = random.Random(7)
        spellings_of_moment = [
            moment.strftime("%Y-%m-%dT%H:%M:%S"), moment.strftime("%Y-%m-%d %H:%M:%S.000000"),
            moment.strftime("%Y-%m-%d %H:%M:%S+00:00"), moment.strftime("%Y-%m-%d %H:%M:%S "),
        ]
        seen.shuffle(spellings_of_moment)
        from tests.audit.chain_tools import field_update
        field_update(1, created_at=moment)
        from privacyops.audit.chain import event_hash
        values = {name: getattr(event, name) for name in (
            "seq", "tenant_id", "actor_type", "actor_id", "actor_label", "action",
            "target_type", "target_id", "outcome", "metadata")}
        field_update(1, hash=event_hash(event.prev_hash, {**values, "created_at": moment}))
        field_update(2, prev_hash=event_hash(event.prev_hash, {**values, "created_at": moment}))
        # Rehash the rest of the chain as a forger would, so only the spelling is in question.
        from privacyops.audit.models import AuditChainHead
        second = AuditEvent.objects.get(seq=2)
        values2 = {name: getattr(second, name) for name in (*values, "created_at")}
        second_hash = event_hash(second.prev_hash, values2)
        field_update(2, hash=second_hash)
        AuditChainHead.objects.filter(pk=1).update(hash=second_hash)
        assert audit_verify().ok, audit_verify().sentence()
        for text in spellings_of_moment:
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {TABLE} SET created_at = %s WHERE seq = 1", [text])  # noqa: S608
            result = audit_verify()
            if connection.vendor == "postgresql":
                # timestamptz keeps the moment, not the spelling: nothing changed to refuse.
                assert AuditEvent.objects.get(seq=1).created_at == moment
                assert result.ok, result.sentence()
                continue
            assert not result.ok, text
            assert result.broken_seq == 1
            assert "stored time" in result.sentence()
