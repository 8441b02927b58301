"""Placing and releasing legal holds, and the per-tenant hold lock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from privacyops.audit.services import audit_record, refusals_recorded
from privacyops.errors import Conflict, NotFound, ValidationFailed
from privacyops.execution.registry import (
    DEFAULT_TARGET_TYPES,
    DatastoreUnavailable,
    target_types_for,
)
from privacyops.execution.targets import target_resolve, unknown_target
from privacyops.holds.models import LegalHold
from privacyops.holds.selectors import IDENTITY_SCOPE, identity_scope_id
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import can, require
from privacyops.validation import clean_identifier, clean_text


def tenant_hold_lock(tenant_id: int) -> Tenant:
    """Take the per-tenant hold lock; must run inside a transaction.

    Placing a hold and committing a destructive chunk both take it, so once `hold_place`
    has returned, every later chunk sees the hold. On SQLite the IMMEDIATE write transaction
    already serialises writers; on PostgreSQL this is a row lock on the tenant.
    """
    try:
        return Tenant.objects.select_for_update().get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise NotFound(f"Tenant {tenant_id} does not exist.") from None


def _clean_text(value: str, field: str, *, limit: int = 2000) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"A {field} is required.", field=field)
    return clean_text(value, field=field.replace(" ", "_"), what=field, limit=limit)


def _declared_scope_type(tenant: Tenant, scope_type: str) -> str:
    """A hold names a scope the tenant's data map declares; anything else would match nothing
    (or, worse, stop every erasure in the tenant with an error nobody can act on). While the
    data map cannot be read, the scopes every map has are accepted: a hold never waits."""
    try:
        declared = target_types_for(tenant)
    except DatastoreUnavailable:
        declared = DEFAULT_TARGET_TYPES
    if scope_type == IDENTITY_SCOPE:  # a person by email, in every system
        return scope_type
    if scope_type not in declared:
        raise ValidationFailed(
            f"A legal hold in tenant {tenant.slug} names one of the scope types its data map "
            f"declares: {', '.join(declared)}. (A person is held in every system by scope type "
            "identity, e.g. \"email ada@example.com\".)", field="scope type",
            declared=list(declared))
    return scope_type


def _canonical_scope_id(tenant: Tenant, scope_type: str, scope_id: str) -> str:
    """The id as the datastore spells it, so coverage compares equal texts. An id that matches
    no data today is kept (litigation can precede data); so is the typed id while the
    datastore cannot answer, since a hold must never wait for it."""
    if scope_type == IDENTITY_SCOPE:
        return identity_scope_id(scope_id)
    try:
        resolved = target_resolve(tenant=tenant, target_type=scope_type, target_id=scope_id)
    except DatastoreUnavailable:
        return scope_id
    if scope_type == "tenant" and not resolved.exists:
        raise unknown_target(tenant, "tenant")
    return resolved.id


def _intent_path(tenant_id: int) -> Path:
    return Path(settings.DATA_DIR) / "locks" / f"hold-intent-{tenant_id}"


@contextmanager
def hold_intent(tenant_id: int) -> Iterator[None]:
    """Announce a hold that is waiting for the per-tenant lock (SQLite control DB only).

    SQLite has no fair queue for its write lock: a purge taking it chunk after chunk could
    starve the hold. Destructive chunks pause while an intent exists (`wait_for_hold_intent`).
    PostgreSQL queues row-lock waiters in order and needs none of this.
    """
    if connection.vendor != "sqlite":
        yield
        return
    path = _intent_path(tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def wait_for_hold_intent(tenant_id: int, *, limit_seconds: float = 10.0) -> None:
    if connection.vendor != "sqlite":
        return
    path = _intent_path(tenant_id)
    deadline = time.monotonic() + limit_seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def _scope_id_before_lock(*, tenant_id: int, scope_type: str, scope_id: str,
                          actor: Actor) -> str:
    """The canonical scope id, asked of the datastore before the per-tenant hold lock is taken
    (purge chunks wait on it). Only for staff who may place the hold; `_hold_place` refuses
    everyone else and re-checks the scope type."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or actor.user is None or not can(actor.user, "hold.place", tenant):
        return scope_id
    scope_type = _declared_scope_type(tenant, _clean_text(scope_type, "scope type", limit=40))
    return _canonical_scope_id(tenant, scope_type, _clean_text(scope_id, "scope id", limit=200))


@transaction.atomic(durable=True)
def _hold_place(
    *, tenant_id: int, scope_type: str, scope_id: str, reason: str,
    expires_at: datetime | None, actor: Actor,
) -> LegalHold:
    tenant = tenant_hold_lock(tenant_id)
    user = acting_user(actor)
    require(user, "hold.place", tenant)
    scope_type = _declared_scope_type(tenant, _clean_text(scope_type, "scope type", limit=40))
    scope_id = _clean_text(scope_id, "scope id", limit=200)
    if scope_type == IDENTITY_SCOPE:
        scope_id = identity_scope_id(scope_id)
    reason = _clean_text(reason, "reason")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry date is in the past; choose a future date or none.",
                               field="expires_at")
    hold = LegalHold.objects.create(
        tenant=tenant, scope_type=scope_type, scope_id=scope_id, reason=reason,
        created_by=user, expires_at=expires_at,
    )
    audit_record(
        actor=actor, action="hold.placed", tenant_id=tenant.pk, target_type="hold",
        target_id=hold.pk,
        metadata={"scope_type": scope_type, "scope_id": scope_id, "reason": reason,
                  "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return hold


def hold_place(
    *, tenant_id: int, scope_type: str, scope_id: str, reason: str,
    expires_at: datetime | None = None, actor: Actor,
) -> LegalHold:
    """Place a hold. Once this returns, no ERASE or PURGE chunk writes to the held data."""
    # Checked before anything is recorded: a refused attempt's audit event carries the id.
    scope_type = clean_identifier(scope_type, field="scope_type", what="scope type", limit=40,
                                  required=False)
    scope_id = clean_identifier(scope_id, field="scope_id", what="scope id", limit=200,
                                required=False)
    with refusals_recorded(actor=actor, action="hold.placed", tenant_id=tenant_id,
                           target_type=scope_type, target_id=scope_id):
        scope_id = _scope_id_before_lock(tenant_id=tenant_id, scope_type=scope_type,
                                         scope_id=scope_id, actor=actor)
        with hold_intent(tenant_id):
            return _hold_place(tenant_id=tenant_id, scope_type=scope_type, scope_id=scope_id,
                               reason=reason, expires_at=expires_at, actor=actor)


@transaction.atomic(durable=True)
def _hold_release(*, hold_id: int, reason: str, actor: Actor) -> LegalHold:
    try:
        hold = LegalHold.objects.select_for_update().select_related("tenant").get(pk=hold_id)
    except LegalHold.DoesNotExist:
        raise NotFound(f"Legal hold {hold_id} does not exist.") from None
    user = acting_user(actor)
    require(user, "hold.release", hold.tenant)
    reason = _clean_text(reason, "release reason")
    if not hold.active:
        raise Conflict(f"Legal hold #{hold.pk} was already released on {hold.released_at:%Y-%m-%d}.")
    hold.active = False
    hold.released_by = user
    hold.released_at = timezone.now()
    hold.release_reason = reason
    hold.save(update_fields=["active", "released_by", "released_at", "release_reason"])
    audit_record(actor=actor, action="hold.released", tenant_id=hold.tenant_id,
                 target_type="hold", target_id=hold.pk, metadata={"reason": reason})
    return hold


def hold_release(*, hold_id: int, reason: str, actor: Actor) -> LegalHold:
    tenant_id = LegalHold.objects.filter(pk=hold_id).values_list("tenant_id", flat=True).first()
    with refusals_recorded(actor=actor, action="hold.released", tenant_id=tenant_id,
                           target_type="hold", target_id=hold_id):
        return _hold_release(hold_id=hold_id, reason=reason, actor=actor)
