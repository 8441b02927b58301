"""The erasure ledger: every completed ERASE and PURGE, so that a restore brings nobody back.

A backup taken before an erasure still holds the person. Each completed ERASE and PURGE is
written here in the transaction that completes its job, with the rule that selected its rows:
the target's scope and canonical key, the tenant key, the text of the data map it ran with
and the moment written into ``now`` markers. :func:`ledger_replay` re-applies, in order, every
entry recorded since a backup was taken, through the same connector and the same set-based
statements; ERASE and PURGE are idempotent, so an entry whose effect is already in the
datastore changes 0 rows. Replaying with the original moment and map gives the very rows the
erasure left, so the restored datastore ends equal to the one that was never restored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from sqlalchemy.exc import SQLAlchemyError

from privacyops.audit.models import AuditEvent
from privacyops.audit.services import audit_record
from privacyops.connectors import ConnectorError, Target, TargetNotFound
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import DataMap, DataMapError, parse_datamap, resolve_connection_url
from privacyops.errors import DomainError, NotFound
from privacyops.execution.models import DataMapSnapshot, ErasureLedgerEntry, JobStep, StepStatus
from privacyops.execution.registry import (
    datamap_for,
    datamap_of_system,
    datamap_path,
    system_for,
    tenant_key_for,
)
from privacyops.jobs.models import Job
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ConnectorType, System, Tenant

logger = logging.getLogger(__name__)


class LedgerReplayFailed(DomainError):
    code = "ledger_replay_failed"
    status = 409


def datamap_snapshot_take(tenant: Tenant) -> DataMapSnapshot | None:
    """Store the text of the tenant's data map (once per distinct content) before it is used."""
    system = system_for(tenant)
    return None if system is None else datamap_snapshot_of_system(system)


def datamap_snapshot_of_system(system: System) -> DataMapSnapshot | None:
    """Store the text of one system's data map (once per distinct content)."""
    if not system.datamap_name:
        return None
    try:
        text = datamap_path(system.datamap_name).read_text(encoding="utf-8")
    except OSError:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with transaction.atomic():
        snapshot, _ = DataMapSnapshot.objects.get_or_create(
            sha256=digest, defaults={"name": system.datamap_name, "text": text})
    return snapshot


def categories_by_table(
    datamap: DataMap, columns_by_table: dict[str, list[str] | None]
) -> dict[str, list[str]]:
    """Table → categories of the given columns (``None``: every declared field), sorted."""
    found: dict[str, set[str]] = {}
    for spec in datamap.entities.values():
        if spec.table not in columns_by_table:
            continue
        wanted = columns_by_table[spec.table]
        found.setdefault(spec.table, set()).update(
            f.category for c, f in spec.fields.items() if wanted is None or c in wanted)
    return {table: sorted(categories) for table, categories in found.items()}


def vacuum_after_erase(datastore: SqlDatastore, tables: list[str]) -> list[str]:
    """VACUUM the changed tables on PostgreSQL (unless turned off); a failure is only logged:
    the erasure itself has committed, and autovacuum will come by later."""
    if not settings.VACUUM_AFTER_ERASE or not tables:
        return []
    try:
        return datastore.vacuum(tables, full=settings.VACUUM_AFTER_ERASE == "full")
    except SQLAlchemyError as error:
        logger.warning("VACUUM after erasure failed on datastore %s: %s",
                       datastore.datamap.name, type(error).__name__)
        return []


def _target_of(job: Job) -> dict[str, str | None]:
    key = tenant_key_for(job.tenant)
    if job.target_type == "tenant":
        return {"scope": "tenant", "id": key or job.target_id, "tenant_key": key}
    return {"scope": job.target_type, "id": job.target_id, "tenant_key": key}


def _step_part(step: JobStep) -> dict[str, Any]:
    """One system's part of a multi-system entry: what its step applied, and how."""
    result = step.result or {}
    return {
        "connector": step.connector,
        "datamap": step.system.datamap_name if step.system is not None else "",
        "datamap_sha256": result.get("datamap_sha256"),
        "target": result.get("target"),
        "tables": result.get("tables", {}),
        "rows": step.rows,
        "applied_at": result.get("applied_at"),
    }


def erasure_recorded(job: Job, completed: AuditEvent) -> None:
    """Append the job's ledger entry and issue its receipt; runs in job_complete's transaction.

    A job with steps (by identity, or a tenant purge over several systems) records, under
    ``systems``, each completed system's part: its target by canonical key, its data map
    snapshot, its tables and moment. A replay re-applies each part to its own system.
    """
    from privacyops.execution.receipts import receipt_issue

    result: dict[str, Any] = job.result or {}
    applied = result.get("applied_at")
    snapshot = result.get("datamap_sha256")
    actions: dict[str, Any] = {
        "kind": job.job_type.lower(),
        "target": _target_of(job),
        "tables": result.get("tables", {}),
        "datamap": result.get("datastore", ""),
        "datamap_sha256": snapshot,
        "applied_at": applied,
    }
    steps = list(JobStep.objects.filter(job=job, status=StepStatus.COMPLETED)
                 .select_related("system").order_by("system_name"))
    if steps:
        actions["systems"] = {step.system_name: _step_part(step) for step in steps}
    entry = ErasureLedgerEntry.objects.create(
        recorded_at=completed.created_at, tenant_id=job.tenant_id,
        system=str(result.get("datastore", ""))[:100], job=job, action=job.job_type,
        target_type=job.target_type, target_id=job.target_id,
        tenant_key=tenant_key_for(job.tenant) or "",
        applied_at=datetime.fromisoformat(applied) if applied else completed.created_at,
        datamap_id=snapshot if snapshot and DataMapSnapshot.objects.filter(
            sha256=snapshot).exists() else None,
        actions=actions,
    )
    entry.receipt = receipt_issue(job=job, entry=entry, completed=completed)
    entry.save(update_fields=["receipt"])


# --- replay -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerPart:
    """What one entry applied to one system: a single-system entry has one part, a
    multi-system entry one per system whose step completed."""

    entry: ErasureLedgerEntry
    system: str  # the system's name (a single-system entry: its data map's name)
    connector: str
    datamap_name: str
    snapshot: DataMapSnapshot | None
    target: Target
    applied_at: datetime
    multi: bool

    @property
    def replayable(self) -> bool:
        return self.connector == ConnectorType.SQL

    @property
    def label(self) -> str:
        """``subject:4711``; a manual system's part, which has no key: ``subject (by identity)``."""
        if not self.target.id:
            return f"{self.target.scope} (by identity)"
        return f"{self.target.scope}:{self.target.id}"


def _parts_of_older_entry(entry: ErasureLedgerEntry) -> dict[str, Any]:
    """The parts of a multi-system entry recorded before entries held them, rebuilt from its
    job's completed steps (their keys are still there; no data map snapshot: the current map
    of each system is used)."""
    parts: dict[str, Any] = {}
    steps = JobStep.objects.filter(job_id=entry.job_id, status=StepStatus.COMPLETED)
    for step in steps.select_related("system", "job__tenant"):
        part = _step_part(step)
        key = step.system.datastore_key or None if step.system is not None else None
        if part["target"] is None and entry.target_type == "tenant":
            part["target"] = {"scope": "tenant", "id": key or step.job.tenant.slug,
                              "tenant_key": key}
        elif part["target"] is None:
            part["target"] = {"scope": "subject", "id": step.target_key or "",
                              "tenant_key": key}
        parts[step.system_name] = part
    return parts


def entry_parts(entry: ErasureLedgerEntry,
                snapshots: dict[str, DataMapSnapshot] | None = None) -> list[LedgerPart]:
    """The entry's parts, in system name order."""
    systems = entry.actions.get("systems") or _parts_of_older_entry(entry)
    if not systems:
        spec = entry.actions.get("target") or {}
        target = Target(scope=str(spec.get("scope") or entry.target_type),
                        id=str(spec.get("id") or entry.target_id),
                        tenant_key=spec.get("tenant_key") or (entry.tenant_key or None))
        return [LedgerPart(entry, entry.system, ConnectorType.SQL,
                           str(entry.actions.get("datamap") or entry.system), entry.datamap,
                           target, entry.applied_at, multi=False)]
    snapshots = snapshots if snapshots is not None else {}
    parts = []
    for name, spec in sorted(systems.items()):
        rule = spec.get("target") or {}
        applied = spec.get("applied_at")
        sha = spec.get("datamap_sha256")
        if sha and sha not in snapshots:
            found = DataMapSnapshot.objects.filter(sha256=sha).first()
            if found is not None:
                snapshots[sha] = found
        parts.append(LedgerPart(
            entry, name, str(spec.get("connector") or ConnectorType.SQL),
            str(spec.get("datamap") or ""), snapshots.get(sha) if sha else None,
            Target(scope=str(rule.get("scope") or entry.target_type),
                   id=str(rule.get("id") or ""), tenant_key=rule.get("tenant_key") or None),
            datetime.fromisoformat(applied) if applied else entry.applied_at, multi=True))
    return parts


@dataclass
class ReplayLine:
    part: LedgerPart
    rows: int
    note: str = ""

    @property
    def entry(self) -> ErasureLedgerEntry:
        return self.part.entry


@dataclass
class ReplayReport:
    lines: list[ReplayLine] = field(default_factory=list)
    remaining: int = 0
    dry_run: bool = False
    vacuumed: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)  # the systems replayed, in order

    @property
    def rows(self) -> int:
        return sum(line.rows for line in self.lines)

    @property
    def entries(self) -> int:
        return len({line.entry.pk for line in self.lines})

    @property
    def by_hand(self) -> list[str]:
        """Systems PrivacyOps cannot replay to (HTTP services, manual systems)."""
        return sorted({line.part.system for line in self.lines if not line.part.replayable})

    def summary(self) -> str:
        hand = ""
        if self.by_hand:
            hand = (f" Not replayed: the parts on {', '.join(self.by_hand)} (not SQL "
                    "datastores); if those systems were restored too, erase those subjects "
                    "there again by hand.")
        if self.dry_run:
            if self.remaining:
                return (f"Dry run: {self.remaining} row(s) of {self.entries} ledger "
                        "entries remained in the datastore; run without --dry-run to erase "
                        "them." + hand)
            return (f"Dry run: nothing remained; all {self.entries} ledger entries are "
                    "already applied." + hand)
        if self.remaining:
            return (f"{self.remaining} row(s) still remained after the replay; see the "
                    "entries above and run the replay again." + hand)
        return (f"Replayed {self.entries} ledger entries, {self.rows} row(s) changed; "
                "nothing remained." + hand)


def ledger_entries(*, tenant: Tenant, since: datetime) -> list[ErasureLedgerEntry]:
    """Entries recorded at or after ``since``, oldest first (the order they were applied)."""
    entries = ErasureLedgerEntry.objects.filter(tenant=tenant, recorded_at__gte=since)
    return list(entries.select_related("datamap", "job").order_by("recorded_at", "id"))


def ledger_parts(*, tenant: Tenant, since: datetime,
                 system: str | None = None) -> list[LedgerPart]:
    """Every part of the entries since ``since``, oldest entry first; with ``system``, only
    that system's parts (a single-system entry matches by its system's or data map's name).
    A system name the tenant does not have and no entry names is refused."""
    snapshots: dict[str, DataMapSnapshot] = {}
    parts = [part for entry in ledger_entries(tenant=tenant, since=since)
             for part in entry_parts(entry, snapshots)]
    if not system:
        return parts
    own = dict(System.objects.filter(tenant=tenant).values_list("name", "datamap_name"))
    if system not in own and all(part.system != system for part in parts):
        raise NotFound(
            f"Tenant {tenant.slug} has no system named {system!r}"
            + (f"; its systems are {', '.join(sorted(own))}" if own else "")
            + ". Name one of them with --system, or leave it out to replay every system.")
    return [part for part in parts if part.system == system
            or (not part.multi and own.get(system) == part.system)]


class _Datastores:
    """One connector per (data map snapshot, URL) for the length of a replay."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.open: dict[tuple[str, str], SqlDatastore] = {}

    def _current(self, part: LedgerPart) -> DataMap:
        """The tenant's current map for a part recorded without a snapshot."""
        entry = part.entry
        current: DataMap | None
        if part.multi:
            system = System.objects.filter(tenant=self.tenant, name=part.system).first()
            current = datamap_of_system(system) if system is not None else None
        else:
            current = datamap_for(self.tenant)
        if current is None:
            raise LedgerReplayFailed(
                f"Ledger entry #{entry.pk} (job #{entry.job_id}) has no stored data map for "
                f"{part.system} and tenant {self.tenant.slug} has none configured for it; add "
                "the system (or set its data map name), then replay again.")
        return current

    def for_part(self, part: LedgerPart) -> SqlDatastore:
        """The connector for the part's data map snapshot (or, for a part recorded without
        one, the system's current map), at the URL its connection names now."""
        entry = part.entry
        try:
            if part.snapshot is not None:
                datamap = parse_datamap(
                    yaml.safe_load(part.snapshot.text),
                    source=f"data map {part.snapshot.name} of ledger entry #{entry.pk}")
                version = part.snapshot.sha256
            else:
                datamap, version = self._current(part), f"current:{part.system}"
            url = resolve_connection_url(datamap, part.target.tenant_key)
        except (DataMapError, yaml.YAMLError) as error:
            lines = error.lines() if isinstance(error, DataMapError) else [str(error)]
            raise LedgerReplayFailed("; ".join(lines)) from None
        key = (version, url)
        if key not in self.open:
            self.open[key] = SqlDatastore(datamap, url,
                                          hash_key=bytes(self.tenant.hash_key or b""))
        return self.open[key]

    def close(self) -> None:
        for datastore in self.open.values():
            datastore.close()

    def __iter__(self) -> Iterator[SqlDatastore]:
        return iter(self.open.values())


def _apply(datastore: SqlDatastore, part: LedgerPart, *,
           dry_run: bool) -> tuple[int, list[str]]:
    """Rows the part changes now (or would), and the tables it touched."""
    if part.entry.action == "ERASE":
        try:
            result = datastore.erase(part.target, dry_run=dry_run, at=part.applied_at,
                                     check_preconditions=False)
        except TargetNotFound:
            return 0, []  # not in this backup: nothing to bring back
        return result.rows_changed, [c.table for c in result.tables if c.rows]
    purged = datastore.purge(part.target, chunk_size=settings.PURGE_CHUNK_ROWS,
                             dry_run=dry_run)
    return purged.rows_deleted, [t for t, n in purged.deleted.items() if n]


def ledger_replay(*, tenant: Tenant, since: datetime, system: str | None = None,
                  dry_run: bool = False, actor: Actor) -> ReplayReport:
    """Re-apply every ledger entry since ``since`` to the tenant's (restored) datastores.

    A multi-system entry is re-applied system by system, each part with its own key, data
    map and moment; ``system`` limits the replay to one system's parts (the datastore that
    was restored). Parts on HTTP or manual systems are listed, not applied.

    Legal holds are not consulted: every entry is an erasure that completed before any hold
    placed since, and a replay only returns the datastore to the state it had then. After the
    replay, every part is counted again as a dry run: what it would still change is what
    remained (0 when the replay is complete).
    """
    report = ReplayReport(dry_run=dry_run)
    parts = ledger_parts(tenant=tenant, since=since, system=system)
    report.systems = list(dict.fromkeys(part.system for part in parts))
    datastores = _Datastores(tenant)
    touched: dict[SqlDatastore, list[str]] = {}
    try:
        for part in parts:
            if not part.replayable:
                report.lines.append(ReplayLine(part, 0, note=f"{part.connector} system"))
                continue
            entry = part.entry
            try:
                datastore = datastores.for_part(part)
                rows, tables = _apply(datastore, part, dry_run=dry_run)
            except (ConnectorError, DataMapError, SQLAlchemyError) as error:
                detail = ("; ".join(error.lines()) if isinstance(error, DataMapError)
                          else error if isinstance(error, ConnectorError)
                          else type(error).__name__)
                raise LedgerReplayFailed(
                    f"Ledger entry #{entry.pk} (job #{entry.job_id}) cannot be re-applied to "
                    f"{part.system}: {detail}. The entries before it were applied; fix the "
                    "cause and replay again (applied entries then count 0 rows).") from None
            touched.setdefault(datastore, []).extend(tables)
            report.lines.append(ReplayLine(part, rows))
        if dry_run:
            report.remaining = report.rows
        else:
            for datastore, tables in touched.items():
                report.vacuumed += vacuum_after_erase(datastore, tables)
            report.remaining = sum(_apply(datastores.for_part(part), part, dry_run=True)[0]
                                   for part in parts if part.replayable)
    finally:
        datastores.close()
    with transaction.atomic(durable=True):
        audit_record(
            actor=actor, action="ledger.replayed", tenant_id=tenant.pk,
            target_type="tenant", target_id=tenant.pk,
            metadata={"since": since.isoformat(), "system": system or "", "dry_run": dry_run,
                      "systems": report.systems, "entries": report.entries,
                      "rows_changed": 0 if dry_run else report.rows,
                      "remaining": report.remaining},
        )
    return report


def tenant_by_slug(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise NotFound(f"No tenant has the slug {slug!r}; `privacyops manage shell` lists "
                       "them, or check the spelling.") from None
