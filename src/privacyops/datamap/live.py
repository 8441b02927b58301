"""The live check: a data map compared with the database it describes, and the drift between them.

A data map that names a column the database does not have is only found out when a job fails,
perhaps halfway through an erasure. :func:`live_check` connects read-only (the session is put in
read-only mode before anything else runs), reflects the schema with SQLAlchemy's inspector and
reports, each with its data-map path and the database object:

- **problems** (the map cannot work): a missing table or column, an erase action the column's
  type cannot hold (``set: "text"`` on an integer, a pseudonym longer than the column, ``null``
  on a NOT NULL column), a primary key that is not one;
- **warnings** (it works, slowly or riskily): a relation, reference or tenant column without an
  index, with the ``CREATE INDEX`` to run;
- **unmapped** (drift): columns of mapped tables the map does not mention, and tables that point
  at a mapped table but are not in the map, each with a guess whether it holds personal data,
  from its name and from a sample of at most 1,000 values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, column, create_engine, event, inspect, select, table, types
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause

from privacyops.datamap.personal import SAMPLE_SIZE, name_suggests, values_suggest
from privacyops.datamap.schema import DataMap, EntitySpec, EraseAction

HMAC_HEX_LENGTH = 64
# Characters a pseudonym template should leave free for the id it is filled with.
PSEUDONYM_ID_ROOM = 10


@dataclass(frozen=True)
class LiveProblem:
    """One finding: where in the data map, which database object, what is wrong and the fix."""

    path: str
    database_object: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.message} (database: {self.database_object})"


@dataclass(frozen=True)
class UnmappedObject:
    """A column (or, with ``column=None``, a table) the map does not mention.

    ``personal`` is a guess; ``evidence`` says what it rests on, so a person can judge it.
    """

    table: str
    column: str | None
    reason: str
    personal: bool
    evidence: tuple[str, ...] = ()

    @property
    def database_object(self) -> str:
        return self.table if self.column is None else f"{self.table}.{self.column}"

    def line(self) -> str:
        guess = "looks personal" if self.personal else "does not look personal"
        why = f": {'; '.join(self.evidence)}" if self.evidence else ""
        return f"{self.database_object}: {self.reason}; {guess}{why}"


@dataclass(frozen=True)
class LiveReport:
    """What :func:`live_check` found. ``ok`` ignores warnings and drift; ``strict_ok`` does not
    ignore personal-looking drift (``datamap check --strict``)."""

    problems: tuple[LiveProblem, ...] = ()
    warnings: tuple[LiveProblem, ...] = ()
    unmapped: tuple[UnmappedObject, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def personal_unmapped(self) -> tuple[UnmappedObject, ...]:
        return tuple(u for u in self.unmapped if u.personal)

    @property
    def drifted(self) -> bool:
        return bool(self.unmapped)

    @property
    def strict_ok(self) -> bool:
        return self.ok and not self.personal_unmapped

    def drift_keys(self) -> tuple[str, ...]:
        """The unmapped objects' names, sorted: compare two reports to tell new drift from old."""
        return tuple(sorted(u.database_object for u in self.unmapped))

    def summary(self) -> str:
        """One line for a person: ``1 problem, 2 warnings, 3 unmapped (2 look personal)``."""
        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        return (f"{count(len(self.problems), 'problem')}, {count(len(self.warnings), 'warning')}"
                f", {len(self.unmapped)} unmapped ({len(self.personal_unmapped)} look personal)")


def read_only_engine(url: str) -> Engine:
    """An engine whose every connection refuses writes (SQLite, PostgreSQL, MySQL/MariaDB)."""
    engine = create_engine(url)
    dialect = engine.dialect.name

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        statement = {
            "sqlite": "PRAGMA query_only = ON",
            "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "mysql": "SET SESSION TRANSACTION READ ONLY",
            "mariadb": "SET SESSION TRANSACTION READ ONLY",
        }.get(dialect)
        if statement:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            # PostgreSQL undoes a SET made in a transaction that is rolled back: commit it.
            dbapi_connection.commit()

    return engine


def _type_kind(sql_type: Any) -> str:
    """``text``, ``integer``, ``number``, ``boolean``, ``date``, ``datetime`` or ``other``."""
    if isinstance(sql_type, types.Boolean):
        return "boolean"
    if isinstance(sql_type, types.Integer):
        return "integer"
    if isinstance(sql_type, types.Numeric | types.Float):
        return "number"
    if isinstance(sql_type, types.DateTime):
        return "datetime"
    if isinstance(sql_type, types.Date):
        return "date"
    if isinstance(sql_type, types.String | types.Enum | types.JSON):
        return "text"
    return "other"


def _length(sql_type: Any) -> int | None:
    length = getattr(sql_type, "length", None)
    return length if isinstance(length, int) else None


def _erase_type_issue(action: EraseAction, info: dict[str, Any]) -> str | None:
    """Why this column cannot hold what ERASE writes into it, or None."""
    kind = _type_kind(info["type"])
    length = _length(info["type"])
    declared = str(info["type"])
    if action.kind == "null" or (action.kind == "set" and action.value is None):
        if not info.get("nullable", True):
            return ("ERASE writes NULL but the column is NOT NULL; use {set: <value>} "
                    "(such as {set: \"\"}) or make the column nullable")
        return None
    if action.kind == "set":
        value = action.value
        if isinstance(value, bool):
            ok = kind in ("boolean", "integer", "text", "other")
        elif isinstance(value, int | float):
            ok = kind in ("integer", "number", "text", "other", "boolean") and not (
                kind == "integer" and isinstance(value, float))
        else:
            text = str(value)
            if kind in ("integer", "number"):
                ok = _numeric(text) and (kind == "number" or text.lstrip("-").isdigit())
            elif kind == "boolean":
                ok = text.lower() in ("true", "false", "0", "1")
            elif kind in ("date", "datetime"):
                ok = bool(re.match(r"^\d{4}-\d{2}-\d{2}", text))
            else:
                ok = True
            if ok and kind == "text" and length is not None and len(text) > length:
                return (f"ERASE writes {text!r} ({len(text)} characters) into a column of "
                        f"{length}; shorten the value")
        if not ok:
            return (f"ERASE writes {value!r} into a column of type {declared}; "
                    "use a value of the column's type, or null")
        return None
    if action.kind in ("pseudonym", "hash"):
        if kind != "text":
            what = "a pseudonym (text)" if action.kind == "pseudonym" else "a 64-character HMAC"
            return (f"ERASE writes {what} into a column of type {declared}; use null or "
                    "{set: <value>} of the column's type")
        if length is None:
            return None
        if action.kind == "hash":
            if length < HMAC_HEX_LENGTH:
                return (f"`hash` writes {HMAC_HEX_LENGTH} characters into a column of {length}; "
                        "use null, a pseudonym or widen the column")
            return None
        fixed = len(action.pseudonym_for("", ""))
        if fixed > length:
            return (f"the pseudonym is at least {fixed} characters, the column holds {length}; "
                    "shorten the template")
    return None


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _indexed(inspector: Inspector, table_name: str, column_name: str, pk: list[str]) -> bool:
    if pk[:1] == [column_name]:
        return True
    for index in inspector.get_indexes(table_name):
        if list(index.get("column_names") or [])[:1] == [column_name]:
            return True
    for unique in inspector.get_unique_constraints(table_name):
        if list(unique.get("column_names") or [])[:1] == [column_name]:
            return True
    return False


def singular_forms(name: str) -> set[str]:
    """A table name and its singular (``people`` → ``person``), to recognise ``<name>_id``."""
    forms = {name}
    irregular = {"people": "person", "children": "child", "staff": "staff"}
    if name in irregular:
        forms.add(irregular[name])
    elif name.endswith("ies"):
        forms.add(name[:-3] + "y")
    elif name.endswith(("ses", "xes", "ches", "shes")):
        forms.add(name[:-2])
    elif name.endswith("s"):
        forms.add(name[:-1])
    return forms


class _Checker:
    def __init__(self, datamap: DataMap, engine: Engine, inspector: Inspector) -> None:
        self.datamap = datamap
        self.engine = engine
        self.inspector = inspector
        self.problems: list[LiveProblem] = []
        self.warnings: list[LiveProblem] = []
        self.unmapped: list[UnmappedObject] = []
        self.tables = set(inspector.get_table_names())
        self._columns: dict[str, dict[str, dict[str, Any]]] = {}

    def columns(self, table_name: str) -> dict[str, dict[str, Any]]:
        if table_name not in self._columns:
            self._columns[table_name] = {
                str(c["name"]): dict(c) for c in self.inspector.get_columns(table_name)}
        return self._columns[table_name]

    def problem(self, path: str, obj: str, message: str) -> None:
        self.problems.append(LiveProblem(path, obj, message))

    def warning(self, path: str, obj: str, message: str) -> None:
        self.warnings.append(LiveProblem(path, obj, message))

    def column_exists(self, path: str, spec: EntitySpec, column_name: str) -> bool:
        columns = self.columns(spec.table)
        if column_name in columns:
            return True
        close = [c for c in columns if _similar(c, column_name)]
        hint = f"did you mean {close[0]!r}? " if close else ""
        self.problem(path, f"{spec.table}.{column_name}",
                     f"table {spec.table!r} has no column {column_name!r}; {hint}"
                     f"its columns are: {', '.join(columns)}")
        return False

    def need_index(self, path: str, spec: EntitySpec, column_name: str, why: str) -> None:
        pk = list(self.inspector.get_pk_constraint(spec.table).get("constrained_columns") or [])
        if not _indexed(self.inspector, spec.table, column_name, pk):
            self.warning(path, f"{spec.table}.{column_name}",
                         f"no index starts with {column_name!r}, so {why} scans the table; run "
                         f"CREATE INDEX ix_{spec.table}_{column_name} ON {spec.table} "
                         f"({column_name});")

    def check_entity(self, name: str, spec: EntitySpec) -> None:
        base = f"entities.{name}"
        if spec.table not in self.tables:
            close = [t for t in self.tables if _similar(t, spec.table)]
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.problem(f"{base}.table", spec.table,
                         f"the database has no table {spec.table!r}; {hint}check the name")
            return
        columns = self.columns(spec.table)
        if self.column_exists(f"{base}.primary_key", spec, spec.primary_key):
            pk = list(self.inspector.get_pk_constraint(spec.table).get("constrained_columns")
                      or [])
            uniques = [list(u.get("column_names") or [])
                       for u in self.inspector.get_unique_constraints(spec.table)]
            uniques += [[str(c) for c in i.get("column_names") or []]
                        for i in self.inspector.get_indexes(spec.table) if i.get("unique")]
            if pk != [spec.primary_key] and [spec.primary_key] not in uniques:
                found = f"its primary key is ({', '.join(pk)})" if pk else "it has no primary key"
                self.problem(f"{base}.primary_key", f"{spec.table}.{spec.primary_key}",
                             f"{spec.primary_key!r} does not identify a row of {spec.table!r} "
                             f"({found}); name a single-column primary or unique key")
        tenant_column = self.datamap.tenant_column_of(name)
        if tenant_column and tenant_column != spec.primary_key:
            path = f"{base}.tenant_column" if spec.declares_tenant_column else "tenant_column"
            if self.column_exists(path, spec, tenant_column):
                self.need_index(path, spec, tenant_column, "every query of a tenant")
        for i, relation in enumerate(spec.relations):
            for j, via in enumerate(relation.via):
                path = f"{base}.relations[{i}].via[{j}]"
                if self.column_exists(path, spec, via):
                    self.need_index(path, spec, via, "every traversal to this table")
        for i, reference in enumerate(spec.references):
            path = f"{base}.references[{i}].via"
            if self.column_exists(path, spec, reference.via):
                self.need_index(path, spec, reference.via, "clearing this pointer on PURGE")
        self.check_retention(name, spec)
        markers = self.marker_columns() if name == self.datamap.subject.entity else set()
        for column_name, field in spec.fields.items():
            path = f"{base}.fields.{column_name}"
            if column_name in markers:
                continue  # checked, with the marker's path, by check_subject
            if not self.column_exists(path, spec, column_name):
                continue
            info = columns[column_name]
            obj = f"{spec.table}.{column_name} ({info['type']})"
            issue = _erase_type_issue(field.erase, info)
            if issue:
                self.problem(f"{path}.erase", obj, issue)
            elif field.erase.kind == "pseudonym" and (length := _length(info["type"])):
                fixed = len(field.erase.pseudonym_for("", ""))
                if fixed + PSEUDONYM_ID_ROOM > length:
                    self.warning(f"{path}.erase", obj, f"the pseudonym leaves {length - fixed} "
                                 "characters for the subject's id (and tenant); a longer one "
                                 "will not fit the column")

    def check_retention(self, name: str, spec: EntitySpec) -> None:
        """The columns a retention or keep rule reads exist (``from`` is worth an index)."""
        base = f"entities.{name}"
        if spec.retention is not None:
            path = f"{base}.retention.from"
            if self.column_exists(path, spec, spec.retention.from_):
                self.need_index(path, spec, spec.retention.from_, "the daily retention run")
            for i, condition in enumerate(spec.retention.where):
                self.column_exists(f"{base}.retention.where[{i}].column", spec, condition.column)
        if spec.keep is not None:
            self.column_exists(f"{base}.keep.from", spec, spec.keep.from_)

    def marker_columns(self) -> set[str]:
        subject = self.datamap.subject
        return {m.column for m in subject.markers().values()}

    def check_subject(self) -> None:
        subject = self.datamap.subject
        spec = self.datamap.entities[subject.entity]
        if spec.table not in self.tables:
            return
        for key, marker in subject.markers().items():
            path = f"subject.{key}.column"
            if not self.column_exists(path, spec, marker.column):
                continue
            info = self.columns(spec.table)[marker.column]
            kind = _type_kind(info["type"])
            verb = "RESTRICT" if key == "restriction_marker" else "ERASE"
            if marker.value == "now" and kind not in ("datetime", "date", "text", "other"):
                self.problem(path, f"{spec.table}.{marker.column} ({info['type']})",
                             f"{verb} writes the current time here (value: now), but the column "
                             f"is {info['type']}; point the marker at a timestamp or text column, "
                             "or give a `value:` of the column's type")
            if key == "restriction_marker" and not info.get("nullable", True):
                self.problem(path, f"{spec.table}.{marker.column} ({info['type']})",
                             "lifting a restriction sets this column back to NULL, but it is "
                             "NOT NULL; make the column nullable")

    def drift(self, sample: bool) -> None:
        mapped_tables: dict[str, str] = {}
        for name, spec in self.datamap.entities.items():
            if spec.table not in self.tables:
                continue
            mapped_tables[spec.table] = name
            known = self.datamap.known_columns(name) | self.datamap.retention_columns(name)
            subject = self.datamap.subject
            if name == subject.entity:
                known |= {m.column for m in subject.markers().values()}
            for column_name, info in self.columns(spec.table).items():
                if column_name not in known:
                    self.unmapped.append(self.judge(
                        spec.table, column_name, info, "not in the data map", sample))
        pointer_names: dict[str, str] = {}
        for name, spec in self.datamap.entities.items():
            for form in singular_forms(name) | singular_forms(spec.table):
                pointer_names[f"{form}_id"] = spec.table
        for table_name in sorted(self.tables - set(mapped_tables)):
            reason = None
            for fk in self.inspector.get_foreign_keys(table_name):
                if fk.get("referred_table") in mapped_tables:
                    via = ", ".join(fk.get("constrained_columns") or [])
                    reason = f"references mapped table {fk['referred_table']!r} by {via}"
                    break
            if reason is None:
                for column_name in self.columns(table_name):
                    if column_name in pointer_names:
                        reason = (f"its column {column_name!r} looks like a pointer to mapped "
                                  f"table {pointer_names[column_name]!r}")
                        break
            if reason is None:
                continue
            evidence: list[str] = []
            for column_name, info in self.columns(table_name).items():
                judged = self.judge(table_name, column_name, info, "", sample)
                if judged.personal:
                    evidence.append(f"{column_name}: {judged.evidence[0]}")
            self.unmapped.append(UnmappedObject(
                table_name, None, f"table not in the data map; {reason}", bool(evidence),
                tuple(evidence)))

    def judge(self, table_name: str, column_name: str, info: dict[str, Any], reason: str,
              sample: bool) -> UnmappedObject:
        evidence: list[str] = []
        meaning = name_suggests(column_name)
        if meaning:
            evidence.append(f"its name suggests {meaning}")
        if sample and _type_kind(info["type"]) in ("text", "date", "other"):
            found = values_suggest(self.sample(table_name, column_name))
            if found:
                evidence.append(found)
        return UnmappedObject(table_name, column_name, reason, bool(evidence), tuple(evidence))

    def sample(self, table_name: str, column_name: str) -> Iterator[Any]:
        col: ColumnClause[Any] = column(column_name)
        query = (select(col).select_from(table(table_name, col))
                 .where(col.is_not(None)).limit(SAMPLE_SIZE))
        try:
            with self.engine.connect() as conn:
                yield from conn.execute(query).scalars().all()
        except SQLAlchemyError:
            return


def _similar(a: str, b: str) -> bool:
    """Names one typo apart (``billing_adress`` / ``billing_address``)."""
    a, b = a.lower(), b.lower()
    if a == b or abs(len(a) - len(b)) > 2:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 2


def live_check(datamap: DataMap, url: str, *, sample: bool = True) -> LiveReport:
    """Compare ``datamap`` with the live database at ``url`` (read-only) and report drift.

    ``sample=False`` judges unmapped columns by name only (no data is read).
    Raises :class:`sqlalchemy.exc.SQLAlchemyError` when the database cannot be reached.
    """
    engine = read_only_engine(url)
    try:
        inspector = inspect(engine)
        checker = _Checker(datamap, engine, inspector)
        for name, spec in datamap.entities.items():
            checker.check_entity(name, spec)
        checker.check_subject()
        checker.drift(sample)
    finally:
        engine.dispose()
    return LiveReport(tuple(checker.problems), tuple(checker.warnings), tuple(checker.unmapped))


__all__ = ["LiveProblem", "LiveReport", "UnmappedObject", "live_check"]
