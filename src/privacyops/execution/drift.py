"""Schema drift: tables and columns that look personal but that a system's data map leaves out.

An application's schema moves on after its data map was written; a new `mobile_phone` column
would be exported by nobody and erased by nobody. The live check finds such columns
(`privacyops.datamap.live`); this module keeps its last answer on the `System` row so that
Platform → Tenants and the overview can show a badge without connecting to every datastore
while a page renders, and audits each drift the first time it is seen.

The check runs on `privacyops system test` and once a day in every worker
(`jobs/management/commands/worker.py`). Only names are stored and audited — table and column
names, and what the personal-data guess rests on (counts of sampled values that match a
pattern) — never a sampled value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from privacyops.audit.services import audit_record
from privacyops.datamap import LiveReport
from privacyops.errors import NotFound
from privacyops.execution.selectors import system_health
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ConnectorType, System

logger = logging.getLogger("privacyops.drift")


@dataclass(frozen=True)
class DriftRecorded:
    """What a check left on the system: its drift keys and those seen for the first time."""

    keys: tuple[str, ...]
    new_keys: tuple[str, ...]


@transaction.atomic(durable=True)
def system_drift_record(*, system_id: int, report: LiveReport, actor: Actor) -> DriftRecorded:
    """Keep a live check's personal-looking drift on the system; audit keys not seen before.

    The same drift found again (daily) changes only the time of the check. A drift that goes
    away and comes back is new again, and audited again.
    """
    system = System.objects.select_for_update().filter(pk=system_id).first()
    if system is None:
        raise NotFound(f"System {system_id} does not exist; `privacyops system list` shows the "
                       "systems.")
    personal = sorted(report.personal_unmapped, key=lambda u: u.database_object)
    keys = tuple(u.database_object for u in personal)
    new_keys = tuple(k for k in keys if k not in set(system.drift_keys or ()))
    system.drift_checked_at = timezone.now()
    system.drift_keys = list(keys)
    system.drift_unmapped = [
        {"object": u.database_object, "table": u.table, "column": u.column,
         "reason": u.reason, "evidence": list(u.evidence)}
        for u in personal
    ]
    system.save(update_fields=["drift_checked_at", "drift_keys", "drift_unmapped"])
    if new_keys:
        audit_record(
            actor=actor, action="system.drift_detected", tenant_id=system.tenant_id,
            target_type="system", target_id=system.pk,
            metadata={"name": system.name, "datamap": system.datamap_name,
                      "new": [{"table": u.table, "column": u.column} for u in personal
                              if u.database_object in new_keys],
                      "unmapped": list(keys)},
        )
    return DriftRecorded(keys, new_keys)


def drift_check_all(*, actor: Actor) -> list[str]:
    """Run the live check on every system of every active tenant and record its drift.

    Returns one sentence per system for the worker's log: names of systems and counts only.
    A system that cannot be checked (no data map, datastore down) keeps its last answer.
    """
    sentences: list[str] = []
    systems = System.objects.filter(tenant__is_active=True, connector_type=ConnectorType.SQL
                                    ).select_related("tenant")
    for system in systems.order_by("pk"):
        label = f"system {system.pk} ({system.tenant.slug}/{system.name})"
        try:
            health = system_health(system)
        except Exception:
            logger.exception("drift check of %s failed", label)
            continue
        if health.live is None:
            failed = next((c for c in health.checks if not c.ok), None)
            sentences.append(f"{label} not checked: {failed.name if failed else 'unknown'} "
                             "step failed (`privacyops system test` says why)")
            continue
        recorded = system_drift_record(system_id=system.pk, report=health.live, actor=actor)
        sentences.append(f"{label}: {len(recorded.keys)} unmapped personal-looking object(s), "
                         f"{len(recorded.new_keys)} new")
    return sentences
