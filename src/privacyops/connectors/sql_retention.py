"""Retention rules and statutory keep rules on a SQL datastore.

A retention rule selects the rows of one entity older than its period (``from`` column at or
before the cut-off) that match its filter, and purges them (with the rows they own) or erases
their fields. A keep rule protects rows until their keep period ends: a PURGE anonymises them
(and the rows that own them, so the kept record stays whole) instead of deleting them, and a
retention rule leaves them alone. Legal holds win over both: rows a hold reaches, and the rows
that own them, are skipped and counted.

Every condition is built with SQLAlchemy Core from the data map's declarative filters; no SQL
text from a data map ever reaches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    String,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)

from privacyops.connectors.base import ConnectorError, PurgeProgress, Target
from privacyops.connectors.sql_traversal import (
    DEMO_TIMESTAMP_FORMAT,
    ReflectedMap,
    Traversal,
    coerce,
    python_type,
)
from privacyops.connectors.sql_write import (
    ColumnErase,
    _field_erase,
    _hash_column,
    _marker_erase,
    detach_references,
)
from privacyops.datamap.schema import FilterSpec, RetentionSpec

_ID_SENTINEL = "\x00privacyops-id\x00"


def moment_for(column: Column[Any], moment: datetime) -> Any:
    """A UTC moment as the column stores it: ISO text, a date, or a (naive or aware) datetime."""
    moment = moment.astimezone(UTC)
    kind = python_type(column)
    if kind is str:
        return moment.strftime(DEMO_TIMESTAMP_FORMAT)
    if kind is date:
        return moment.date()
    if getattr(column.type, "timezone", False):
        return moment
    return moment.replace(tzinfo=None)


def filter_condition(reflected: ReflectedMap, entity: str, spec: FilterSpec) -> ColumnElement[bool]:
    """One declarative filter (column, operator, value) as a bound SQL condition."""
    column = reflected.column(entity, spec.column)
    if spec.op == "is null":
        return column.is_(None)
    if spec.op == "is not null":
        return column.is_not(None)
    if spec.op in ("in", "not in"):
        values = [coerce(column, v) for v in spec.value]
        return column.in_(values) if spec.op == "in" else and_(
            column.is_not(None), column.not_in(values))
    value = coerce(column, spec.value)
    operators: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "=": lambda c, v: c == v, "!=": lambda c, v: c != v, "<": lambda c, v: c < v,
        "<=": lambda c, v: c <= v, ">": lambda c, v: c > v, ">=": lambda c, v: c >= v,
    }
    return operators[spec.op](column, value)


def definitely(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """True where the condition is true, false where it is false *or NULL*.

    ``actor_id IN (…) OR subject_id IN (…)`` is NULL on a row whose subject_id is NULL, and
    ``NOT NULL`` is NULL again: without this, negating an exclusion would also drop those rows.
    """
    return case((condition, true()), else_=false())


def require_columns(reflected: ReflectedMap, entity: str) -> None:
    """Raise ConnectorError, naming the data-map path, when a rule's column is missing."""
    table = reflected.table(entity)
    for column in sorted(reflected.datamap.retention_columns(entity)):
        if column not in table.c:
            raise ConnectorError(f"entities.{entity}: the retention or keep rule reads column "
                                 f"{column!r}, which table {table.name!r} does not have")


def kept_condition(reflected: ReflectedMap, entity: str, now: datetime) -> ColumnElement[bool] | None:
    """Rows of ``entity`` still inside their keep period (a missing date keeps the row)."""
    keep = reflected.datamap.entities[entity].keep
    if keep is None:
        return None
    require_columns(reflected, entity)
    column = reflected.column(entity, keep.from_)
    return or_(column.is_(None), column > moment_for(column, keep.for_.before(now)))


def upward(
    traversal: Traversal, marked: Callable[[str], ColumnElement[bool] | None]
) -> dict[str, ColumnElement[bool]]:
    """Per entity, the reached rows that are marked or own (through relations) a marked row."""
    graph = traversal.reflected.graph
    memo: dict[str, ColumnElement[bool] | None] = {}

    def build(entity: str, seen: frozenset[str]) -> ColumnElement[bool] | None:
        if entity in memo:
            return memo[entity]
        alternatives: list[ColumnElement[bool]] = []
        own = marked(entity)
        if own is not None:
            alternatives.append(own)
        pk = traversal.reflected.pk(entity)
        for edge in graph.children(entity):
            child = edge.child
            if child not in traversal.entities or child in seen or child == entity:
                continue
            below = build(child, seen | {child})
            if below is None:
                continue
            for via in edge.via:
                column = traversal.reflected.column(child, via)
                owned = select(column).where(traversal.condition(child), below,
                                             column.is_not(None))
                alternatives.append(pk.in_(owned))
        memo[entity] = or_(*alternatives) if alternatives else None
        return memo[entity]

    found: dict[str, ColumnElement[bool]] = {}
    for entity in traversal.entities:
        condition = build(entity, frozenset({entity}))
        if condition is not None:
            found[entity] = condition
    return found


def protected_by_keep(traversal: Traversal, now: datetime) -> dict[str, ColumnElement[bool]]:
    """Reached rows a PURGE must keep: inside a keep period, or owning such a row."""
    return upward(traversal, lambda entity: kept_condition(traversal.reflected, entity, now))


def held_by(reflected: ReflectedMap, held: Iterable[Target]) -> Callable[[str], ColumnElement[bool] | None]:
    """Rows of an entity any of the held targets reaches (a tenant hold reaches them all)."""
    traversals: list[Traversal] = []
    for target in held:
        try:
            traversals.append(Traversal(reflected, target))
        except (ConnectorError, KeyError):
            continue  # a hold on a scope this datastore does not declare reaches none of it

    def marked(entity: str) -> ColumnElement[bool] | None:
        found = [t.condition(entity) for t in traversals if entity in t.entities]
        return or_(*found) if found else None

    return marked


class Narrowed(Traversal):
    """A traversal's reach minus excluded rows, per entity (what is deleted, not what is reached)."""

    def __init__(self, base: Traversal, excluded: dict[str, ColumnElement[bool]]) -> None:
        self.reflected = base.reflected
        self.datamap = base.datamap
        self.target = base.target
        self.start = base.start
        self.entities = base.entities
        self.tenant_key = base.tenant_key
        self._conditions = {}
        self.base = base
        self.excluded = excluded

    def condition(self, entity: str) -> ColumnElement[bool]:
        reached = self.base.condition(entity)
        excluded = self.excluded.get(entity)
        return reached if excluded is None else and_(reached, not_(definitely(excluded)))


class Within(Traversal):
    """A traversal's reach restricted to extra conditions (the rows to anonymise)."""

    def __init__(self, base: Traversal, extra: dict[str, ColumnElement[bool]]) -> None:
        self.reflected = base.reflected
        self.datamap = base.datamap
        self.target = base.target
        self.start = base.start
        self.entities = [e for e in base.entities if e in extra]
        self.tenant_key = base.tenant_key
        self._conditions = {}
        self.base = base
        self.extra = extra

    def condition(self, entity: str) -> ColumnElement[bool]:
        extra = self.extra.get(entity)
        return and_(self.base.condition(entity), extra) if extra is not None else false()


class RuleTraversal(Traversal):
    """The rows a retention rule selects on its entity, and the rows those own."""

    def __init__(self, reflected: ReflectedMap, entity: str, start: ColumnElement[bool],
                 tenant_key: str | None) -> None:
        self.reflected = reflected
        self.datamap = reflected.datamap
        self.target = Target(scope="retention", id=entity, tenant_key=tenant_key)
        self.start = entity
        self.entities = reflected.graph.reachable(entity)
        self.tenant_key = tenant_key
        self._conditions = {}
        self._start_condition = start

    def _build(self, entity: str) -> ColumnElement[bool]:
        if entity not in self.entities:
            return false()
        if entity == self.start:
            return self._start_condition
        return self._through_parents(entity, self.tenant_filter(entity))


def _pseudonym_expression(column: Column[Any], pk: Column[Any], template: str,
                          tenant_key: str | None) -> Any:
    """The pseudonym for each row, built in SQL: ``{id}`` becomes the row's own key."""
    text = template.format(id=_ID_SENTINEL, tenant=tenant_key or "")
    parts = text.split(_ID_SENTINEL)
    if len(parts) == 1:
        return coerce(column, text)
    expression: Any = literal(parts[0], String())
    for part in parts[1:]:
        expression = expression + cast(pk, String()) + literal(part, String())
    return expression


def bulk_erase_plan(traversal: Traversal, entity: str) -> list[ColumnErase]:
    """ERASE of many rows at once: like a subject's, but each pseudonym names its own row."""
    reflected = traversal.reflected
    spec = traversal.datamap.entities[entity]
    pk = reflected.pk(entity)
    plan: list[ColumnErase] = []
    for name, field_spec in spec.fields.items():
        action = field_spec.erase
        column = reflected.column(entity, name)
        if action.kind == "keep":
            continue
        if action.kind == "pseudonym":
            value = _pseudonym_expression(column, pk, str(action.value), traversal.tenant_key)
            plan.append(ColumnErase(column, column.is_distinct_from(value), value))
        else:
            plan.append(_field_erase(column, action, traversal))
    subject = traversal.datamap.subject
    if entity == subject.entity:
        planned = {item.column.name for item in plan}
        for marker in (subject.erased_marker, subject.soft_delete):
            if marker is not None and marker.column not in planned:
                plan.append(_marker_erase(reflected.column(entity, marker.column), marker, None))
    return plan


def erase_rows(conn: Connection, traversal: Traversal, entity: str, *, hash_key: bytes,
               dry_run: bool) -> int:
    """Apply (or count) the bulk erase of the entity's rows the traversal reaches."""
    plan = bulk_erase_plan(traversal, entity)
    if not plan:
        return 0
    table = traversal.reflected.table(entity)
    reached = traversal.condition(entity)
    pending = or_(*(item.needs_change for item in plan))
    rows = int(conn.execute(select(func.count()).select_from(table).where(reached, pending))
               .scalar_one())
    if rows and not dry_run:
        plain = [item for item in plan if not item.hashed]
        if plain:
            conn.execute(update(table).where(reached, or_(*(i.needs_change for i in plain)))
                         .values({item.column.name: item.new_value for item in plain}))
        for item in plan:
            if item.hashed:
                _hash_column(conn, table, reached, item, hash_key)
    return rows


def _count(conn: Connection, traversal: Traversal, entity: str) -> int:
    table = traversal.reflected.table(entity)
    return int(conn.execute(select(func.count()).select_from(table)
                            .where(traversal.condition(entity))).scalar_one())


def _delete_chunk(conn: Connection, traversal: Traversal, entity: str, chunk_size: int) -> int:
    pk = traversal.reflected.pk(entity)
    keys = [k for (k,) in conn.execute(select(pk).where(traversal.condition(entity))
                                        .order_by(pk).limit(chunk_size))]
    if not keys:
        return 0
    result = conn.execute(delete(traversal.reflected.table(entity)).where(pk.in_(keys)))
    return max(result.rowcount, 0)


@dataclass
class RetentionResult:
    """What one run of a retention rule did (or, on a dry run, would do)."""

    entity: str
    action: str
    cutoff: str
    due: int = 0
    held: int = 0
    kept: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    erased: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def rows_removed(self) -> int:
        return sum(self.deleted.values()) + sum(self.erased.values())

    def as_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "action": self.action, "cutoff": self.cutoff,
                "due": self.due, "held": self.held, "kept": self.kept,
                "deleted": dict(self.deleted), "erased": dict(self.erased),
                "rows_removed": self.rows_removed, "dry_run": self.dry_run}


class RetentionRun:
    """One retention rule applied to one tenant's rows, as of a fixed moment.

    ``held_now`` returns the targets legal holds cover right now; it is called before the run
    and, inside ``chunk_guard`` (the control plane's hold lock), before every chunk: a hold
    placed during the run stops the rows it reaches from the next chunk on.
    """

    def __init__(self, reflected: ReflectedMap, entity: str, *, tenant_key: str | None,
                 now: datetime, held_now: Callable[[], list[Target]]) -> None:
        spec = reflected.datamap.entities[entity]
        rule = spec.effective_retention
        if rule is None:
            raise ConnectorError(f"entity {entity!r} has no retention rule in data map "
                                 f"{reflected.datamap.name!r}")
        require_columns(reflected, entity)
        self.reflected, self.entity, self.rule = reflected, entity, rule
        self.tenant_key, self.now, self.held_now = tenant_key, now, held_now
        if reflected.datamap.is_shared and tenant_key is None:
            raise ConnectorError(f"data map {reflected.datamap.name!r} is shared by tenants; "
                                 "a retention run must name the tenant")
        column = reflected.column(entity, rule.from_)
        self.cutoff = rule.after.before(now)
        conditions = [column.is_not(None), column <= moment_for(column, self.cutoff)]
        conditions += [filter_condition(reflected, entity, f) for f in rule.where]
        tenant = Traversal(reflected, Target("tenant", tenant_key or "", tenant_key))
        own_tenant = tenant.tenant_filter(entity) if reflected.datamap.is_shared else None
        if reflected.datamap.is_shared and own_tenant is None:
            raise ConnectorError(f"entities.{entity}: a retention rule needs the tenant column "
                                 "on its own table in a datastore shared by tenants")
        if own_tenant is not None:
            conditions.append(own_tenant)
        self.due_condition: ColumnElement[bool] = and_(*conditions)
        self.held: set[Target] = set()
        self._build(set(held_now()))

    @classmethod
    def describe_rule(cls, rule: RetentionSpec) -> str:
        return rule.describe()

    def _build(self, held: set[Target]) -> None:
        self.held = held
        due = RuleTraversal(self.reflected, self.entity, self.due_condition, self.tenant_key)
        frozen = upward(due, held_by(self.reflected, held)).get(self.entity)
        self.frozen = definitely(frozen) if frozen is not None else false()
        kept: ColumnElement[bool] = false()
        if self.rule.action == "purge":
            kept = definitely(protected_by_keep(due, self.now).get(self.entity, false()))
        self.kept_condition = and_(not_(self.frozen), kept)
        start = and_(self.due_condition, not_(self.frozen), not_(kept))
        self.traversal = RuleTraversal(self.reflected, self.entity, start, self.tenant_key)

    def _refresh(self) -> None:
        current = set(self.held_now())
        if not current <= self.held:
            self._build(self.held | current)

    def _counts(self, conn: Connection, result: RetentionResult) -> None:
        table = self.reflected.table(self.entity)
        result.due = int(conn.execute(select(func.count()).select_from(table)
                                      .where(self.due_condition)).scalar_one())
        result.held = int(conn.execute(select(func.count()).select_from(table)
                                       .where(self.due_condition, self.frozen)).scalar_one())
        result.kept = int(conn.execute(select(func.count()).select_from(table)
                                       .where(self.due_condition, self.kept_condition))
                          .scalar_one())

    def run(self, conn_factory: Callable[[bool], AbstractContextManager[Connection]], *,
            hash_key: bytes, dry_run: bool = False, chunk_size: int = 1000,
            chunk_guard: Callable[[], AbstractContextManager[None]] | None = None,
            on_progress: Callable[[PurgeProgress], None] | None = None) -> RetentionResult:
        guard = chunk_guard or nullcontext
        result = RetentionResult(self.entity, self.rule.action, self.cutoff.isoformat(),
                                 dry_run=dry_run)
        graph = self.reflected.graph
        with conn_factory(not dry_run) as conn:
            with conn.begin():
                self._counts(conn, result)
            if self.rule.action == "erase":
                self._erase(conn, result, hash_key=hash_key, dry_run=dry_run,
                            chunk_size=chunk_size, guard=guard, on_progress=on_progress)
            elif dry_run:
                with conn.begin():
                    for entity in graph.delete_order(self.traversal.entities):
                        result.deleted[self.reflected.table(entity).name] = _count(
                            conn, self.traversal, entity)
            else:
                self._purge(conn, result, chunk_size=chunk_size, guard=guard,
                            on_progress=on_progress)
            if not dry_run:
                # Holds placed during the run are counted: what they froze is still there.
                with conn.begin():
                    due = result.due
                    self._counts(conn, result)
                    result.due = due
        return result

    def _purge(self, conn: Connection, result: RetentionResult, *, chunk_size: int,
               guard: Callable[[], AbstractContextManager[None]],
               on_progress: Callable[[PurgeProgress], None] | None) -> None:
        total = 0
        for entity in self.reflected.graph.delete_order(self.traversal.entities):
            name = self.reflected.table(entity).name
            done = 0
            while True:
                with guard(), conn.begin():
                    self._refresh()
                    if done == 0 and _referenced(self.reflected, entity):
                        detach_references(conn, self.traversal, entity)
                    removed = _delete_chunk(conn, self.traversal, entity, chunk_size)
                done += removed
                total += removed
                if removed and on_progress is not None:
                    on_progress(PurgeProgress(name, done, done, total))
                if removed < chunk_size:
                    break
            result.deleted[name] = result.deleted.get(name, 0) + done

    def _erase(self, conn: Connection, result: RetentionResult, *, hash_key: bytes,
               dry_run: bool, chunk_size: int,
               guard: Callable[[], AbstractContextManager[None]],
               on_progress: Callable[[PurgeProgress], None] | None) -> None:
        name = self.reflected.table(self.entity).name
        pk = self.reflected.pk(self.entity)
        if dry_run:
            with conn.begin():
                result.erased[name] = erase_rows(conn, self.traversal, self.entity,
                                                 hash_key=hash_key, dry_run=True)
            return
        plan = bulk_erase_plan(self.traversal, self.entity)
        pending = or_(*(item.needs_change for item in plan)) if plan else false()
        done, last = 0, None
        while True:
            with guard(), conn.begin():
                self._refresh()
                chunk = select(pk).where(self.traversal.condition(self.entity), pending)
                if last is not None:
                    chunk = chunk.where(pk > last)
                keys = [k for (k,) in conn.execute(chunk.order_by(pk).limit(chunk_size))]
                if keys:
                    view = Within(self.traversal, {self.entity: pk.in_(keys)})
                    done += erase_rows(conn, view, self.entity, hash_key=hash_key,
                                       dry_run=False)
                    last = keys[-1]
            if keys and on_progress is not None:
                on_progress(PurgeProgress(name, done, done, done))
            if len(keys) < chunk_size:
                break
        result.erased[name] = done


def _referenced(reflected: ReflectedMap, entity: str) -> bool:
    graph = reflected.graph
    return any(graph.resolve(reference.to) == entity
               for spec in reflected.datamap.entities.values() for reference in spec.references)


def keep_purge_plan(traversal: Traversal, now: datetime) -> tuple[Narrowed, Within] | None:
    """For a PURGE: what to delete and what to anonymise; None when no keep rule applies."""
    protected = protected_by_keep(traversal, now)
    if not protected:
        return None
    return Narrowed(traversal, protected), Within(traversal, protected)


__all__ = [
    "Narrowed",
    "RetentionResult",
    "RetentionRun",
    "Within",
    "erase_rows",
    "filter_condition",
    "keep_purge_plan",
    "moment_for",
]
