"""Dry run of an ERASE or PURGE: what would change, per table, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from privacyops.connectors import ConnectorError, PreconditionsFailed
from privacyops.errors import DomainError, ValidationFailed
from privacyops.execution.errors import JobBlocked
from privacyops.execution.executors import precondition_sentence
from privacyops.execution.guards import refuse_if_held
from privacyops.execution.registry import datastore_for, target_for
from privacyops.tenancy.models import Tenant


@dataclass(frozen=True)
class TablePreview:
    table: str
    rows: int
    columns: tuple[str, ...]
    special_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class DryRunPreview:
    tables: list[TablePreview] = field(default_factory=list)
    blocked: str | None = None

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def special_categories(self) -> list[str]:
        """GDPR Art. 9/10 categories the change touches, for the page to mark."""
        return sorted({c for t in self.tables for c in t.special_categories})


def dry_run_preview(*, tenant: Tenant, job_type: str, target_type: str,
                    target_id: str) -> DryRunPreview:
    if job_type not in {"ERASE", "PURGE"}:
        raise ValidationFailed("A dry run applies to ERASE and PURGE jobs.", field="job_type")
    datastore = datastore_for(tenant)
    target = target_for(tenant, target_type, target_id.strip())
    blocked: str | None = None
    try:
        refuse_if_held(tenant_id=tenant.pk, target=target, target_type=target_type,
                       datastore=datastore)
    except JobBlocked as error:
        blocked = error.message
    try:
        if job_type == "ERASE":
            result = datastore.erase(target, dry_run=True)
            special = datastore.datamap.special_categories_in_tables(
                {c.table: c.columns for c in result.tables})
            tables = [TablePreview(c.table, c.rows, c.columns, tuple(special.get(c.table, ())))
                      for c in result.tables]
        else:
            purge = datastore.purge(target, dry_run=True)
            special = datastore.datamap.special_categories_in_tables(dict.fromkeys(purge.deleted))
            tables = [TablePreview(t, n, ("all columns (row deleted)",),
                                   tuple(special.get(t, ()))) for t, n in purge.deleted.items()]
    except PreconditionsFailed as error:
        # "This job would be refused: …" already says it: no "Refused." in front.
        return DryRunPreview([], blocked or precondition_sentence(error.failures).removeprefix("Refused. "))
    except ConnectorError as error:
        raise DomainError(f"{target_type} {target_id}: {error}", code="target_not_found") from None
    return DryRunPreview(tables, blocked)


@dataclass(frozen=True)
class SystemPreview:
    """One system's part of an identity ERASE dry run: its tables, or why there are none."""

    system: str
    connector: str
    preview: DryRunPreview | None = None
    note: str = ""


def dry_run_identity(*, tenant: Tenant, identity: dict[str, str],
                     systems: list[str] | None = None) -> list[SystemPreview]:
    """What an ERASE by identity would change, per system and per table; writes nothing."""
    from privacyops.connectors import Target
    from privacyops.connectors.base import canonical_identity
    from privacyops.execution.registry import connector_of_system, systems_of

    wanted = canonical_identity(identity)
    out: list[SystemPreview] = []
    for system in systems_of(tenant):
        if systems and system.name not in systems:
            continue
        if system.connector_type == "manual":
            out.append(SystemPreview(system.name, system.connector_type,
                                     note="A manual system: its owner is asked to act."))
            continue
        tenant_key = system.datastore_key or None
        try:
            connector = connector_of_system(system)
            keys = connector.resolve_identity(wanted, tenant_key)
            if not keys:
                out.append(SystemPreview(system.name, system.connector_type,
                                         note="No data for this person."))
                continue
            if len(keys) > 1:
                out.append(SystemPreview(
                    system.name, system.connector_type,
                    note=f"{len(keys)} subjects match: the job will ask for a pick."))
                continue
            target = Target(scope="subject", id=keys[0], tenant_key=tenant_key)
            blocked: str | None = None
            datastore: Any = connector if hasattr(connector, "datamap") else None
            try:
                refuse_if_held(tenant_id=tenant.pk, target=target, target_type="subject",
                               datastore=datastore)
            except JobBlocked as error:
                blocked = error.message
            try:
                result = connector.erase(target, dry_run=True)
            except PreconditionsFailed as error:
                out.append(SystemPreview(system.name, system.connector_type, DryRunPreview(
                    [], blocked or precondition_sentence(error.failures).removeprefix(
                        "Refused. "))))
                continue
            special = (datastore.datamap.special_categories_in_tables(
                {c.table: c.columns for c in result.tables}) if datastore is not None else {})
            tables = [TablePreview(c.table, c.rows, c.columns, tuple(special.get(c.table, ())))
                      for c in result.tables]
            out.append(SystemPreview(system.name, system.connector_type,
                                     DryRunPreview(tables, blocked)))
        except (DomainError, ConnectorError) as error:
            out.append(SystemPreview(system.name, system.connector_type,
                                     note=f"Not available: {getattr(error, 'message', error)}"))
    return out
