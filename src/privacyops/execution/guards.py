"""Legal holds and preconditions, checked before work starts and under the hold lock per chunk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from privacyops.connectors import Datastore, Target
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.holds.models import LegalHold
from privacyops.holds.selectors import IDENTITY_SCOPE, hold_coverage
from privacyops.holds.services import tenant_hold_lock, wait_for_hold_intent
from privacyops.jobs.services import job_lease_held

UNDECLARED_SCOPE = ("its scope type is not one the data map declares, so it holds everything "
                    "in the tenant until it is released and placed again with a declared one")


def identity_reach(datastore: Datastore, target: Target, scope_id: str) -> str | None:
    """Whether the person an identity hold names (as this system resolves them) is the target
    or is reached by it."""
    resolve = getattr(datastore, "resolve_identity", None)
    if resolve is None:
        return None
    field, _sep, value = scope_id.partition(" ")
    keys = resolve({field: value}, target.tenant_key)
    if target.scope == "subject" and target.id in keys:
        return "it names this person by identity"
    if any(datastore.reaches(target, "subject", key) for key in keys):
        return "the target reaches the person it names by identity"
    return None


def hold_coverage_reasons(*, tenant_id: int, target: Target, target_type: str,
                          datastore: Datastore | None) -> list[tuple[LegalHold, str]]:
    """Holds that cover the target, each with the rule that makes it cover it (first match):
    it names the target; it names the tenant; the target reaches what it holds (a tenant purge
    and a hold on one of its people); what it holds reaches the target (a hold on an issuer
    and an erasure of one of its people); the two share rows (an activity row whose actor is
    one person and whose subject is another)."""

    def reach(scope_type: str, scope_id: str) -> str | None:
        if datastore is None:
            return None
        if scope_type == IDENTITY_SCOPE:
            return identity_reach(datastore, target, scope_id)
        if scope_type not in datastore.datamap.scope_entities():
            # Placed before scope types were checked: nobody can tell what it meant to keep.
            return UNDECLARED_SCOPE
        if datastore.reaches(target, scope_type, scope_id):
            return f"the target reaches the held {scope_type}"
        held = Target(scope=scope_type, id=scope_id, tenant_key=target.tenant_key)
        if datastore.reaches(held, target.scope, target.id):
            return f"the held {scope_type} reaches the target"
        if datastore.shares_rows(target, held):
            return f"the held {scope_type} shares rows with the target"
        return None

    return hold_coverage(tenant_id=tenant_id, target_type=target_type, target_id=target.id,
                         reach=reach)


def covering_holds(*, tenant_id: int, target: Target, target_type: str,
                   datastore: Datastore | None) -> list[LegalHold]:
    """Holds that name the target or its tenant, or whose held data and the target's overlap."""
    return [hold for hold, _why in hold_coverage_reasons(
        tenant_id=tenant_id, target=target, target_type=target_type, datastore=datastore)]


def refuse_if_held(*, tenant_id: int, target: Target, target_type: str,
                   datastore: Datastore | None) -> None:
    holds = hold_coverage_reasons(tenant_id=tenant_id, target=target, target_type=target_type,
                                  datastore=datastore)
    if holds:
        hold, why = holds[0]
        raise JobBlocked(
            f"Blocked by {hold.describe()}: {why}. Release the hold (Legal holds tab) before "
            "erasing or purging this data.",
            code="legal_hold", hold_id=hold.pk,
        )


@contextmanager
def hold_guard(*, tenant_id: int, target: Target, target_type: str, datastore: Datastore,
               job_id: int | None = None, worker: str = "") -> Iterator[None]:
    """Hold the per-tenant lock across one destructive datastore transaction.

    The holds, and the worker's lease on the job, are re-checked under the lock, and the lock
    is kept until the datastore commit has happened: a hold placed after this check waits for
    the commit, and a hold placed before it stops the chunk.
    """
    wait_for_hold_intent(tenant_id)
    with transaction.atomic():
        tenant_hold_lock(tenant_id)
        refuse_if_held(tenant_id=tenant_id, target=target, target_type=target_type,
                       datastore=datastore)
        if job_id is not None and not job_lease_held(job_id=job_id, worker_id=worker):
            # Another worker took the job over: this one must not write another row.
            raise LeaseLost(job_id)
        yield
