"""Audit log retention per tenant: archive the events past the period, then delete them.

The chain is one sequence across all tenants, so one tenant's old events sit between other
tenants' events. Deleting them outright would break the links around them; instead each one
leaves a tombstone (its seq, prev_hash and hash) and its content goes to a gzip JSON-lines
archive in the artifacts storage. A prune checkpoint, signed with the installation key,
lists the archived events (a SHA-256 over their seq and hashes) and the head at the cut.
`audit verify` then proves the remaining chain (links through the tombstones, each tombstone
listed by a signed prune) and `audit verify --archive FILE` proves the archived content.

A legal hold on the tenant (scope type ``tenant``, in force) wins: nothing is deleted.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from privacyops.audit.chain import CANONICAL_FIELDS, event_hash
from privacyops.audit.checkpoints import (
    archived_digest,
    checkpoint_create,
    checkpoint_document,
    signed_head,
)
from privacyops.audit.models import (
    AuditChainHead,
    AuditEvent,
    AuditTombstone,
    CheckpointKind,
    Outcome,
)
from privacyops.audit.selectors import audit_verify
from privacyops.audit.services import audit_record
from privacyops.errors import Conflict
from privacyops.holds.models import LegalHold
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant

ARCHIVE_FORMAT = "privacyops-audit-archive/1"
RETENTION_MIN_DAYS, RETENTION_MAX_DAYS = 30, 3650


class ChainBroken(Conflict):
    code = "audit_chain_broken"


def retention_cutoff(tenant: Tenant, now: datetime) -> datetime:
    """Events created before this moment are past the tenant's retention (30 to 3,650 days)."""
    days = min(max(tenant.audit_retention_days, RETENTION_MIN_DAYS), RETENTION_MAX_DAYS)
    return now - timedelta(days=days)


@dataclass(frozen=True)
class PruneOutcome:
    tenant_slug: str
    archived: int = 0
    archive: str = ""
    held_by: int | None = None

    def sentence(self) -> str:
        if self.held_by is not None:
            return (f"{self.tenant_slug}: legal hold #{self.held_by} is in force; no audit event "
                    "was deleted.")
        if not self.archived:
            return f"{self.tenant_slug}: no audit event is past its retention."
        return (f"{self.tenant_slug}: archived {self.archived} audit events to {self.archive} "
                "and deleted them from the log.")


def _archive_record(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip((*CANONICAL_FIELDS, "prev_hash", "hash"), row, strict=True))
    record["created_at"] = cast(datetime, record["created_at"]).isoformat(timespec="microseconds")
    return record


def audit_prune(*, tenant: Tenant, actor: Actor, now: datetime | None = None) -> PruneOutcome:
    """Archive and delete one tenant's events older than its retention, unless a hold wins.

    Call after the chain verified (see :func:`audit_prune_due`): an archive of a broken chain
    would turn the damage into signed evidence.
    """
    now = now or timezone.now()
    cutoff = retention_cutoff(tenant, now)
    with transaction.atomic(durable=True):
        # The tenant row is also the hold lock: no hold can be placed while we cut.
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        due = AuditEvent.objects.filter(tenant_id=tenant.pk, created_at__lt=cutoff).order_by("seq")
        if not due.exists():
            return PruneOutcome(tenant.slug)
        hold = (LegalHold.objects.in_force().filter(tenant_id=tenant.pk, scope_type="tenant")
                .order_by("pk").first())
        if hold is not None:
            audit_record(actor=actor, action="audit.pruned", tenant_id=tenant.pk,
                         target_type="audit_log", outcome=Outcome.FAILURE,
                         metadata={"code": "legal_hold", "hold_id": hold.pk,
                                   "cutoff": cutoff.isoformat()})
            return PruneOutcome(tenant.slug, held_by=hold.pk)
        rows = list(due.values_list("seq", "prev_hash", "hash"))
        name = (f"audit-archives/{tenant.pk}/{cutoff:%Y%m%dT%H%M%SZ}-"
                f"{rows[0][0]}-{rows[-1][0]}.jsonl.gz")
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        prune = checkpoint_create(
            kind=CheckpointKind.PRUNE, seq=head.seq, hash=head.hash, tenant_id=tenant.pk,
            extra={"archived": {"tenant_id": tenant.pk, "cutoff": cutoff.isoformat(),
                                "count": len(rows), "first_seq": rows[0][0],
                                "last_seq": rows[-1][0], "events_sha256": archived_digest(rows),
                                "archive": name}})
        with tempfile.TemporaryFile() as spool:
            with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as archive:
                for row in due.values_list(*CANONICAL_FIELDS, "prev_hash", "hash").iterator(
                        chunk_size=2000):
                    archive.write(_line(_archive_record(row)))
                archive.write(_line({"format": ARCHIVE_FORMAT,
                                     "checkpoint": checkpoint_document(prune)}))
            spool.seek(0)
            if default_storage.exists(name):
                default_storage.delete(name)
            stored = default_storage.save(name, File(spool, name=name))
        AuditTombstone.objects.bulk_create(
            AuditTombstone(seq=seq, tenant_id=tenant.pk, created_at=created, prev_hash=prev,
                           hash=digest, prune=prune)
            for seq, created, prev, digest in due.values_list(
                "seq", "created_at", "prev_hash", "hash").iterator(chunk_size=2000))
        due._raw_delete(due.db)  # the one deletion of events there is: retention, archived first
        audit_record(actor=actor, action="audit.pruned", tenant_id=tenant.pk,
                     target_type="audit_log",
                     metadata={"count": len(rows), "cutoff": cutoff.isoformat(),
                               "archive": stored, "checkpoint_seq": prune.seq})
        return PruneOutcome(tenant.slug, archived=len(rows), archive=stored)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()


def audit_prune_due(*, actor: Actor, tenant_slug: str | None = None,
                    now: datetime | None = None) -> list[str]:
    """Verify the chain, then prune every tenant (or one); a sentence per tenant."""
    result = audit_verify()
    if not result.ok:
        raise ChainBroken(f"Audit retention did not run: {result.sentence()} Investigate and "
                          "restore the audit log first; archiving it now would sign the damage.")
    tenants = Tenant.objects.order_by("pk")
    if tenant_slug is not None:
        tenants = tenants.filter(slug=tenant_slug)
        if not tenants.exists():
            raise Conflict(f"No tenant has the slug {tenant_slug!r}.", code="not_found")
    lines = [audit_prune(tenant=tenant, actor=actor, now=now).sentence() for tenant in tenants]
    return lines or ["No tenant exists: no audit event to prune."]


@dataclass(frozen=True)
class ArchiveReport:
    ok: bool
    count: int = 0
    reason: str = ""
    summary: str = ""

    def sentence(self) -> str:
        return f"OK: {self.summary}" if self.ok else f"ARCHIVE REFUSED: {self.reason}"


def _archive_lines(handle: IO[bytes]) -> Iterator[dict[str, Any]]:
    with gzip.GzipFile(fileobj=handle, mode="rb") as archive:
        for line in archive:
            yield json.loads(line)


def archive_verify(path: Path) -> ArchiveReport:
    """Check a retention archive: every event against its hash, the list against the signed
    prune checkpoint, and (on this installation) against the tombstones left in the chain."""
    try:
        if path.exists():
            with path.open("rb") as handle:
                records = list(_archive_lines(handle))
        else:
            with default_storage.open(str(path), "rb") as handle:
                records = list(_archive_lines(cast(IO[bytes], handle)))
    except (OSError, ValueError, EOFError) as error:
        return ArchiveReport(False, reason=f"the file cannot be read as a gzip JSON-lines "
                                           f"archive ({error.__class__.__name__}).")
    if not records or records[-1].get("format") != ARCHIVE_FORMAT:
        return ArchiveReport(False, reason="its last line is not the signed retention "
                                           "checkpoint (the archive is cut short).")
    document, events = records[-1]["checkpoint"], records[:-1]
    head = signed_head(str(document.get("payload", "")), str(document.get("signature", "")))
    archived = head.fields.get("archived") if head else None
    if head is None or not isinstance(archived, dict):
        return ArchiveReport(False, reason="its checkpoint is not signed by this installation's "
                                           "key (forged or altered).")
    listed: list[tuple[int, str, str]] = []
    for record in events:
        values = {name: record.get(name) for name in CANONICAL_FIELDS}
        if event_hash(str(record.get("prev_hash")), values) != record.get("hash"):
            return ArchiveReport(False, reason=f"event #{record.get('seq')} does not match its "
                                               "hash (edited in the archive).")
        if record.get("tenant_id") != archived.get("tenant_id"):
            return ArchiveReport(False, reason=f"event #{record.get('seq')} belongs to another "
                                               "tenant than the signed checkpoint names.")
        listed.append((record["seq"], record["prev_hash"], record["hash"]))
    if archived_digest(listed) != archived.get("events_sha256") or \
            len(listed) != archived.get("count"):
        return ArchiveReport(False, reason="its events are not exactly the ones the signed "
                                           "checkpoint lists (events added, removed or "
                                           "reordered).")
    stored = dict(AuditTombstone.objects.filter(seq__in=[seq for seq, _, _ in listed])
                  .values_list("seq", "hash"))
    for seq, _prev, digest in listed:
        if seq in stored and stored[seq] != digest:
            return ArchiveReport(False, reason=f"event #{seq} differs from the archived event "
                                               "the audit chain records.")
    return ArchiveReport(
        True, len(listed),
        summary=(f"{len(listed)} archived events of tenant {archived.get('tenant_id')} "
                 f"(#{archived.get('first_seq')} to #{archived.get('last_seq')}, created before "
                 f"{archived.get('cutoff')}) match their hashes and the retention checkpoint "
                 f"signed at {head.created_at}; {len(stored)} of them are linked into this "
                 "installation's chain."))
