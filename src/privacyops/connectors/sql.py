"""The SQL connector: export, erase and purge on SQLite, PostgreSQL and MySQL/MariaDB.

Everything is driven by the data map and SQLAlchemy Core; tables are reflected, never
imported. Each operation runs a fixed number of statements per entity (see
``sql_traversal``), so its cost grows with the data, not with round trips.

Relations mean ownership: PURGE deletes every row reached through them, children first.
A nullable pointer that is not ownership (``people.manager_id`` of other people) is declared
under ``references``; PURGE sets it to NULL on the rows that point at purged rows and
otherwise leaves those rows alone. ERASE is for one subject: it rewrites the declared
fields of the subject's row and of the rows it owns, in one transaction, and marks the
subject erased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    bindparam,
    case,
    cast,
    create_engine,
    event,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import DataError

from privacyops.connectors.base import (
    ConnectorError,
    EraseResult,
    ExportSection,
    PreconditionFailure,
    PreconditionsFailed,
    PurgeProgress,
    PurgeResult,
    TableChange,
    Target,
    TargetNotFound,
    canonical_identity,
)
from privacyops.connectors.sql_rectify import (
    FieldChange,
    RestrictionChange,
    check_changes,
    rectify_row,
    restrict_row,
)
from privacyops.connectors.sql_retention import (
    RetentionResult,
    RetentionRun,
    erase_rows,
    keep_purge_plan,
)
from privacyops.connectors.sql_traversal import (
    ReflectedMap,
    Traversal,
    coerce,
    json_ready,
    where_conditions,
)
from privacyops.connectors.sql_write import (
    count_reached,
    delete_chunk,
    detach_references,
    erase_entity,
    erase_plan,
)
from privacyops.datamap.schema import DataMap, SectionSpec

EXPORT_BATCH_ROWS = 500
MAX_BIGINT = 2**63 - 1  # the widest whole-number key SQLite, PostgreSQL and MySQL store
# Values JSON carries as they are; ``json_ready`` would hand them back unchanged.
_JSON_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _json_rows(result: Any, names: list[str]) -> Iterator[dict[str, Any]]:
    """Rows as JSON-ready dicts, batch by batch; only non-plain values go through json_ready."""
    plain = _JSON_PLAIN_TYPES
    for batch in result.partitions():
        for row in batch:
            yield {
                name: value if value.__class__ in plain else json_ready(value)
                for name, value in zip(names, row, strict=True)
            }


def _sqlite_engine(url: str) -> Engine:
    """SQLite with explicit BEGIN (IMMEDIATE for writes), so a check and its write are atomic."""
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        writing = conn.get_execution_options().get("privacyops_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


class SqlDatastore:
    """One SQL datastore described by a data map.

    ``hash_key`` keys the HMAC of ``hash`` erase actions; pass the tenant's key so that
    destroying it unlinks every hash the tenant left behind.
    """

    def __init__(self, datamap: DataMap, url: str, *, hash_key: bytes) -> None:
        self.datamap = datamap
        self.hash_key = hash_key
        self.engine = _sqlite_engine(url) if url.startswith("sqlite") else create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reflected: ReflectedMap | None = None
        # Built once: the identity-value counts of verification per entity
        # (`_identity_counts`), and what each export section selects (`_section_shape`).
        self._section_shapes: dict[str, tuple[list[str], list[Any], Any, list[Any]]] = {}
        self._identity_columns_of: dict[tuple[str, bool], list[tuple[str, Any]]] = {}

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> SqlDatastore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def reflected(self) -> ReflectedMap:
        """The data map bound to the reflected tables; raises DataMapError on a mismatch."""
        if self._reflected is None:
            self._reflected = ReflectedMap(self.datamap, self.engine)
        return self._reflected

    def traversal(self, target: Target) -> Traversal:
        return Traversal(self.reflected, target)

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(privacyops_write=write)
            if self.is_sqlite and write:
                conn.connection.driver_connection.execute("PRAGMA secure_delete=ON")  # type: ignore[union-attr]
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    conn.rollback()
                if self.is_sqlite and write:
                    # Old page images would otherwise survive in the WAL file.
                    conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]

    # ---- reads -----------------------------------------------------------------------------

    def exists(self, target: Target) -> bool:
        traversal = self.traversal(target)
        if traversal.start is not None and target.scope != "tenant" and self.key_text(
                target.scope, target.id) is None:
            return False
        with self._connect() as conn:
            if traversal.start is not None:
                return conn.execute(traversal.exists_statement(traversal.start)).first() is not None
            return any(
                conn.execute(traversal.exists_statement(entity)).first() is not None
                for entity in traversal.entities
            )

    def key_text(self, scope: str, raw_id: str) -> str | None:
        """The canonical text of an id of ``scope`` without asking the database: the value
        converted to the primary key's type and back (``" 027"``, ``"+27"``, ``"٢٧"`` → ``"27"``
        on a whole-number key). None when no row could ever have this id."""
        entity = self.reflected.graph.resolve(scope)
        if entity is None:
            return None
        pk = self.reflected.pk(entity)
        text = str(raw_id).strip()
        try:
            value = coerce(pk, text)
        except TargetNotFound:
            return None
        if isinstance(value, int) and not -MAX_BIGINT <= value <= MAX_BIGINT:
            return None
        return str(json_ready(value))

    def canonical_id(self, target: Target) -> str | None:
        """The target's primary key as the datastore stores it, or None when no row of the
        target's scope (in its tenant) has this id. One person is then one id everywhere."""
        traversal = self.traversal(target)
        start = traversal.start
        if start is None or self.key_text(target.scope, target.id) is None:
            return None
        pk = self.reflected.pk(start)
        statement = select(pk).where(traversal.condition(start)).limit(1)
        with self._connect() as conn:
            try:
                row = conn.execute(statement).first()
            except DataError:  # a value the column type refuses (an invalid UUID, …)
                return None
        return None if row is None else str(json_ready(row[0]))

    def subject_keys(self, target: Target) -> list[str]:
        """The canonical ids of every data subject the target reaches (itself, for a subject):
        whose export packages an ERASE or PURGE of the target must delete."""
        traversal = self.traversal(target)
        entity = self.datamap.subject.entity
        if entity not in traversal.entities:
            return []
        if self.key_text(target.scope, target.id) is None and target.scope != "tenant":
            return []
        with self._connect() as conn:
            return [str(json_ready(value)) for (value,) in
                    conn.execute(traversal.pk_select(entity).order_by(self.reflected.pk(entity)))]

    def reaches(self, target: Target, scope: str, scope_id: str) -> bool:
        """Whether ``scope``/``scope_id`` is among what the target reaches (legal-hold coverage)."""
        traversal = self.traversal(target)
        if scope == "tenant":
            return traversal.tenant_key is not None and str(traversal.tenant_key) == str(scope_id)
        entity = self.reflected.graph.resolve(scope)
        if entity is None or entity not in traversal.entities:
            return False
        if self.key_text(scope, scope_id) is None or (
                target.scope != "tenant" and self.key_text(target.scope, target.id) is None):
            return False  # an id no row can have is reached by nothing
        pk = self.reflected.pk(entity)
        statement = traversal.exists_statement(entity).where(pk == coerce(pk, scope_id))
        with self._connect() as conn:
            return conn.execute(statement).first() is not None

    def shares_rows(self, target: Target, other: Target) -> bool:
        """Whether the two targets' traversals reach a common row.

        Neither scope need reach the other for their data to overlap: an activity row whose
        actor is one person and whose subject is another belongs to both.
        """
        if other.scope == "tenant" or other.scope not in self.datamap.scope_entities():
            return False
        if self.key_text(other.scope, other.id) is None or (
                target.scope != "tenant" and self.key_text(target.scope, target.id) is None):
            return False
        mine, theirs = self.traversal(target), self.traversal(other)
        with self._connect() as conn:
            return any(
                conn.execute(mine.exists_statement(entity).where(theirs.condition(entity))).first()
                is not None
                for entity in mine.entities if entity in theirs.entities
            )

    def check_preconditions(self, target: Target) -> list[PreconditionFailure]:
        traversal = self.traversal(target)
        with self._connect() as conn:
            return self._preconditions(conn, traversal)

    def _preconditions(self, conn: Connection, traversal: Traversal) -> list[PreconditionFailure]:
        failures = []
        for condition in self.datamap.preconditions:
            if condition.entity not in traversal.entities:
                continue
            table = self.reflected.table(condition.entity)
            statement = select(func.count()).select_from(table).where(
                traversal.condition(condition.entity),
                *where_conditions(self.reflected, condition.entity, condition.where),
            )
            count = int(conn.execute(statement).scalar_one())
            if count:
                message = condition.message.replace("{count}", str(count))
                failures.append(PreconditionFailure(condition.name, count, message))
        return failures

    def _section_statement(self, traversal: Traversal, section: SectionSpec) -> tuple[list[str], Any]:
        names, columns, joined, order = self._section_shape(section)
        statement = (select(*columns).select_from(joined)
                     .where(traversal.condition(section.entity)).order_by(*order))
        if section.limit:
            statement = statement.limit(section.limit)
        return list(names), statement

    def _section_shape(self, section: SectionSpec) -> tuple[list[str], list[Any], Any, list[Any]]:
        """What an export section selects, from which joined tables, in which order: the same
        for every target, so built once per section (an export of a few rows was mostly the
        building of these; a job by identity pays it on every system)."""
        cached = self._section_shapes.get(section.name)
        if cached is not None:
            return cached
        entity = section.entity
        table = self.reflected.table(entity)
        spec = self.datamap.entities[entity]
        selected: dict[str, ColumnElement[Any]] = {}
        joined: Any = table
        for index, lookup in enumerate(section.lookups):
            parent = self.reflected.table(lookup.entity).alias(f"lookup_{index}")
            parent_pk = parent.c[self.datamap.entities[lookup.entity].primary_key]
            on = [parent_pk == table.c[lookup.via]]
            own_tenant = self.reflected.tenant_column(entity)
            parent_tenant = self.datamap.tenant_column_of(lookup.entity)
            if own_tenant is not None and parent_tenant is not None:
                on.append(parent.c[parent_tenant] == own_tenant)
            joined = joined.outerjoin(parent, and_(*on))
            for alias, column in lookup.columns.items():
                selected[alias] = parent.c[column].label(alias)
        names = section.fields or [
            *(name for name, field in spec.fields.items() if field.export), *selected]
        columns = [
            selected[name] if name in selected else table.c[name].label(name) for name in names
        ]
        pk = self.reflected.pk(entity)
        order: list[Any]
        if section.order_column:
            by = table.c[section.order_column]
            order = [(c.desc() if section.descending else c.asc()) for c in (by, pk)]
        else:
            order = [pk]
        shape = (list(names), columns, joined, order)
        self._section_shapes[section.name] = shape
        return shape

    def iter_export(self, target: Target) -> Iterator[ExportSection]:
        """Every export section in data-map order, rows streamed in batches (bounded memory)."""
        traversal = self.traversal(target)
        with self._connect() as conn:
            for section in self.datamap.sections:
                names, statement = self._section_statement(traversal, section)
                result = conn.execute(statement, execution_options={"yield_per": EXPORT_BATCH_ROWS})
                try:
                    yield ExportSection(section.name, names, _json_rows(result, names))
                finally:
                    result.close()

    def section_counts(self, target: Target) -> dict[str, int]:
        """Rows each export section will hold (after its limit)."""
        traversal = self.traversal(target)
        counts: dict[str, int] = {}
        with self._connect() as conn:
            for section in self.datamap.sections:
                _names, statement = self._section_statement(traversal, section)
                counted = select(func.count()).select_from(statement.subquery("section"))
                counts[section.name] = int(conn.execute(counted).scalar_one())
        return counts

    # ---- the people list -------------------------------------------------------------------

    def _subject_filter(self, tenant_key: str | None, search: str) -> list[ColumnElement[bool]]:
        subject = self.datamap.subject
        entity = subject.entity
        conditions: list[ColumnElement[bool]] = []
        tenant = self.reflected.tenant_column(entity)
        if tenant is not None:
            if tenant_key is None:
                raise ConnectorError("this datastore is shared by tenants; name the tenant")
            conditions.append(tenant == coerce(tenant, tenant_key))
        needle = search.strip().lower()
        if needle:
            escaped = _like_exactly(needle)
            shown = subject.display_fields
            searched = dict.fromkeys([*subject.identity_fields, *(
                column for role, column in shown.items() if role in ("name", "email", "employee_id")
            )])
            conditions.append(or_(*(
                func.lower(cast(self.reflected.column(entity, name), String)).like(
                    f"%{escaped}%", escape="\\")
                for name in searched)))
        return conditions

    def list_subjects(
        self,
        tenant_key: str | None,
        *,
        search: str = "",
        limit: int = 50,
        offset: int = 0,
        after_id: str | None = None,
        order_by: str = "",
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """The people list: ``id``, each display role, and ``erased``; ordered by id, or by the
        display role ``order_by`` (then id; empty values last ascending, first descending).

        Page with ``offset`` or, ordered by id, with ``after_id`` for deep pages (the last id of
        the previous page).
        """
        subject = self.datamap.subject
        entity = subject.entity
        pk = self.reflected.pk(entity)
        roles = {role: self.reflected.column(entity, c) for role, c in subject.display_fields.items()}
        erased: ColumnElement[bool] = literal(False)
        if subject.erased_marker is not None:
            marker = self.reflected.column(entity, subject.erased_marker.column)
            erased = marker.is_not(None)
        statement = select(pk.label("id"), *(c.label(role) for role, c in roles.items()),
                           erased.label("erased"))
        conditions = self._subject_filter(tenant_key, search)
        if after_id is not None:
            conditions.append(pk > coerce(pk, after_id))
        order: list[ColumnElement[Any]] = []
        sorted_by = {str(role): c for role, c in roles.items()}.get(order_by)
        if sorted_by is not None:  # text case-insensitively; NULLS LAST spelt for every engine
            column: ColumnElement[Any] = sorted_by
            empty = case((column.is_(None), 1), else_=0)
            if isinstance(column.type, String):
                column = func.lower(column)
            order += [empty.desc(), column.desc()] if descending else [empty, column]
        order.append(pk.desc() if descending else pk)
        statement = statement.where(*conditions).order_by(*order).limit(limit).offset(offset)
        with self._connect() as conn:
            return [
                {key: json_ready(value) for key, value in row._mapping.items()}
                | {"erased": bool(row.erased)}
                for row in conn.execute(statement)
            ]

    def count_subjects(self, tenant_key: str | None, *, search: str = "") -> int:
        table = self.reflected.table(self.datamap.subject.entity)
        statement = select(func.count()).select_from(table).where(
            *self._subject_filter(tenant_key, search))
        with self._connect() as conn:
            return int(conn.execute(statement).scalar_one())

    def find_subject_ids(self, tenant_key: str | None, identity: str) -> list[str]:
        """Subjects whose identity field equals ``identity`` (case-insensitive), e.g. an email."""
        entity = self.datamap.subject.entity
        pk = self.reflected.pk(entity)
        conditions = self._subject_filter(tenant_key, "")
        matches = or_(*(
            func.lower(cast(self.reflected.column(entity, name), String)) == identity.lower()
            for name in self.datamap.subject.identity_fields))
        with self._connect() as conn:
            rows = conn.execute(select(pk).where(*conditions, matches).order_by(pk))
            return [str(value) for (value,) in rows]

    def _identity_columns(self, name: str) -> list[str]:
        """The subject columns an identity field names: an identity field itself, or the
        column a display role of that name shows (``email`` → ``work_email``)."""
        subject = self.datamap.subject
        if name in subject.identity_fields:
            return [name]
        column = subject.display_fields.get(name)  # type: ignore[call-overload]
        return [column] if column in subject.identity_fields else []

    def resolve_identity(self, identity: Mapping[str, str],
                         tenant_key: str | None) -> list[str]:
        """The canonical primary keys of the subjects whose identity fields match (emails
        case-insensitively, values compared in their canonical form): [] is "no data here"."""
        wanted = canonical_identity(identity)
        entity = self.datamap.subject.entity
        pk = self.reflected.pk(entity)
        matches: list[ColumnElement[bool]] = []
        for name, value in wanted.items():
            for column_name in self._identity_columns(name):
                raw = self.reflected.column(entity, column_name)
                column = raw if isinstance(raw.type, String) else cast(raw, String)
                if not ("email" in name or "email" in column_name):
                    matches.append(func.trim(column) == value)
                elif self.is_sqlite:
                    # SQLite's LIKE ignores the case of ASCII letters only, exactly like its
                    # lower(): the same matches, without a lowered copy of every value; and an
                    # index on the column finds the few values that can match at all.
                    folded = value.casefold()
                    like = func.trim(column).like(_like_exactly(folded), escape="\\")
                    seek = _first_character_ranges(raw, folded) if raw is column else None
                    matches.append(like if seek is None else and_(seek, like))
                else:
                    matches.append(func.lower(func.trim(column)) == value.casefold())
        if not matches:
            return []
        conditions = self._subject_filter(tenant_key, "")
        with self._connect() as conn:
            # Sorted here, not by the database: ORDER BY the key would make SQLite walk the
            # table in key order instead of seeking the identity column's index.
            found = sorted((value for (value,) in conn.execute(
                select(pk).where(*conditions, or_(*matches)))), key=_key_order)
            return [str(json_ready(value)) for value in found]

    def verify_erased(self, target: Target, identity: Mapping[str, str]) -> list[str]:
        """After an ERASE: one sentence per column where a reached row still needs erasing
        (its field does not hold its erased value) or still holds one of the identity values."""
        traversal = self.traversal(target)
        values = sorted({value.casefold() for value in canonical_identity(identity).values()})
        problems: list[str] = []
        with self._connect() as conn:
            for entity in traversal.entities:  # one statement per table
                table = self.reflected.table(entity)
                checks: list[tuple[str, Any]] = [
                    (f"{table.name}.{item.column.name}: {{n}} row(s) do not hold the erased "
                     "value", func.sum(case((item.needs_change, 1), else_=0)))
                    for item in erase_plan(traversal, entity)]
                if values:
                    checks += self._identity_counts(entity, values)
                if not checks:
                    continue
                counts = conn.execute(
                    select(*(count for _, count in checks)).select_from(table)
                    .where(traversal.condition(entity)),
                    {IDENTITY_VALUES: values} if values else {}).one()
                found: list[Any] = list(counts)
                problems += [sentence.format(n=int(n)) for (sentence, _), n
                             in zip(checks, found, strict=True) if n]
        return problems

    def _identity_counts(self, entity: str, values: list[str]) -> list[tuple[str, Any]]:
        """For each column of `entity` that can hold one of these identity values (see
        `_may_hold`): its sentence, and the count of rows whose text, lower-cased and trimmed,
        is one of them (the values are the statement's `identity_values` parameter). Built
        once per entity: the same expressions serve every ERASE."""
        numeric = any(_may_hold_as_number(value) for value in values)
        key = (entity, numeric)
        if key not in self._identity_columns_of:
            table = self.reflected.table(entity)
            wanted: Any = bindparam(IDENTITY_VALUES, expanding=True)
            self._identity_columns_of[key] = [
                (f"{table.name}.{name}: {{n}} row(s) still hold one of the subject's identity "
                 "values",
                 func.sum(case((func.lower(func.trim(cast(column, String))).in_(wanted), 1),
                               else_=0)))
                for name in self.datamap.entities[entity].fields
                if _may_hold(column := self.reflected.column(entity, name), numeric)]
        return self._identity_columns_of[key]

    def describe_subjects(self, tenant_key: str | None, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Display fields and the erased flag of these subjects, in one query: who a job is
        about, shown by name instead of a row id. Ids that are not subjects are left out."""
        subject = self.datamap.subject
        entity = subject.entity
        pk = self.reflected.pk(entity)
        wanted = []
        for raw in dict.fromkeys(ids):
            try:
                wanted.append(coerce(pk, raw))
            except (TypeError, ValueError):
                continue
        if not wanted:
            return {}
        roles = {role: self.reflected.column(entity, c) for role, c in subject.display_fields.items()}
        erased: ColumnElement[bool] = literal(False)
        if subject.erased_marker is not None:
            erased = self.reflected.column(entity, subject.erased_marker.column).is_not(None)
        statement = select(pk.label("id"), *(c.label(role) for role, c in roles.items()),
                           erased.label("erased")).where(
            *self._subject_filter(tenant_key, ""), pk.in_(wanted[:500]))
        with self._connect() as conn:
            return {
                str(row.id): {key: json_ready(value) for key, value in row._mapping.items()}
                | {"erased": bool(row.erased)}
                for row in conn.execute(statement)
            }

    # ---- writes ----------------------------------------------------------------------------

    def erase(
        self,
        target: Target,
        *,
        dry_run: bool = False,
        before_commit: Callable[[], None] | None = None,
        at: datetime | None = None,
        check_preconditions: bool = True,
    ) -> EraseResult:
        """Pseudonymise one subject in one transaction; see the module docstring.

        Raises TargetNotFound, or PreconditionsFailed (checked inside the same transaction).
        A dry run counts the same rows and columns and writes nothing. If ``before_commit``
        raises, everything is rolled back. ``at`` is the moment written into ``now`` markers
        (default: now); a ledger replay passes the original one and skips the preconditions,
        which were met when the erasure was decided.
        """
        if target.scope != "subject":
            raise ConnectorError("ERASE applies to one data subject; to remove everything a "
                                 f"{target.scope} holds, run a PURGE")
        traversal = self.traversal(target)
        graph = self.reflected.graph
        start = traversal.start
        assert start is not None  # noqa: S101 - the subject scope always has an entity
        with self._connect(write=True) as conn, conn.begin() as transaction:
            lock = select(literal(1)).select_from(self.reflected.table(start)).where(
                traversal.condition(start))
            if not self.is_sqlite:
                lock = lock.with_for_update()
            if conn.execute(lock).first() is None:
                raise TargetNotFound(f"subject {target.id} does not exist in tenant "
                                     f"{target.tenant_key} of datastore {self.datamap.name}")
            failures = self._preconditions(conn, traversal) if check_preconditions else []
            if failures:
                raise PreconditionsFailed(failures)
            changes: list[TableChange] = []
            for entity in graph.delete_order(traversal.entities):
                change = erase_entity(conn, traversal, entity, hash_key=self.hash_key,
                                      dry_run=dry_run, at=at)
                if change is not None:
                    changes.append(change)
            if dry_run:
                transaction.rollback()
            else:
                if before_commit is not None:
                    before_commit()
                transaction.commit()
        return EraseResult(tables=tuple(changes), dry_run=dry_run)

    def rectify_check(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """RECTIFY's changes converted to the live columns' types (InvalidChange otherwise)."""
        return check_changes(self.reflected, changes)

    def rectify(self, target: Target, changes: Mapping[str, Any]) -> list[FieldChange]:
        """Set fields of one subject's row in one transaction; see ``sql_rectify``. Raises
        InvalidChange, TargetNotFound or SubjectErased, with nothing written."""
        values = self.rectify_check(changes)
        traversal = self._subject_traversal(target, "RECTIFY")
        with self._connect(write=True) as conn, conn.begin():
            return rectify_row(conn, traversal, values, is_sqlite=self.is_sqlite)

    def restrict(self, target: Target, *, lift: bool = False,
                 at: datetime | None = None) -> RestrictionChange:
        """Set (or, ``lift``, clear) one subject's restriction marker in one transaction."""
        traversal = self._subject_traversal(target, "RESTRICT")
        with self._connect(write=True) as conn, conn.begin():
            return restrict_row(conn, traversal, lift=lift, at=at, is_sqlite=self.is_sqlite)

    def _subject_traversal(self, target: Target, verb: str) -> Traversal:
        if target.scope != "subject":
            raise ConnectorError(f"{verb} applies to one data subject, not to a {target.scope}")
        if self.key_text(target.scope, target.id) is None:
            raise TargetNotFound(f"no subject can have the id of this {verb}")
        return self.traversal(target)

    def vacuum(self, tables: Iterable[str], *, full: bool = False) -> list[str]:
        """PostgreSQL: VACUUM the named tables of this map at once instead of waiting for
        autovacuum: the dead row versions an ERASE or PURGE left are pruned and their space made
        reusable (bytes of a pruned version can linger in a page's free space until it is
        reused). ``full`` rewrites each table into new files (VACUUM FULL, which holds an
        exclusive lock on the table meanwhile), so no old bytes stay in its files. Runs outside
        any transaction; other databases: nothing. Returns the tables vacuumed."""
        if self.engine.dialect.name != "postgresql":
            return []
        known = {table.name: table for table in self.reflected.tables.values()}
        chosen = [known[name] for name in dict.fromkeys(tables) if name in known]
        if not chosen:
            return []
        preparer = self.engine.dialect.identifier_preparer
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in chosen:
                verb = "VACUUM FULL" if full else "VACUUM"
                conn.exec_driver_sql(f"{verb} {preparer.format_table(table)}")
        return [table.name for table in chosen]

    def _is_referenced(self, entity: str) -> bool:
        graph = self.reflected.graph
        return any(graph.resolve(reference.to) == entity
                   for spec in self.datamap.entities.values() for reference in spec.references)

    def purge(
        self,
        target: Target,
        *,
        chunk_size: int = 1000,
        before_chunk_commit: Callable[[], None] | None = None,
        on_progress: Callable[[PurgeProgress], None] | None = None,
        dry_run: bool = False,
        chunk_guard: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> PurgeResult:
        """Delete every row the target owns, children first, one transaction per chunk.

        ``before_chunk_commit`` runs inside each chunk's transaction just before COMMIT (the
        place to re-check legal holds); if it raises, that chunk is rolled back, earlier ones
        stay, and running the purge again finishes the job. ``chunk_guard`` returns a context
        entered before each destructive transaction begins and left after it commits: the
        control plane holds its per-tenant hold lock across the commit with it.
        """
        guard = chunk_guard or nullcontext
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        reached = self.traversal(target)
        order = self.reflected.graph.delete_order(reached.entities)
        # Statutory keep rules: kept rows (and the rows owning them) are anonymised, not deleted.
        keep_plan = keep_purge_plan(reached, datetime.now(UTC))
        traversal = reached if keep_plan is None else keep_plan[0]
        deleted: dict[str, int] = {}
        anonymised: dict[str, int] = {}
        with self._connect(write=not dry_run) as conn:
            if keep_plan is not None:
                kept = keep_plan[1]
                for entity in kept.entities:
                    with guard(), conn.begin():
                        rows = erase_rows(conn, kept, entity, hash_key=self.hash_key,
                                          dry_run=dry_run)
                        if rows and not dry_run and before_chunk_commit is not None:
                            before_chunk_commit()
                    if rows:
                        anonymised[self.reflected.table(entity).name] = rows
            if dry_run:
                for entity in order:
                    with conn.begin():
                        deleted[self.reflected.table(entity).name] = count_reached(
                            conn, traversal, entity)
                return PurgeResult(deleted=deleted, dry_run=True, anonymised=anonymised)
            total = 0
            for entity in order:
                table_name = self.reflected.table(entity).name
                with conn.begin():
                    table_total = count_reached(conn, traversal, entity)
                done = 0
                if table_total and self._is_referenced(entity):
                    with guard(), conn.begin():
                        detach_references(conn, traversal, entity)
                        if before_chunk_commit is not None:
                            before_chunk_commit()
                while table_total:
                    with guard(), conn.begin():
                        removed = delete_chunk(conn, traversal, entity, chunk_size)
                        if removed and before_chunk_commit is not None:
                            before_chunk_commit()
                    done += removed
                    total += removed
                    if removed and on_progress is not None:
                        on_progress(PurgeProgress(table_name, done, max(table_total, done), total))
                    if removed < chunk_size:
                        break
                deleted[table_name] = deleted.get(table_name, 0) + done
        return PurgeResult(deleted=deleted, dry_run=False, anonymised=anonymised)

    # ---- retention -------------------------------------------------------------------------

    def retention(
        self,
        entity: str,
        *,
        tenant_key: str | None,
        now: datetime,
        held_now: Callable[[], list[Target]],
        dry_run: bool = False,
        chunk_size: int = 1000,
        chunk_guard: Callable[[], AbstractContextManager[None]] | None = None,
        on_progress: Callable[[PurgeProgress], None] | None = None,
    ) -> RetentionResult:
        """Apply the entity's retention rule as of ``now`` (see ``sql_retention``)."""
        run = RetentionRun(self.reflected, entity, tenant_key=tenant_key, now=now,
                           held_now=held_now)

        def connect(write: bool) -> AbstractContextManager[Connection]:
            return self._connect(write=write)

        return run.run(connect, hash_key=self.hash_key, dry_run=dry_run, chunk_size=chunk_size,
                       chunk_guard=chunk_guard, on_progress=on_progress)


IDENTITY_VALUES = "privacyops_identity_values"
_NOT_TEXT = (sqltypes.Integer, sqltypes.Numeric, sqltypes.Boolean, sqltypes.Date,
             sqltypes.DateTime, sqltypes.Time, sqltypes.Interval)


def _like_exactly(value: str) -> str:
    """A LIKE pattern that matches `value` itself (its wildcards escaped with a backslash)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _key_order(value: Any) -> tuple[bool, Any]:
    """Primary keys in the database's order: numbers by value before text, text by code
    point (SQLite's binary collation)."""
    number = isinstance(value, int | float)
    return (not number, value if number else str(value))


def _first_character_ranges(column: Any, folded: str) -> ColumnElement[bool] | None:
    """On SQLite, a condition that every value matching `folded` (ASCII case aside, spaces
    around it trimmed) meets and that an index on the column can seek: the value starts with
    the first character in either case, or with a space (or anything sorting before "!").
    Text compares by its UTF-8 bytes, in code point order, so all values starting with `c`
    lie in [c, next code point). None when there is no first character to seek by."""
    first = folded[:1]
    if not first or ord(first) >= 0x10FFFF:
        return None
    variants = sorted({first, first.upper()}) if first.isascii() else [first]
    return or_(column < "!", *(and_(column >= variant, column < chr(ord(variant) + 1))
                                for variant in variants))


def _may_hold_as_number(value: str) -> bool:
    """Whether an identity value could be stored as a number, a date or a flag."""
    return not any(ch.isalpha() or ch == "@" for ch in value)


def _may_hold(column: Any, numeric: bool) -> bool:
    """Whether a column can hold an identity value: text always; a number, a date or a flag
    only when some value could be written as one (`numeric`). An email is never looked for
    in a count or a timestamp, which keeps verification cheap."""
    return numeric or not isinstance(column.type, _NOT_TEXT)
