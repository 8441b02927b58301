"""Choosing disjoint targets in the demo datastore, and the serial reference run."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from privacyops.connectors import Target
from privacyops.datamap import DataMap, load_datamap
from tests import factories
from tests.durability.conftest import DurableStore

HEX64 = re.compile(r"^[0-9a-f]{64}$")
# The ERASE marker columns hold the moment of erasure; the serial run has its own moment.
MOMENT_COLUMNS = {("people", "erased_at"), ("people", "deleted_at")}


@dataclass(frozen=True)
class PlannedJob:
    workspace_id: int
    job_type: str
    target_type: str
    target_id: str


@dataclass
class Plan:
    jobs: list[PlannedJob] = field(default_factory=list)

    def of(self, job_type: str, target_type: str = "subject") -> list[PlannedJob]:
        return [j for j in self.jobs if j.job_type == job_type and j.target_type == target_type]


ERASABLE = (
    "SELECT p.id FROM people p WHERE p.workspace_id = ? AND p.role = 'member' "
    "AND NOT EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id "
    "AND h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s "
    "WHERE s.person_id = p.id AND s.revoked_at IS NULL)"
)


def plan_jobs(store: DurableStore, *, erase: int, purge: int, export: int,
              issuer_workspaces: int) -> Plan:
    """Targets that share no person, so any interleaving ends in the same datastore."""
    plan = Plan()
    for index, tenant in enumerate(store.tenants):
        workspace = int(factories.tenant_key(tenant))
        purged_issuers: list[int] = []
        if index < issuer_workspaces:
            issuer = store.query(
                "SELECT sso_issuer_id FROM people WHERE workspace_id = ? AND sso_issuer_id "
                "IS NOT NULL GROUP BY 1 ORDER BY COUNT(*), 1 LIMIT 1", workspace)[0][0]
            purged_issuers.append(issuer)
            plan.jobs.append(PlannedJob(workspace, "PURGE", "issuer", str(issuer)))
        free = [
            pid for (pid,) in store.query(
                "SELECT id FROM people WHERE workspace_id = ? AND (sso_issuer_id IS NULL OR "  # noqa: S608
                f"sso_issuer_id NOT IN ({','.join('?' * len(purged_issuers)) or 'NULL'})) "
                "ORDER BY id", workspace, *purged_issuers)
        ]
        erasable = {pid for (pid,) in store.query(ERASABLE, workspace)}
        erase_ids = [pid for pid in free if pid in erasable][:erase]
        rest = [pid for pid in free if pid not in erase_ids]
        # Managers first: purging them clears other people's manager_id (a reference).
        managers = {pid for (pid,) in store.query(
            "SELECT DISTINCT manager_id FROM people WHERE workspace_id = ? AND manager_id "
            "IS NOT NULL", workspace)}
        purge_ids = sorted(rest, key=lambda pid: (pid not in managers, pid))[:purge]
        export_ids = [pid for pid in rest if pid not in purge_ids][-export:]
        plan.jobs += [PlannedJob(workspace, "ERASE", "subject", str(p)) for p in erase_ids]
        plan.jobs += [PlannedJob(workspace, "PURGE", "subject", str(p)) for p in purge_ids]
        plan.jobs += [PlannedJob(workspace, "EXPORT", "subject", str(p)) for p in export_ids]
    return plan


def run_serially(store: DurableStore, plan: Plan, copy: Path) -> None:
    """The reference: the same ERASE and PURGE operations, one after the other, no crash."""
    for planned in plan.jobs:
        if planned.job_type == "EXPORT":
            continue
        tenant = store.tenant_of_workspace(planned.workspace_id)
        target = Target(scope=planned.target_type, id=planned.target_id,
                        tenant_key=factories.tenant_key(tenant))
        with store.datastore(copy, tenant=tenant) as datastore:
            if planned.job_type == "ERASE":
                datastore.erase(target)
            else:
                datastore.purge(target, chunk_size=10_000)


def table_dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, moments of erasure reduced to whether they are set."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with closing(sqlite3.connect(path)) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'change_log'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')  # noqa: S608
            names = [d[0] for d in cursor.description]
            dump[table] = [
                tuple((v is not None) if (table, n) in MOMENT_COLUMNS else v
                      for n, v in zip(names, row, strict=True))
                for row in cursor
            ]
    return dump


def erase_mismatches(store: DurableStore, subject_id: str, tenant_key: str) -> list[str]:
    """Each declared erase action of the demo data map, checked on the subject and its rows."""
    return erase_mismatches_in(store.path, "demo", subject_id, tenant_key)


def _owned_where(datamap: DataMap, name: str, subject_id: str,
                 seen: frozenset[str] = frozenset()) -> tuple[str, list[object]]:
    """SQL that selects the rows of entity `name` the subject owns, directly or through the
    entities it owns (a ticket's messages), read from the data map's relations."""
    spec = datamap.entities[name]
    if name == datamap.subject.entity:
        return f"{spec.primary_key} = ?", [subject_id]
    parts: list[str] = []
    params: list[object] = []
    for relation in spec.relations:
        if relation.to == "subject":
            parts += [f"{column} = ?" for column in relation.via]
            params += [subject_id] * len(relation.via)
        elif relation.to in datamap.entities and relation.to not in seen | {name}:
            owner = datamap.entities[relation.to]
            inner, inner_params = _owned_where(datamap, relation.to, subject_id, seen | {name})
            if not inner:
                continue
            parts += [f"{column} IN (SELECT {owner.primary_key} FROM {owner.table} "  # noqa: S608
                      f"WHERE {inner})" for column in relation.via]
            params += inner_params * len(relation.via)
    return " OR ".join(parts), params


def erase_mismatches_in(path: Path, datamap_name: str, subject_id: str,
                        tenant_key: str) -> list[str]:
    """Each declared erase action of a data map, checked on the subject and the rows it owns
    in the SQLite datastore at `path` (the test's own SQL, not the connector's)."""
    datamap = load_datamap(Path(settings.DATAMAP_DIR) / f"{datamap_name}.yaml")
    subject_entity = datamap.subject.entity
    problems: list[str] = []
    for name, spec in datamap.entities.items():
        where, params = _owned_where(datamap, name, subject_id)
        if not where:
            continue
        erased = {f: s.erase for f, s in spec.fields.items() if s.erase.kind != "keep"}
        if name == subject_entity:
            for marker in (datamap.subject.erased_marker, datamap.subject.soft_delete):
                if marker is not None:
                    erased.setdefault(marker.column, None)  # type: ignore[arg-type]
        if not erased:
            continue
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                f"SELECT {spec.primary_key}, {', '.join(erased)} FROM {spec.table} "  # noqa: S608
                f"WHERE ({where}) AND {datamap.tenant_column} = ?", (*params, tenant_key)
            ).fetchall()
        if name == subject_entity and not rows:
            problems.append(f"subject {subject_id} is missing")
        for pk, *values in rows:
            for (column, action), value in zip(erased.items(), values, strict=True):
                if action is None:
                    ok = value is not None
                elif action.kind == "null":
                    ok = value is None
                elif action.kind == "hash":
                    ok = value is None or bool(HEX64.match(str(value)))
                elif action.kind == "pseudonym":
                    ok = value == action.pseudonym_for(subject_id, tenant_key)
                else:
                    ok = value == action.value or str(value) == str(action.value)
                if not ok:
                    problems.append(f"{spec.table}#{pk}.{column} = {value!r}")
    return problems
