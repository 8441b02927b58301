"""RECTIFY (GDPR Art. 16) and RESTRICT (Art. 18) on the subject's row.

RECTIFY sets fields the data map declares on the subject entity to values an operator typed:
each value is checked against the *live* column (text length, whole number, date or time in
ISO 8601, true/false, NULL only where the column allows it) before anything is written, and the
row is changed in one transaction that also reads the old values. Keys (the primary key, the
tenant column, relation and reference columns) and the markers jobs write are never rectified.

RESTRICT fills ``subject.restriction_marker`` (``value: now``: the current UTC time), and a
lifted restriction sets it back to NULL. Error sentences name fields, never values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Column, Connection, select, update

from privacyops.connectors.base import ConnectorError, TargetNotFound
from privacyops.connectors.sql_traversal import ReflectedMap, Traversal, coerce, json_ready, now_for
from privacyops.datamap.schema import DataMap

MAX_CHANGES = 50
WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,19}$")
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


class InvalidChange(ConnectorError):
    """A requested change the data map or the column refuses; ``field`` names it."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(message)


class SubjectErased(ConnectorError):
    """The subject was erased: rectifying would write personal data back into its row."""


class NoRestrictionMarker(ConnectorError):
    """The data map declares no ``subject.restriction_marker``."""


@dataclass(frozen=True)
class FieldChange:
    """One rectified field: its old and new values, JSON-ready (personal data: seal them)."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RestrictionChange:
    """What RESTRICT did to the marker column: ``changed`` is False when it already held the
    requested state (restricted, or not), so a repeated job changes nothing."""

    column: str
    restricted: bool
    changed: bool
    since: Any  # the marker's value afterwards (None once lifted)


def protected_columns(datamap: DataMap) -> dict[str, str]:
    """Subject columns RECTIFY never writes, with the reason a refusal gives."""
    subject = datamap.subject
    spec = datamap.entities[subject.entity]
    reasons: dict[str, str] = {spec.primary_key: "it is the primary key"}
    tenant = datamap.tenant_column_of(subject.entity)
    if tenant:
        reasons[tenant] = "it is the tenant column"
    for relation in spec.relations:
        for via in relation.via:
            reasons[via] = f"it links the row to {relation.to} (a key)"
    for reference in spec.references:
        reasons[reference.via] = f"it points at another {reference.to} row (a key)"
    for key, marker in subject.markers().items():
        reasons[marker.column] = f"it is the data map's {key}, which jobs set"
    return reasons


def rectifiable_fields(datamap: DataMap) -> list[str]:
    """The subject entity's fields an operator may rectify, in data-map order."""
    protected = protected_columns(datamap)
    spec = datamap.entities[datamap.subject.entity]
    return [name for name in spec.fields if name not in protected]


def _python_type(column: Column[Any]) -> type | None:
    try:
        kind: type = column.type.python_type
    except NotImplementedError:
        return None
    return kind


def _mysql_boolean(column: Column[Any]) -> bool:
    return (type(column.type).__name__ == "TINYINT"
            and getattr(column.type, "display_width", None) == 1)


def _where(column: Column[Any]) -> str:
    return f"{column.table.name}.{column.name}"


def _checked_value(field: str, column: Column[Any], value: Any) -> Any:
    """The value converted to what the column stores, or InvalidChange naming the field."""
    where = _where(column)
    if value is None:
        if not column.nullable:
            raise InvalidChange(field, f"Field {field} cannot be emptied (null): {where} is NOT "
                                "NULL. Give a value instead.")
        return None
    if isinstance(value, dict | list):
        raise InvalidChange(field, f"Field {field} takes one plain value (text, number, true or "
                            "false), not a list or an object.")
    kind = _python_type(column)
    if _mysql_boolean(column):  # MySQL's BOOLEAN is TINYINT(1): true/false are 1/0
        kind = bool
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise InvalidChange(field, f"Field {field} takes true or false ({where} is boolean).")
    if kind is int:
        if isinstance(value, str) and WHOLE_NUMBER.match(value.strip()):
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return value
        raise InvalidChange(field, f"Field {field} takes a whole number ({where} is "
                            f"{column.type}).")
    if kind in (float, Decimal):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value if kind is float else Decimal(str(value))
        if isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = None
            if number is not None and number.is_finite():
                return float(number) if kind is float else number
        raise InvalidChange(field, f"Field {field} takes a number ({where} is {column.type}).")
    if not isinstance(value, str):
        raise InvalidChange(field, f"Field {field} takes text ({where} is {column.type}); "
                            "write the value in quotes.")
    if "\x00" in value:
        raise InvalidChange(field, f"Field {field} contains a NUL character; remove it.")
    if kind is datetime:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidChange(field, f"Field {field} takes a date and time in ISO 8601, such "
                                f"as 2026-03-01T09:30:00Z ({where} is {column.type}).") from None
        if moment.tzinfo is not None and not getattr(column.type, "timezone", False):
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment
    if kind is date:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidChange(field, f"Field {field} takes a date in ISO 8601, such as "
                                f"2026-03-01 ({where} is {column.type}).") from None
    if kind is uuid.UUID:
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            raise InvalidChange(field, f"Field {field} takes a UUID ({where}).") from None
    if kind not in (str, None):
        raise InvalidChange(field, f"Field {field} is stored as {column.type}, which RECTIFY "
                            "cannot write; change it in the application itself.")
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise InvalidChange(field, f"Field {field} takes at most {length} characters ({where}); "
                            f"the value given has {len(value)}.")
    return value


def check_changes(reflected: ReflectedMap, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The requested changes converted to the subject row's column types; raises InvalidChange
    (naming the first field refused) for an unknown, protected or ill-typed field."""
    datamap = reflected.datamap
    entity = datamap.subject.entity
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidChange("changes", "RECTIFY needs at least one change: a field of the "
                            f"subject ({entity}) and its corrected value.")
    if len(changes) > MAX_CHANGES:
        raise InvalidChange("changes", f"RECTIFY takes at most {MAX_CHANGES} fields at once; "
                            "split the correction into several jobs.")
    spec = datamap.entities[entity]
    protected = protected_columns(datamap)
    allowed = ", ".join(rectifiable_fields(datamap)) or "none"
    values: dict[str, Any] = {}
    for field, value in changes.items():
        if isinstance(field, str) and field in protected:
            raise InvalidChange(field, f"Field {field} cannot be rectified: {protected[field]}. "
                                f"Fields that can be rectified: {allowed}.")
        if not isinstance(field, str) or field not in spec.fields:
            raise InvalidChange(field if isinstance(field, str) else None,
                                f"Field {str(field)[:80]!r} is not a field of the subject "
                                f"({entity}) in the data map; fields that can be rectified: "
                                f"{allowed}.")
        values[field] = _checked_value(field, reflected.column(entity, field), value)
    return values


def _locked_row(conn: Connection, traversal: Traversal, columns: list[Column[Any]],
                is_sqlite: bool) -> Any:
    entity = traversal.datamap.subject.entity
    statement = select(*columns).where(traversal.condition(entity))
    if not is_sqlite:
        statement = statement.with_for_update()
    row = conn.execute(statement).first()
    if row is None:
        target = traversal.target
        raise TargetNotFound(f"subject {target.id} does not exist in tenant {target.tenant_key}")
    return row


def rectify_row(conn: Connection, traversal: Traversal, values: Mapping[str, Any], *,
                is_sqlite: bool) -> list[FieldChange]:
    """Inside the caller's transaction: read the old values (locking the row), refuse an
    erased subject, write the new ones. Returns every requested field, changed or not."""
    reflected, datamap = traversal.reflected, traversal.datamap
    entity = datamap.subject.entity
    columns = [reflected.column(entity, field) for field in values]
    marker = datamap.subject.erased_marker
    erased = [reflected.column(entity, marker.column)] if marker is not None else []
    row = _locked_row(conn, traversal, [*columns, *erased], is_sqlite)
    if erased and row[-1] is not None:
        raise SubjectErased("the subject was erased; rectifying would write personal data "
                            "back into an erased row")
    old = {field: json_ready(row[i]) for i, field in enumerate(values)}
    conn.execute(update(reflected.table(entity)).where(traversal.condition(entity))
                 .values(dict(values)))
    return [FieldChange(field, old[field], json_ready(value)) for field, value in values.items()]


def restrict_row(conn: Connection, traversal: Traversal, *, lift: bool, at: datetime | None,
                 is_sqlite: bool) -> RestrictionChange:
    """Inside the caller's transaction: set (or, ``lift``, clear) the restriction marker."""
    datamap, reflected = traversal.datamap, traversal.reflected
    marker = datamap.subject.restriction_marker
    if marker is None:
        raise NoRestrictionMarker(f"data map {datamap.name!r} declares no "
                                  "subject.restriction_marker")
    entity = datamap.subject.entity
    column = reflected.column(entity, marker.column)
    (current,) = _locked_row(conn, traversal, [column], is_sqlite)
    if lift:
        new: Any = None
    elif current is not None:
        return RestrictionChange(marker.column, True, False, json_ready(current))
    else:
        new = now_for(column, at) if marker.value == "now" else coerce(column, marker.value)
    if lift and current is None:
        return RestrictionChange(marker.column, False, False, None)
    conn.execute(update(reflected.table(entity)).where(traversal.condition(entity))
                 .values({column.name: new}))
    return RestrictionChange(marker.column, not lift, True, json_ready(new))
