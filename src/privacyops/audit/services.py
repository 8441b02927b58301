"""Writing the audit log. Every state-changing service calls `audit_record` in its transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from privacyops.audit.chain import VerifyResult, event_hash
from privacyops.audit.checkpoints import checkpoint_create
from privacyops.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    CheckpointKind,
    Outcome,
)
from privacyops.audit.selectors import (
    AuditFilters,
    audit_events_filtered,
    audit_export_csv,
    audit_export_jsonl,
    audit_verify,
)
from privacyops.errors import DomainError, ValidationFailed
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import require, tenants_visible_to

EXPORT_WRITERS = {"csv": audit_export_csv, "jsonl": audit_export_jsonl}


def _json_number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(text)


def _as_stored(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as every database hands it back, so that its hash still verifies.

    PostgreSQL's jsonb reads 1e+16 back as 10000000000000000 and -0.0 as 0.0: numbers with
    an integral value are stored as integers.
    """
    stored: dict[str, Any] = json.loads(
        json.dumps(metadata, allow_nan=False), parse_float=_json_number
    )
    return stored


def audit_record(
    *,
    actor: Actor,
    action: str,
    tenant_id: int | None,
    target_type: str = "",
    target_id: str | int = "",
    outcome: str = Outcome.SUCCESS,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the state change.")
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    values: dict[str, Any] = {
        "seq": head.seq + 1,
        "created_at": timezone.now(),
        "tenant_id": tenant_id,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "outcome": str(outcome),
        "metadata": _as_stored(metadata or {}),
    }
    digest = event_hash(head.hash, values)
    event = AuditEvent.objects.create(prev_hash=head.hash, hash=digest, **values)
    head.seq, head.hash = event.seq, digest
    head.save(update_fields=["seq", "hash"])
    every = settings.AUDIT_CHECKPOINT_EVERY
    if every > 0 and event.seq % every == 0:
        checkpoint_create(kind=CheckpointKind.PERIODIC, seq=event.seq, hash=digest)
    return event


def audit_checkpoint_create(*, actor: Actor) -> AuditCheckpoint:
    """Sign the current head on demand (the console, before a backup or an export)."""
    with transaction.atomic(durable=True):
        audit_record(actor=actor, action="audit.checkpointed", tenant_id=None,
                     target_type="audit_log")
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        return checkpoint_create(kind=CheckpointKind.MANUAL, seq=head.seq, hash=head.hash)


@contextmanager
def refusals_recorded(
    *,
    actor: Actor,
    action: str,
    tenant_id: int | None = None,
    target_type: str = "",
    target_id: str | int = "",
) -> Iterator[None]:
    """Record a refused attempt (a DomainError) as a `failure` event, then re-raise it.

    The refused service's own transaction has rolled back by then, so the failure event is
    written in a transaction of its own.
    """
    try:
        yield
    except DomainError as error:
        with transaction.atomic():
            audit_record(
                actor=actor, action=action, tenant_id=tenant_id, target_type=target_type,
                target_id=target_id, outcome=Outcome.FAILURE,
                metadata={"code": error.code, "message": error.message},
            )
        raise


@transaction.atomic(durable=True)
def audit_export_start(
    *, viewer: User, actor: Actor, filters: AuditFilters, fmt: str,
    described_filters: dict[str, Any],
) -> Iterator[str]:
    """Record the export (`audit.exported`), then hand back the stream of the filtered events.

    The event is committed before the first byte is sent, so an export is never unrecorded.
    """
    if fmt not in EXPORT_WRITERS:
        raise ValidationFailed("format must be csv or jsonl.", field="format")
    events = audit_events_filtered(viewer, filters, action="audit.export")
    tenant_id = filters.tenant_id
    if tenant_id is None and not viewer.is_staff:
        visible = list(tenants_visible_to(viewer, "audit.export").values_list("pk", flat=True)[:2])
        tenant_id = visible[0] if len(visible) == 1 else None
    audit_record(actor=actor, action="audit.exported", tenant_id=tenant_id,
                 target_type="audit_log",
                 metadata={"format": fmt, "filters": described_filters})
    return EXPORT_WRITERS[fmt](events)


def audit_verify_recorded(*, actor: Actor, processes: int = 1) -> VerifyResult:
    """Verify the chain (platform staff) and record that it was checked, with the verdict."""
    require(acting_user(actor), "audit.verify", None)
    result = audit_verify(processes=processes)
    with transaction.atomic(durable=True):
        audit_record(actor=actor, action="audit.verified", tenant_id=None,
                     target_type="audit_log",
                     metadata={"ok": result.ok, "count": result.count,
                               "broken_seq": result.broken_seq})
    return result
