"""Set-based traversal: the rows of each entity a target reaches, as SQL conditions.

The rows of an entity reached from a target are expressed as one boolean condition on that
entity's table: the target row itself (``pk = :id``), or ``fk IN (SELECT parent.pk FROM parent
WHERE <parent's condition>)`` for each ownership relation, OR-ed, always AND-ed with the tenant
filter on a shared datastore. Nothing is materialised in Python, so every operation runs one
statement per entity however many rows the target owns.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    MetaData,
    Select,
    Table,
    false,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.sql.expression import and_

from privacyops.connectors.base import ConnectorError, Target, TargetNotFound
from privacyops.datamap.graph import DataMapGraph
from privacyops.datamap.loader import DataMapError, Issue
from privacyops.datamap.schema import DataMap

DEMO_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def python_type(column: Column[Any]) -> type | None:
    try:
        result: type = column.type.python_type
    except NotImplementedError:
        return None
    return result


def coerce(column: Column[Any], value: Any) -> Any:
    """A value from the data map or a target id, converted to the column's Python type."""
    kind = python_type(column)
    if value is None or kind is None or isinstance(value, kind):
        return value
    if kind is int and isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise TargetNotFound(f"{value!r} is not a valid value for {column.table.name}."
                                 f"{column.name}, which holds whole numbers") from None
        if not -(2**63) <= number < 2**63:  # beyond every SQL integer type: no row has it
            raise TargetNotFound(f"{value!r} is out of range for {column.table.name}."
                                 f"{column.name}")
        return number
    if kind is str and isinstance(value, int | float):
        return str(value)
    return value


def now_for(column: Column[Any], at: datetime | None = None) -> Any:
    """The current UTC time (or ``at``), as text on text columns (ISO 8601, ``...Z``), else a
    datetime."""
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return moment.strftime(DEMO_TIMESTAMP_FORMAT) if python_type(column) is str else moment


def json_ready(value: Any) -> Any:
    """A database value as JSON can carry it: ISO 8601 for times, text for decimals and UUIDs."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


class ReflectedMap:
    """A data map bound to the tables reflected from one database."""

    def __init__(self, datamap: DataMap, engine: Engine) -> None:
        self.datamap = datamap
        self.graph = DataMapGraph(datamap)
        tables = sorted({spec.table for spec in datamap.entities.values()})
        metadata = MetaData()
        metadata.reflect(bind=engine, only=lambda name, _meta: name in tables, resolve_fks=False)
        self.issues = self._schema_issues(metadata)
        if self.issues:
            raise DataMapError(self.issues, source=f"{datamap.name} (against the datastore)")
        self.tables: dict[str, Table] = {
            name: metadata.tables[spec.table] for name, spec in datamap.entities.items()
        }

    def _schema_issues(self, metadata: MetaData) -> list[Issue]:
        issues: list[Issue] = []
        for name, spec in self.datamap.entities.items():
            table = metadata.tables.get(spec.table)
            if table is None:
                issues.append((f"entities.{name}.table", f"table {spec.table!r} does not exist "
                               "in the datastore; fix the name or create the table"))
                continue
            for column in sorted(self.datamap.known_columns(name)):
                if column not in table.c:
                    issues.append((f"entities.{name}", f"column {column!r} does not exist in "
                                   f"table {spec.table!r}"))
            for column, field in spec.fields.items():
                if column in table.c and field.erase.kind == "null" and not table.c[column].nullable:
                    issues.append((f"entities.{name}.fields.{column}.erase", "the column is NOT "
                                   "NULL, so it can't be erased to null; use {set: \"\"} or a "
                                   "pseudonym"))
        return issues

    def table(self, entity: str) -> Table:
        return self.tables[entity]

    def column(self, entity: str, name: str) -> Column[Any]:
        return self.tables[entity].c[name]

    def pk(self, entity: str) -> Column[Any]:
        return self.column(entity, self.datamap.entities[entity].primary_key)

    def tenant_column(self, entity: str) -> Column[Any] | None:
        name = self.datamap.tenant_column_of(entity)
        return None if name is None else self.column(entity, name)


class Traversal:
    """The rows one target reaches, entity by entity, as reusable SQL conditions."""

    def __init__(self, reflected: ReflectedMap, target: Target) -> None:
        self.reflected = reflected
        self.datamap = reflected.datamap
        self.target = target
        scopes = self.datamap.scope_entities()
        if target.scope not in scopes:
            raise ConnectorError(f"scope {target.scope!r} is not declared in data map "
                                 f"{self.datamap.name!r}; known scopes: {', '.join(scopes)}")
        self.start = scopes[target.scope]
        self.entities = reflected.graph.reachable(target.scope)
        self.tenant_key = target.tenant_key
        if self.tenant_key is None and target.scope == "tenant":
            self.tenant_key = target.id
        if self.datamap.is_shared and self.tenant_key is None:
            raise ConnectorError(f"data map {self.datamap.name!r} describes a datastore shared "
                                 "by tenants; the target must name its tenant_key")
        self._conditions: dict[str, ColumnElement[bool]] = {}

    def tenant_filter(self, entity: str) -> ColumnElement[bool] | None:
        column = self.reflected.tenant_column(entity)
        if column is None:
            return None
        condition: ColumnElement[bool] = column == coerce(column, self.tenant_key)
        return condition

    def condition(self, entity: str) -> ColumnElement[bool]:
        """A boolean expression true exactly on the rows of ``entity`` the target reaches."""
        if entity not in self._conditions:
            self._conditions[entity] = self._build(entity)
        return self._conditions[entity]

    def _build(self, entity: str) -> ColumnElement[bool]:
        tenant = self.tenant_filter(entity)
        if entity not in self.entities:
            return false()
        if self.target.scope == "tenant":
            if tenant is not None:
                return tenant
            if not self.datamap.is_shared:
                return true()
            return self._through_parents(entity, tenant)
        if entity == self.start:
            pk = self.reflected.pk(entity)
            own = pk == coerce(pk, self.target.id)
            return own if tenant is None else and_(own, tenant)
        return self._through_parents(entity, tenant)

    def _through_parents(
        self, entity: str, tenant: ColumnElement[bool] | None
    ) -> ColumnElement[bool]:
        alternatives: list[ColumnElement[bool]] = []
        for edge in self.reflected.graph.parents(entity):
            if edge.parent not in self.entities or edge.parent == entity:
                continue
            parents = self.pk_select(edge.parent)
            alternatives.extend(self.reflected.column(entity, via).in_(parents) for via in edge.via)
        reached = or_(*alternatives) if alternatives else false()
        return reached if tenant is None else and_(reached, tenant)

    def pk_select(self, entity: str) -> Select[Any]:
        return select(self.reflected.pk(entity)).where(self.condition(entity))

    def exists_statement(self, entity: str) -> Select[Any]:
        return select(literal(1)).select_from(self.reflected.table(entity)).where(
            self.condition(entity)).limit(1)


def where_conditions(
    reflected: ReflectedMap, entity: str, where: dict[str, Any]
) -> Iterable[ColumnElement[bool]]:
    """A precondition's ``where`` mapping as SQL conditions (value, null, {not: …}, {in: […]})."""
    for name, condition in where.items():
        column = reflected.column(entity, name)
        if isinstance(condition, dict) and "not" in condition:
            negated = condition["not"]
            yield column.is_not(None) if negated is None else column.is_distinct_from(
                coerce(column, negated))
        elif isinstance(condition, dict):
            yield column.in_([coerce(column, value) for value in condition["in"]])
        elif condition is None:
            yield column.is_(None)
        else:
            yield column == coerce(column, condition)
