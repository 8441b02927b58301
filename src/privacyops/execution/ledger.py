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
from privacyops.execution.models import DataMapSnapshot, ErasureLedgerEntry
from privacyops.execution.registry import datamap_for, datamap_path, system_for, tenant_key_for
from privacyops.jobs.models import Job
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant

logger = logging.getLogger(__name__)


class LedgerReplayFailed(DomainError):
    code = "ledger_replay_failed"
    status = 409


def datamap_snapshot_take(tenant: Tenant) -> DataMapSnapshot | None:
    """Store the text of the tenant's data map (once per distinct content) before it is used."""
    system = system_for(tenant)
    if system is None or not system.datamap_name:
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


def erasure_recorded(job: Job, completed: AuditEvent) -> None:
    """Append the job's ledger entry and issue its receipt; runs in job_complete's transaction."""
    from privacyops.execution.receipts import receipt_issue

    result: dict[str, Any] = job.result or {}
    applied = result.get("applied_at")
    snapshot = result.get("datamap_sha256")
    entry = ErasureLedgerEntry.objects.create(
        recorded_at=completed.created_at, tenant_id=job.tenant_id,
        system=str(result.get("datastore", "")), job=job, action=job.job_type,
        target_type=job.target_type, target_id=job.target_id,
        tenant_key=tenant_key_for(job.tenant) or "",
        applied_at=datetime.fromisoformat(applied) if applied else completed.created_at,
        datamap_id=snapshot if snapshot and DataMapSnapshot.objects.filter(
            sha256=snapshot).exists() else None,
        actions={
            "kind": job.job_type.lower(),
            "target": _target_of(job),
            "tables": result.get("tables", {}),
            "datamap": result.get("datastore", ""),
            "datamap_sha256": snapshot,
            "applied_at": applied,
        },
    )
    entry.receipt = receipt_issue(job=job, entry=entry, completed=completed)
    entry.save(update_fields=["receipt"])


# --- replay -------------------------------------------------------------------------------

@dataclass
class ReplayLine:
    entry: ErasureLedgerEntry
    rows: int
    note: str = ""


@dataclass
class ReplayReport:
    lines: list[ReplayLine] = field(default_factory=list)
    remaining: int = 0
    dry_run: bool = False
    vacuumed: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(line.rows for line in self.lines)

    def summary(self) -> str:
        if self.dry_run:
            if self.remaining:
                return (f"Dry run: {self.remaining} row(s) of {len(self.lines)} ledger "
                        "entries remained in the datastore; run without --dry-run to erase them.")
            return (f"Dry run: nothing remained; all {len(self.lines)} ledger entries are "
                    "already applied.")
        if self.remaining:
            return (f"{self.remaining} row(s) still remained after the replay; see the "
                    "entries above and run the replay again.")
        return (f"Replayed {len(self.lines)} ledger entries, {self.rows} row(s) changed; "
                "nothing remained.")


def ledger_entries(*, tenant: Tenant, since: datetime,
                   system: str | None = None) -> list[ErasureLedgerEntry]:
    """Entries recorded at or after ``since``, oldest first (the order they were applied)."""
    entries = ErasureLedgerEntry.objects.filter(tenant=tenant, recorded_at__gte=since)
    if system:
        entries = entries.filter(system=system)
    return list(entries.select_related("datamap", "job").order_by("recorded_at", "id"))


class _Datastores:
    """One connector per (data map snapshot, URL) for the length of a replay."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.open: dict[tuple[str, str], SqlDatastore] = {}

    def for_entry(self, entry: ErasureLedgerEntry) -> SqlDatastore:
        """The connector for the entry's data map snapshot (or, for an entry recorded without
        one, the tenant's current map), at the URL its connection names now."""
        try:
            if entry.datamap is not None:
                datamap = parse_datamap(
                    yaml.safe_load(entry.datamap.text),
                    source=f"data map {entry.datamap.name} of ledger entry #{entry.pk}")
                version = entry.datamap.sha256
            else:
                current = datamap_for(self.tenant)
                if current is None:
                    raise LedgerReplayFailed(
                        f"Ledger entry #{entry.pk} (job #{entry.job_id}) has no stored data map "
                        f"and tenant {self.tenant.slug} has none configured; set the tenant's "
                        "data map name, then replay again.")
                datamap, version = current, "current"
            url = resolve_connection_url(datamap, entry.tenant_key or None)
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


def _apply(datastore: SqlDatastore, entry: ErasureLedgerEntry, *,
           dry_run: bool) -> tuple[int, list[str]]:
    """Rows the entry changes now (or would), and the tables it touched."""
    spec = entry.actions.get("target") or {}
    target = Target(scope=str(spec.get("scope") or entry.target_type),
                    id=str(spec.get("id") or entry.target_id),
                    tenant_key=spec.get("tenant_key") or (entry.tenant_key or None))
    if entry.action == "ERASE":
        try:
            result = datastore.erase(target, dry_run=dry_run, at=entry.applied_at,
                                     check_preconditions=False)
        except TargetNotFound:
            return 0, []  # not in this backup: nothing to bring back
        return result.rows_changed, [c.table for c in result.tables if c.rows]
    purged = datastore.purge(target, chunk_size=settings.PURGE_CHUNK_ROWS, dry_run=dry_run)
    return purged.rows_deleted, [t for t, n in purged.deleted.items() if n]


def ledger_replay(*, tenant: Tenant, since: datetime, system: str | None = None,
                  dry_run: bool = False, actor: Actor) -> ReplayReport:
    """Re-apply every ledger entry since ``since`` to the tenant's (restored) datastores.

    Legal holds are not consulted: every entry is an erasure that completed before any hold
    placed since, and a replay only returns the datastore to the state it had then. After the
    replay, every entry is counted again as a dry run: what it would still change is what
    remained (0 when the replay is complete).
    """
    report = ReplayReport(dry_run=dry_run)
    entries = ledger_entries(tenant=tenant, since=since, system=system)
    datastores = _Datastores(tenant)
    touched: dict[SqlDatastore, list[str]] = {}
    try:
        for entry in entries:
            datastore = datastores.for_entry(entry)
            try:
                rows, tables = _apply(datastore, entry, dry_run=dry_run)
            except (ConnectorError, DataMapError) as error:
                detail = "; ".join(error.lines()) if isinstance(error, DataMapError) else error
                raise LedgerReplayFailed(
                    f"Ledger entry #{entry.pk} (job #{entry.job_id}) cannot be re-applied to "
                    f"{entry.system}: {detail}. The entries before it were applied; fix the "
                    "cause and replay again (applied entries then count 0 rows).") from None
            touched.setdefault(datastore, []).extend(tables)
            report.lines.append(ReplayLine(entry, rows))
        if dry_run:
            report.remaining = report.rows
        else:
            for datastore, tables in touched.items():
                report.vacuumed += vacuum_after_erase(datastore, tables)
            report.remaining = sum(
                _apply(datastores.for_entry(entry), entry, dry_run=True)[0] for entry in entries)
    finally:
        datastores.close()
    with transaction.atomic(durable=True):
        audit_record(
            actor=actor, action="ledger.replayed", tenant_id=tenant.pk,
            target_type="tenant", target_id=tenant.pk,
            metadata={"since": since.isoformat(), "system": system or "", "dry_run": dry_run,
                      "entries": len(entries), "rows_changed": 0 if dry_run else report.rows,
                      "remaining": report.remaining},
        )
    return report


def tenant_by_slug(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise NotFound(f"No tenant has the slug {slug!r}; `privacyops manage shell` lists "
                       "them, or check the spelling.") from None
