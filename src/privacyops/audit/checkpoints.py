"""Signed checkpoints of the audit chain head, and what verify concludes from them.

A checkpoint is the text ``{"created_at","hash","kind","seq",…}`` in canonical JSON, signed with
the installation key (:mod:`privacyops.audit.signing`). The chain's links prove every event
up to the head; a signature over the head at event #c proves events #1…#c as they were when it
was signed. So once verify has walked the links, one comparison per checkpoint tells:

- **truncated**: a checkpoint records #c but the chain now ends before #c;
- **rewritten**: the stored hash of #c differs from the signed one, although every link holds
  (someone edited an event and recomputed every later hash and the head).

A checkpoint in the database can be deleted together with the events after it; a copy kept
outside the database (``privacyops audit checkpoint --out FILE``) cannot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from privacyops.audit.chain import canonical_json, object_without_duplicates
from privacyops.audit.models import AuditCheckpoint, AuditTombstone
from privacyops.audit.signing import (
    key_id,
    public_key,
    public_key_from_text,
    public_key_text,
    sign,
    signature_valid,
)
from privacyops.errors import ValidationFailed

DOCUMENT_FORMAT = "privacyops-audit-checkpoint/1"


def checkpoint_create(*, kind: str, seq: int, hash: str, tenant_id: int | None = None,
                      extra: dict[str, Any] | None = None) -> AuditCheckpoint:
    """Sign the head (seq, hash) and store the checkpoint; runs in the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("checkpoint_create must run inside the transaction that read the head.")
    now = timezone.now()
    fields: dict[str, Any] = {"kind": kind, "seq": seq, "hash": hash, "tenant_id": tenant_id,
                              "created_at": now.isoformat(timespec="microseconds"), **(extra or {})}
    payload = canonical_json(fields)
    signature, signer = sign(payload.encode())
    return AuditCheckpoint.objects.create(
        seq=seq, hash=hash, created_at=now, kind=kind, tenant_id=tenant_id, payload=payload,
        signature=signature, key_id=signer)


def checkpoint_document(checkpoint: AuditCheckpoint) -> dict[str, str]:
    """The checkpoint as a file to keep outside the database (it holds no secret)."""
    public = public_key()
    return {"format": DOCUMENT_FORMAT, "payload": checkpoint.payload,
            "signature": checkpoint.signature, "public_key": public_key_text(public),
            "key_id": key_id(public)}


@dataclass(frozen=True)
class SignedHead:
    seq: int
    hash: str
    created_at: str
    kind: str
    fields: dict[str, Any]

    def where(self) -> str:
        return f"the {self.kind} checkpoint signed at {self.created_at}"


def signed_head(payload: str, signature: str) -> SignedHead | None:
    """The head a checkpoint signs, or None unless the installation key signed exactly it."""
    if not signature_valid(public_key(create=False), payload.encode(), signature):
        return None
    try:
        fields = json.loads(payload, object_pairs_hook=object_without_duplicates)
        return SignedHead(int(fields["seq"]), str(fields["hash"]), str(fields["created_at"]),
                          str(fields["kind"]), fields)
    except (ValueError, KeyError, TypeError):
        return None


def signed_head_from_document(text: str) -> SignedHead:
    """Read a checkpoint file; refuse one not signed by this installation's key."""
    try:
        document = json.loads(text)
        payload, signature = document["payload"], document["signature"]
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed(
            "The checkpoint file is not a PrivacyOps audit checkpoint (a JSON object with "
            "payload and signature, as written by `privacyops audit checkpoint --out`).",
            field="checkpoint") from None
    if document.get("public_key"):
        signer = key_id(public_key_from_text(document["public_key"]))
        if signer != key_id(public_key(create=False)):
            raise ValidationFailed(
                f"The checkpoint file was signed by key {signer}, not by this installation's key "
                f"{key_id(public_key(create=False))}: it proves nothing about this audit log.",
                field="checkpoint")
    head = signed_head(payload, signature)
    if head is None:
        raise ValidationFailed(
            "The checkpoint file's signature does not match its content under this "
            "installation's key: the file was altered.", field="checkpoint")
    return head


def archived_digest(rows: Iterable[Sequence[Any]]) -> str:
    """SHA-256 over "seq prev_hash hash" lines of archived events, in seq order."""
    digest = hashlib.sha256()
    for seq, prev_hash, stored_hash in rows:
        digest.update(f"{seq} {prev_hash} {stored_hash}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckpointVerdict:
    """Why the chain fails its checkpoints (seq and reason), or the newest one it matches."""

    broken_seq: int | None = None
    reason: str = ""
    matched: SignedHead | None = None
    archived: int = 0


def checkpoints_verdict(*, count: int, hashes_at: dict[int, str],
                        external: SignedHead | None = None) -> CheckpointVerdict:
    """Compare a chain whose links hold (`count` events) with every signed checkpoint.

    `hashes_at` maps seq to the stored hash (events and tombstones) for every checkpoint seq.
    """
    heads: list[SignedHead] = []
    for checkpoint in AuditCheckpoint.objects.order_by("seq", "pk"):
        head = signed_head(checkpoint.payload, checkpoint.signature)
        if head is None or (head.seq, head.hash, head.kind) != (
                checkpoint.seq, checkpoint.hash, checkpoint.kind):
            return CheckpointVerdict(
                min(checkpoint.seq, count + 1),
                f"the checkpoint stored for event #{checkpoint.seq} is not signed by this "
                "installation's key (forged or altered).")
        heads.append(head)
    if external is not None:
        heads.append(external)
    heads.sort(key=lambda head: head.seq)
    matched: SignedHead | None = None
    for head in heads:
        if head.seq > count:
            return CheckpointVerdict(
                count + 1,
                f"the chain ends at event #{count} but {head.where()} records #{head.seq}: "
                "events were cut from the end and the head rewound (truncated).")
        if head.seq and hashes_at.get(head.seq) != head.hash:
            since = f"#{matched.seq + 1}" if matched else "#1"
            return CheckpointVerdict(
                head.seq,
                f"the chain differs from {head.where()}: an event between {since} and "
                f"#{head.seq} was rewritten and every later hash recomputed (rewritten).")
        matched = head
    verdict = _tombstones_verdict()
    if verdict is not None:
        return verdict
    return CheckpointVerdict(matched=matched, archived=AuditTombstone.objects.count())


def _tombstones_verdict() -> CheckpointVerdict | None:
    """Every archived event must be listed by the signed prune checkpoint that archived it."""
    groups: dict[int, list[tuple[int, str, str]]] = {}
    for prune_id, seq, prev_hash, stored_hash in AuditTombstone.objects.order_by("seq").values_list(
            "prune_id", "seq", "prev_hash", "hash"):
        groups.setdefault(prune_id, []).append((seq, prev_hash, stored_hash))
    prunes = AuditCheckpoint.objects.in_bulk(list(groups))
    for prune_id, rows in groups.items():
        prune = prunes.get(prune_id)
        head = signed_head(prune.payload, prune.signature) if prune else None
        archived = head.fields.get("archived") if head else None
        if not isinstance(archived, dict) or archived.get("events_sha256") != archived_digest(rows) \
                or archived.get("count") != len(rows):
            return CheckpointVerdict(
                rows[0][0],
                f"event #{rows[0][0]} is marked archived but no signed retention checkpoint "
                "lists exactly these archived events (deleted outside retention).")
    return None


def describe(head: SignedHead | None, archived: int) -> str:
    parts = []
    if head is not None:
        parts.append(f"matches {head.where()} (event #{head.seq})")
    if archived:
        parts.append(f"{archived} older events archived by retention")
    return "; ".join(parts)
