"""Signed checkpoints: a rewrite or a truncation that keeps every link intact is still caught."""

from __future__ import annotations

import base64
import io
import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection

from privacyops.audit.models import AuditCheckpoint
from privacyops.audit.selectors import audit_verify
from tests.audit.chain_tools import append_events, rewrite_and_rehash, truncate_and_rewind


@pytest.fixture(autouse=True)
def signing(settings, tmp_path):
    settings.SIGNING_KEY_FILE = str(tmp_path / "keys" / "signing.pem")
    settings.AUDIT_CHECKPOINT_EVERY = 5
    return tmp_path / "keys" / "signing.pem"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("audit", *args, stdout=out)
    return out.getvalue()


def _verify_fails(*args: str) -> str:
    with pytest.raises(CommandError) as failure:
        _run("verify", *args)
    return str(failure.value)


@pytest.mark.django_db
class TestSigningKey:
    def test_the_key_is_created_on_first_use_outside_the_database_and_printed(self, signing):
        assert not signing.exists()
        append_events(5)
        assert signing.exists()
        assert stat.S_IMODE(signing.stat().st_mode) == 0o600
        private = serialization.load_pem_private_key(signing.read_bytes(), password=None)
        raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)
        assert base64.b64encode(raw).decode() in _run("key")
        secret = private.private_bytes(serialization.Encoding.Raw,
                                       serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())
        stored = json.dumps(list(AuditCheckpoint.objects.values()), default=str)
        assert base64.b64encode(secret).decode() not in stored
        assert secret.hex() not in stored

    def test_a_checkpoint_is_signed_every_n_events_over_the_head(self, signing):
        events = append_events(12)
        checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
        assert [(c.seq, c.hash) for c in checkpoints] == [(5, events[4].hash), (10, events[9].hash)]
        public = serialization.load_pem_private_key(signing.read_bytes(), None).public_key()
        for checkpoint in checkpoints:  # the signature checked with the library, not our code
            public.verify(base64.b64decode(checkpoint.signature), checkpoint.payload.encode())
            assert json.loads(checkpoint.payload)["hash"] == checkpoint.hash
        assert "matches the periodic checkpoint" in audit_verify().sentence()


@pytest.mark.django_db
class TestRewriteAndTruncation:
    def test_without_checkpoints_a_rehashed_rewrite_passes(self, settings):
        """What the chain alone cannot see, and the reason checkpoints exist."""
        settings.AUDIT_CHECKPOINT_EVERY = 0
        append_events(12)
        rewrite_and_rehash(3, actor_label="someone-else@example.com")
        assert audit_verify().ok

    def test_a_rewrite_with_every_later_hash_recomputed_is_reported(self):
        append_events(12)
        rewrite_and_rehash(3, actor_label="someone-else@example.com")
        result = audit_verify()
        assert not result.ok
        assert result.broken_seq == 5
        assert "between #1 and #5 was rewritten" in result.sentence()
        assert "(rewritten)" in _verify_fails()

    def test_a_rewrite_after_the_last_checkpoint_is_caught_by_a_later_one(self):
        append_events(12)
        rewrite_and_rehash(7, target_id="999")
        result = audit_verify()
        assert result.broken_seq == 10
        assert "between #6 and #10" in result.sentence()

    def test_truncation_with_the_head_rewound_is_reported(self):
        append_events(12)
        truncate_and_rewind(8)
        result = audit_verify()
        assert not result.ok
        assert result.broken_seq == 9
        assert "ends at event #8" in result.sentence()
        assert "records #10" in result.sentence()
        assert "(truncated)" in result.sentence()

    def test_a_checkpoint_file_catches_what_deleting_checkpoint_rows_hides(self, tmp_path):
        append_events(12)
        checkpoint_file = tmp_path / "outside" / "head.json"
        checkpoint_file.parent.mkdir()
        assert "Signed checkpoint at event #13" in _run("checkpoint", "--out", str(checkpoint_file))
        assert "matches the manual checkpoint" in _run("verify", "--checkpoint", str(checkpoint_file))
        truncate_and_rewind(11)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {AuditCheckpoint._meta.db_table} WHERE seq > 11")  # noqa: S608
        assert "OK: 11 events" in _run("verify")  # the database alone no longer knows
        message = _verify_fails("--checkpoint", str(checkpoint_file))
        assert "ends at event #11" in message
        assert "records #13" in message

    def test_a_rewrite_is_caught_by_the_checkpoint_file(self, tmp_path):
        append_events(4)
        checkpoint_file = tmp_path / "head.json"
        _run("checkpoint", "--out", str(checkpoint_file))
        rewrite_and_rehash(2, outcome="failure")
        assert "(rewritten)" in _verify_fails("--checkpoint", str(checkpoint_file))


@pytest.mark.django_db
class TestForgedCheckpoints:
    def test_a_checkpoint_row_moved_to_a_rewritten_head_is_refused(self):
        append_events(12)
        rewrite_and_rehash(3, actor_label="someone-else@example.com")
        from privacyops.audit.models import AuditEvent
        for checkpoint in AuditCheckpoint.objects.all():
            new_hash = AuditEvent.objects.get(seq=checkpoint.seq).hash
            AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(
                hash=new_hash, payload=checkpoint.payload.replace(checkpoint.hash, new_hash))
        result = audit_verify()
        assert not result.ok
        assert "not signed by this installation's key" in result.sentence()

    def test_a_checkpoint_file_signed_by_another_key_is_refused(self, tmp_path):
        append_events(3)
        checkpoint_file = tmp_path / "head.json"
        _run("checkpoint", "--out", str(checkpoint_file))
        document = json.loads(checkpoint_file.read_text())
        other = Ed25519PrivateKey.generate()
        document["signature"] = base64.b64encode(other.sign(document["payload"].encode())).decode()
        document["public_key"] = base64.b64encode(other.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
        checkpoint_file.write_text(json.dumps(document))
        assert "signed by key" in _verify_fails("--checkpoint", str(checkpoint_file))

    def test_an_altered_checkpoint_file_is_refused(self, tmp_path):
        append_events(3)
        checkpoint_file = tmp_path / "head.json"
        _run("checkpoint", "--out", str(checkpoint_file))
        document = json.loads(checkpoint_file.read_text())
        document["payload"] = document["payload"].replace('"seq":4', '"seq":3')
        checkpoint_file.write_text(json.dumps(document))
        assert "was altered" in _verify_fails("--checkpoint", str(checkpoint_file))
