"""Canonical serialisation and hashing of audit events; verification of the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64

# Column order of the canonical form: changing it breaks every existing chain.
CANONICAL_FIELDS = (
    "seq", "created_at", "tenant_id", "actor_type", "actor_id", "actor_label",
    "action", "target_type", "target_id", "outcome", "metadata",
)


class CanonicalJSONEncoder(json.JSONEncoder):
    """JSON in the one spelling the chain hashes: sorted keys, no spaces, UTF-8 as is.

    The audit log stores metadata with it, so on SQLite the stored text already is the
    canonical form and verification hashes it without parsing it again.
    """

    def __init__(self, **options: Any) -> None:
        options.update(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        super().__init__(**options)


class RawJSON(str):
    """Metadata exactly as the database stored it (text, not yet parsed)."""


_CANONICAL_ENCODER = CanonicalJSONEncoder()


def canonical(values: dict[str, Any]) -> bytes:
    row = [values[name] for name in CANONICAL_FIELDS]
    created = row[1]
    if isinstance(created, datetime):
        row[1] = created.isoformat(timespec="microseconds")
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(values)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str = ""

    def sentence(self) -> str:
        if self.ok:
            return f"OK: {self.count} events, chain intact."
        return f"BROKEN at event #{self.broken_seq}: {self.reason}"


def verify_rows(rows: Iterable[Sequence[Any]], *, head: tuple[int, str] | None) -> VerifyResult:
    """Check rows of (*CANONICAL_FIELDS, prev_hash, hash) in seq order against each other.

    ``created_at`` is a datetime, or already its ``isoformat(timespec="microseconds")`` text.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    sha256 = hashlib.sha256
    encode = _CANONICAL_ENCODER.encode
    for row in rows:
        seq = row[0]
        if seq > expected_seq:
            return VerifyResult(
                False, count, expected_seq, f"event #{expected_seq} is missing (found #{seq})."
            )
        if seq < expected_seq:
            return VerifyResult(
                False, count, seq, f"it is out of sequence: the chain expects #{expected_seq} here."
            )
        prev_hash, stored_hash = row[-2], row[-1]
        if prev_hash != expected_prev:
            return VerifyResult(
                False, count, seq, "its previous-hash does not match the event before it."
            )
        created = row[1]
        if created.__class__ is not str:
            created = created.isoformat(timespec="microseconds")
        fields = [seq, created, *row[2:10]]
        metadata = row[10]
        if metadata.__class__ is RawJSON:
            # "[f0,…,f9]" + the stored canonical metadata: the same text as encoding all 11.
            body = encode(fields)[:-1] + "," + metadata + "]"
            intact = sha256((prev_hash + body).encode()).hexdigest() == stored_hash
            if not intact:
                # Equivalent JSON spelled another way (written before the canonical encoder).
                body = encode([*fields, json.loads(metadata)])
                intact = sha256((prev_hash + body).encode()).hexdigest() == stored_hash
        else:
            body = encode([*fields, metadata])
            intact = sha256((prev_hash + body).encode()).hexdigest() == stored_hash
        if not intact:
            return VerifyResult(False, count, seq, "its content does not match its hash (edited).")
        expected_prev = stored_hash
        expected_seq += 1
        count += 1
    if head is not None:
        head_seq, head_hash = head
        if count < head_seq:
            return VerifyResult(
                False, count, count + 1,
                f"the chain head records {head_seq} events but {count} are stored (events "
                "removed from the end).",
            )
        if count > head_seq:
            return VerifyResult(
                False, count, head_seq + 1,
                f"the chain head records {head_seq} events but {count} are stored (events "
                "added after the head, outside the audit log).",
            )
        if count and head_hash != expected_prev:
            return VerifyResult(
                False, count, count,
                "its hash does not match the chain head (the last event was rewritten).",
            )
    return VerifyResult(True, count)
