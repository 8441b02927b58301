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
    """Metadata text that is hashed exactly as it is, byte for byte (never parsed again)."""


class Unreadable:
    """A stored value that is not in the one spelling the chain accepts; verify names it."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Archived:
    """Stands in for the content of an event moved to an archive by retention (a tombstone)."""


ARCHIVED = _Archived()


_CANONICAL_ENCODER = CanonicalJSONEncoder()


def canonical(values: dict[str, Any]) -> bytes:
    row = [values[name] for name in CANONICAL_FIELDS]
    created = row[1]
    if isinstance(created, datetime):
        row[1] = created.isoformat(timespec="microseconds")
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def canonical_json(value: Any) -> str:
    """One value in the canonical spelling (the metadata's part of the hashed text)."""
    return _CANONICAL_ENCODER.encode(value)


def is_canonical_text(text: str) -> bool:
    """True when `text` is exactly the canonical spelling of the JSON it parses to."""
    try:
        parsed = json.loads(text, object_pairs_hook=object_without_duplicates)
        return bool(_CANONICAL_ENCODER.encode(parsed) == text)
    except (ValueError, RecursionError):
        return False


def event_hash(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(values)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str = ""
    note: str = ""

    def sentence(self) -> str:
        if self.ok:
            if self.note:
                return f"OK: {self.count} events, chain intact; {self.note}."
            return f"OK: {self.count} events, chain intact."
        return f"BROKEN at event #{self.broken_seq}: {self.reason}"


@dataclass(frozen=True)
class Segment:
    """What verifying one stretch of the chain found, for stitching stretches together."""

    count: int
    first_seq: int | None
    first_prev: str | None
    last_hash: str | None
    failure: VerifyResult | None = None
    # True when the failure is at the stretch's first row and concerns its sequence number,
    # which the whole-chain walk checks before the link to the previous event.
    failure_before_link: bool = False


def verify_segment(rows: Iterable[Sequence[Any]], *, start_seq: int,
                   start_prev: str | None) -> Segment:
    """Check rows of (*CANONICAL_FIELDS, prev_hash, hash) in seq order from `start_seq`.

    `start_prev` is the hash the first row must link to; None leaves that link to the caller
    (a stretch verified in parallel with the one before it). ``created_at`` is a datetime or
    already its ``isoformat(timespec="microseconds")`` text; ``metadata`` a parsed value, a
    :class:`RawJSON` text hashed byte for byte, :data:`ARCHIVED` for an event whose content
    retention moved to an archive, or :class:`Unreadable` (as ``created_at`` may be) for a
    stored spelling the chain refuses.
    """
    expected_prev = start_prev
    expected_seq = start_seq
    count = 0
    first_seq: int | None = None
    first_prev: str | None = None
    sha256 = hashlib.sha256
    encode = _CANONICAL_ENCODER.encode

    def broken(seq: int, reason: str, *, before_link: bool = False) -> Segment:
        return Segment(count, first_seq, first_prev, expected_prev,
                       VerifyResult(False, count, seq, reason), before_link and count == 0)

    for row in rows:
        seq = row[0]
        if seq.__class__ is not int:
            return broken(expected_seq, "its sequence number is not a whole number (edited).",
                          before_link=True)
        if first_seq is None:
            first_seq, first_prev = seq, row[-2]
        if seq > expected_seq:
            return broken(expected_seq, f"event #{expected_seq} is missing (found #{seq}).",
                          before_link=True)
        if seq < expected_seq:
            return broken(seq, f"it is out of sequence: the chain expects #{expected_seq} here.",
                          before_link=True)
        prev_hash, stored_hash = row[-2], row[-1]
        if expected_prev is not None and prev_hash != expected_prev:
            return broken(seq, "its previous-hash does not match the event before it.")
        metadata = row[10]
        if metadata is ARCHIVED:
            # Content archived by retention: the link is checked here, the content by the
            # archive and the signed prune record that lists this event's hash.
            expected_prev = stored_hash
            expected_seq += 1
            count += 1
            continue
        created = row[1]
        for value in (created, metadata):
            if value.__class__ is Unreadable:
                return broken(seq, value.reason)
        if created.__class__ is not str:
            created = created.isoformat(timespec="microseconds")
        fields = [seq, created, *row[2:10]]
        try:
            if metadata.__class__ is RawJSON:
                # "[f0,…,f9]" + the stored metadata text as is: the canonical form of all 11
                # exactly when the stored text is the canonical spelling of its metadata.
                body = encode(fields)[:-1] + "," + metadata + "]"
            else:
                body = encode([*fields, metadata])
            intact = sha256((prev_hash + body).encode()).hexdigest() == stored_hash
        except (TypeError, ValueError):
            return broken(seq, "a stored value has a type the audit log never writes (edited).")
        if not intact and metadata.__class__ is RawJSON and not is_canonical_text(metadata):
            return broken(seq, "its stored metadata is not spelled canonically (duplicate keys, "
                               "key order or spacing), so the database may read other values "
                               "than the ones hashed (edited).")
        if not intact:
            return broken(seq, "its content does not match its hash (edited).")
        expected_prev = stored_hash
        expected_seq += 1
        count += 1
    return Segment(count, first_seq, first_prev, expected_prev)


def stitch(segments: Sequence[tuple[int, Segment]], *,
           head: tuple[int, str] | None) -> VerifyResult:
    """Join stretches verified separately (each with its start seq) into the chain's verdict.

    Gives exactly what one walk over the whole chain would: the first broken link, in order.
    """
    count = 0
    last_hash = GENESIS_HASH
    expected_seq = segments[0][0] if segments else 1
    for _start_seq, segment in segments:
        if segment.first_seq is None and segment.failure is None:
            continue  # a stretch with no rows: the next one (or the head) tells what is missing
        if segment.first_seq is not None and segment.first_seq > expected_seq:
            return VerifyResult(False, count, expected_seq,
                                f"event #{expected_seq} is missing (found #{segment.first_seq}).")
        failure = segment.failure
        if failure is not None and segment.failure_before_link:
            return VerifyResult(False, count, failure.broken_seq, failure.reason)
        if segment.first_prev != last_hash:
            return VerifyResult(False, count, segment.first_seq,
                                "its previous-hash does not match the event before it.")
        if failure is not None:
            return VerifyResult(False, count + failure.count, failure.broken_seq, failure.reason)
        count += segment.count
        last_hash = segment.last_hash or last_hash
        expected_seq = (segment.first_seq or expected_seq) + segment.count
    return _head_verdict(count, last_hash, head)


def _head_verdict(count: int, last_hash: str, head: tuple[int, str] | None) -> VerifyResult:
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
        if count and head_hash != last_hash:
            return VerifyResult(
                False, count, count,
                "its hash does not match the chain head (the last event was rewritten).",
            )
    return VerifyResult(True, count)


def verify_rows(rows: Iterable[Sequence[Any]], *, head: tuple[int, str] | None) -> VerifyResult:
    """Check the whole chain in one walk (rows in seq order from the first)."""
    return stitch([(1, verify_segment(rows, start_seq=1, start_prev=GENESIS_HASH))], head=head)
