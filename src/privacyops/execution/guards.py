"""Legal holds and preconditions, checked before work starts and under the hold lock per chunk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from privacyops.connectors import Datastore, Target
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.holds.models import LegalHold
from privacyops.holds.selectors import holds_covering
from privacyops.holds.services import tenant_hold_lock, wait_for_hold_intent
from privacyops.jobs.services import job_lease_held


def covering_holds(*, tenant_id: int, target: Target, target_type: str,
                   datastore: Datastore | None) -> list[LegalHold]:
    """Holds that name the target or its tenant, or whose held data and the target's overlap."""

    def reach(scope_type: str, scope_id: str) -> bool:
        if datastore is None:
            return False
        if scope_type not in datastore.datamap.scope_entities():
            # A hold placed before scope types were checked: nobody can tell what it meant to
            # keep, so it keeps everything in the tenant until it is released and placed again.
            return True
        if datastore.reaches(target, scope_type, scope_id):
            return True
        held = Target(scope=scope_type, id=scope_id, tenant_key=target.tenant_key)
        return datastore.reaches(held, target.scope, target.id) or datastore.shares_rows(
            target, held)

    return holds_covering(tenant_id=tenant_id, target_type=target_type, target_id=target.id,
                          reach=reach)


def refuse_if_held(*, tenant_id: int, target: Target, target_type: str,
                   datastore: Datastore | None) -> None:
    holds = covering_holds(tenant_id=tenant_id, target=target, target_type=target_type,
                           datastore=datastore)
    if holds:
        hold = holds[0]
        undeclared = datastore is not None and hold.scope_type not in (
            datastore.datamap.scope_entities())
        raise JobBlocked(
            f"Blocked by {hold.describe()}. "
            + ("Its scope type is not one the data map declares, so it holds everything in "
               "the tenant: release it and place it again with a declared scope type. "
               if undeclared else "")
            + "Release the hold (Legal holds tab) before erasing or purging this data.",
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
