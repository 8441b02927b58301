"""ERASE and PURGE statements: set-based UPDATEs and chunked DELETEs over a traversal.

Kept apart from ``sql`` so the read side stays small. Every statement is built with
SQLAlchemy Core; only the HMAC of ``hash`` columns is computed in Python, over the
*distinct* values (one SELECT, then one UPDATE per few hundred distinct values).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from privacyops.connectors.base import TableChange
from privacyops.connectors.sql_traversal import Traversal, coerce, now_for
from privacyops.datamap.schema import EraseAction, MarkerSpec

DIGEST = re.compile(r"^[0-9a-f]{64}$")
HASH_VALUES_PER_STATEMENT = 400


@dataclass(frozen=True)
class ColumnErase:
    """One column's erase: the condition "this row still needs it" and the new value."""

    column: Column[Any]
    needs_change: ColumnElement[bool]
    new_value: Any
    hashed: bool = False


def hmac_hex(key: bytes, value: Any) -> str:
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def _field_erase(column: Column[Any], action: EraseAction, traversal: Traversal) -> ColumnErase:
    if action.kind == "null":
        return ColumnErase(column, column.is_not(None), None)
    if action.kind == "hash":
        # A 64-hex HMAC is never hashed again, so a second ERASE changes nothing; any other
        # text is hashed, a plain value of 64 characters too.
        text_of = cast(column, String)
        unhashed = or_(func.length(text_of) != 64, ~text_of.regexp_match(DIGEST.pattern))
        return ColumnErase(column, and_(column.is_not(None), unhashed), None, hashed=True)
    if action.kind == "pseudonym":
        value: Any = action.pseudonym_for(traversal.target.id, traversal.tenant_key)
    else:
        value = action.value
    value = coerce(column, value)
    return ColumnErase(column, column.is_distinct_from(value), value)


def _marker_erase(column: Column[Any], marker: MarkerSpec, at: datetime | None) -> ColumnErase:
    if marker.value == "now":
        stamp = case((column.is_(None), now_for(column, at)), else_=column)
        return ColumnErase(column, column.is_(None), stamp)
    value = coerce(column, marker.value)
    return ColumnErase(column, column.is_distinct_from(value), value)


def erase_plan(traversal: Traversal, entity: str, at: datetime | None = None) -> list[ColumnErase]:
    """What ERASE does to this entity's reached rows, column by column (``keep`` omitted).

    ``at`` is the moment written into ``now`` markers (the erasure ledger replays it as is).
    """
    reflected = traversal.reflected
    spec = traversal.datamap.entities[entity]
    plan = [
        _field_erase(reflected.column(entity, name), field.erase, traversal)
        for name, field in spec.fields.items()
        if field.erase.kind != "keep"
    ]
    subject = traversal.datamap.subject
    if entity == subject.entity:
        for marker in (subject.erased_marker, subject.soft_delete):
            if marker is not None:
                planned = {item.column.name for item in plan}
                if marker.column not in planned:
                    plan.append(_marker_erase(reflected.column(entity, marker.column), marker,
                                              at))
    return plan


def erase_entity(
    conn: Connection, traversal: Traversal, entity: str, *, hash_key: bytes, dry_run: bool,
    at: datetime | None = None,
) -> TableChange | None:
    """Apply (or count, on a dry run) the erase of one entity; None when nothing would change."""
    plan = erase_plan(traversal, entity, at)
    if not plan:
        return None
    table = traversal.reflected.table(entity)
    reached = traversal.condition(entity)
    pending = or_(*(item.needs_change for item in plan))
    counts = conn.execute(
        select(func.count(), *(func.sum(case((item.needs_change, 1), else_=0)) for item in plan))
        .select_from(table)
        .where(reached, pending)
    ).one()
    rows = int(counts[0] or 0)
    if rows == 0:
        return None
    changed = [item for item, count in zip(plan, counts[1:], strict=True) if count]
    if not dry_run:
        plain = [item for item in changed if not item.hashed]
        if plain:
            conn.execute(
                update(table)
                .where(reached, or_(*(item.needs_change for item in plain)))
                .values({item.column.name: item.new_value for item in plain})
            )
        for item in changed:
            if item.hashed:
                _hash_column(conn, table, reached, item, hash_key)
    return TableChange(table=table.name, rows=rows, columns=tuple(i.column.name for i in changed))


def _hash_column(
    conn: Connection, table: Table, reached: ColumnElement[bool], item: ColumnErase, key: bytes
) -> None:
    column = item.column
    values = [
        value
        for (value,) in conn.execute(
            select(column).distinct().where(reached, item.needs_change)
        )
        if not (isinstance(value, str) and DIGEST.match(value))
    ]
    if values and conn.dialect.name == "postgresql":
        # One statement of constant text, whatever the number of values: the old and new
        # values travel as two array parameters and are joined with unnest().
        olds = bindparam("privacyops_old", values, type_=ARRAY(column.type))
        pairs = func.unnest(
            olds,
            bindparam("privacyops_new", [hmac_hex(key, value) for value in values],
                       type_=ARRAY(String())),
        ).table_valued("old", "new").render_derived(name="pairs")
        conn.execute(
            update(table)
            .where(reached, column == any_(olds), column == pairs.c.old)
            .values({column.name: pairs.c.new})
        )
        return
    for start in range(0, len(values), HASH_VALUES_PER_STATEMENT):
        chunk = values[start : start + HASH_VALUES_PER_STATEMENT]
        mapping = {value: hmac_hex(key, value) for value in chunk}
        conn.execute(
            update(table)
            .where(reached, column.in_(chunk))
            .values({column.name: case(mapping, value=column, else_=column)})
        )


def count_reached(conn: Connection, traversal: Traversal, entity: str) -> int:
    table = traversal.reflected.table(entity)
    statement = select(func.count()).select_from(table).where(traversal.condition(entity))
    return int(conn.execute(statement).scalar_one())


def detach_references(conn: Connection, traversal: Traversal, entity: str) -> int:
    """Clear non-owning pointers to the rows of ``entity`` about to be purged.

    ``people.manager_id`` of *other* people is a reference, not ownership: those people
    stay, their manager field becomes NULL. The pointed-at ids are wrapped in a derived
    table so MySQL accepts a subquery on the table being updated.
    """
    reflected = traversal.reflected
    graph = reflected.graph
    targets = (
        select(traversal.pk_select(entity).subquery("purged").c[0])
    )
    changed = 0
    for name, spec in traversal.datamap.entities.items():
        for reference in spec.references:
            if graph.resolve(reference.to) != entity:
                continue
            column = reflected.column(name, reference.via)
            conditions: list[ColumnElement[bool]] = [column.in_(targets)]
            tenant = traversal.tenant_filter(name)
            if tenant is not None:
                conditions.append(tenant)
            result = conn.execute(
                update(reflected.table(name)).where(*conditions).values({column.name: None})
            )
            changed += max(result.rowcount, 0)
    return changed


def delete_chunk(conn: Connection, traversal: Traversal, entity: str, chunk_size: int) -> int:
    """Delete up to ``chunk_size`` reached rows of one entity (lowest keys first)."""
    pk = traversal.reflected.pk(entity)
    chunk = (
        select(pk.label("pk"))
        .where(traversal.condition(entity))
        .order_by(pk)
        .limit(chunk_size)
        .subquery("chunk")
    )
    table = traversal.reflected.table(entity)
    result = conn.execute(delete(table).where(pk.in_(select(chunk.c.pk))))
    return max(result.rowcount, 0)
