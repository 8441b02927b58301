"""A first data map drafted from a live database, for an engineer to review and finish.

The draft reads tables, keys and foreign keys (and ``<table>_id`` columns without one), then
guesses:

- the **tenant column**: a column in most tables that points at a table without it (the tenants'
  table), or that has the same name everywhere (``clinic_id``, ``workspace_id``, ``org_id``);
- the **subject**: the table with an email-like column that the most other tables point at;
- the **erased marker** (``forgotten_at``, ``erased_at``, ``anonymised_at``, ``deleted_at``);
- the **restriction marker** (GDPR Art. 18): a column of the subject's table named like
  ``*restricted*`` (``processing_restricted_at``);
- each column's category and erase action, from its name and from a sample of its values: the
  most sensitive data is erased by default (free text ``null``, identifiers ``hash``), because a
  draft that keeps it leaves it behind after every erasure.

Every column it could not classify is marked ``# REVIEW``. The draft always loads with
:func:`load_datamap`; what it cannot guess it says in comments.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import column, inspect, select, table, types
from sqlalchemy.engine import Engine, Inspector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause

from privacyops.datamap.live import read_only_engine, singular_forms
from privacyops.datamap.loader import anchored_entities, parse_datamap
from privacyops.datamap.personal import SAMPLE_SIZE, values_suggest
from privacyops.datamap.schema import DataMap

TENANT_NAMES = ("tenant_id", "workspace_id", "organization_id", "organisation_id", "org_id",
                "account_id", "company_id", "shop_id", "team_id", "clinic_id", "store_id")
SUBJECT_NAMES = ("people", "person", "users", "user", "customers", "customer", "patients",
                 "patient", "employees", "employee", "members", "member", "contacts", "accounts")
MARKER_NAMES = ("forgotten_at", "erased_at", "anonymised_at", "anonymized_at", "deleted_at")
RESTRICTED = re.compile(r"restricted", re.IGNORECASE)
REVIEW = "__review__"


@dataclass(frozen=True)
class Rule:
    """A guess from a column name: category, erase action (``clear`` = null, or a neutral value
    when the column is NOT NULL), whether it is exported, whether a person should look again."""

    pattern: str
    category: str
    erase: Any
    export: bool = True
    review: bool = False


RULES: tuple[Rule, ...] = (
    Rule(r"e_?mail", "contact", {"pseudonym": "erased-{id}@erased.invalid"}),
    Rule(r"password|passwd|secret|token|api_key|(^|_)sso(_|$)", "credential", "clear",
         export=False),
    Rule(r"(^|_)iban($|_)|(^|_)bic($|_)|account_number", "financial", "hash"),
    Rule(r"insurance_number|passport|national_id|(^|_)ssn($|_)|tax_id", "identity", "hash"),
    Rule(r"(^|_)(employee_id|employee_number|staff_number|username|login)$", "identity",
         {"pseudonym": "erased-{id}"}),
    Rule(r"phone|mobile|(^|_)fax", "contact", "clear"),
    Rule(r"(^|_)ip($|_)|ip_address", "technical", "hash"),
    Rule(r"user_agent|device_id", "device", "hash"),
    Rule(r"birth|(^|_)dob($|_)", "identity", "clear"),
    Rule(r"address|street|line[12]$|post_?code|(^|_)zip|(^|_)city$", "contact", "clear"),
    Rule(r"(^|_)(first_|last_|full_|display_|given_|family_|sur|nick)?name$", "identity",
         {"set": "Erased"}),
    Rule(r"clinical|medical|diagnos|symptom|prescri|allerg|pharmac|health|treatment",
         "health", "clear"),
    Rule(r"note|(^|_)body$|message|comment|reason|description|justification", "free_text",
         "clear"),
    Rule(r"^(job_title|department|position)$|manager", "employment", "clear"),
    Rule(r"employment_status", "employment", {"set": ""}, review=True),
    Rule(r"(_at|_on|_date)$|^(created|updated|modified)", "technical", "keep"),
)


@dataclass
class _Schema:
    tables: dict[str, str]  # table → single-column primary key
    columns: dict[str, dict[str, dict[str, Any]]]
    pointers: dict[str, dict[str, str]] = field(default_factory=dict)  # table → column → target
    skipped: list[str] = field(default_factory=list)


def _read_schema(inspector: Inspector) -> _Schema:
    tables: dict[str, str] = {}
    skipped: list[str] = []
    for name in sorted(inspector.get_table_names()):
        pk = inspector.get_pk_constraint(name).get("constrained_columns") or []
        if len(pk) == 1:
            tables[name] = pk[0]
        else:
            skipped.append(name)
    columns = {t: {str(c["name"]): dict(c) for c in inspector.get_columns(t)} for t in tables}
    by_stem: dict[str, str] = {}
    for name in tables:
        for form in singular_forms(name):
            by_stem.setdefault(f"{form}_id", name)
    pointers: dict[str, dict[str, str]] = {t: {} for t in tables}
    for name in tables:
        for fk in inspector.get_foreign_keys(name):
            local = fk.get("constrained_columns") or []
            if len(local) == 1 and fk.get("referred_table") in tables:
                pointers[name][local[0]] = str(fk["referred_table"])
        for column_name in columns[name]:
            target = by_stem.get(column_name)
            if target and column_name not in pointers[name] and column_name != tables[name]:
                pointers[name][column_name] = target
    return _Schema(tables, columns, pointers, skipped)


def _guess_tenant(schema: _Schema) -> tuple[str | None, str | None]:
    """The tenant column and the tenants' table (which may not exist, or not be mapped).

    The tenant column is in (nearly) every table: all but the tenants' own. A pointer to the
    subject (``patient_id``) is in many tables too, but not in most of those that could hold it.
    """
    counts = Counter(c for cols in schema.columns.values() for c in cols)
    n = len(schema.tables)
    candidates = []
    for name, count in counts.items():
        if count < 2 or not name.endswith("_id") or name in schema.tables.values():
            continue
        targets = {schema.pointers[t][name] for t in schema.tables if name in schema.pointers[t]}
        root = next(iter(targets)) if len(targets) == 1 else None
        if targets and (root is None or name in schema.columns[root]):
            continue  # points at rows that carry it themselves: not the tenant
        if root and name not in TENANT_NAMES and any(
                re.search(r"e_?mail", c, re.IGNORECASE) for c in schema.columns[root]):
            continue  # points at people (customer_id in a single-shop database)
        coverage = count / (n - (1 if root else 0))
        if coverage > 0.5:
            candidates.append((round(coverage, 3), name in TENANT_NAMES, count, name, root))
    if not candidates:
        return None, None
    *_, name, root = max(candidates)
    return name, root


def _guess_subject(schema: _Schema, tenant_root: str | None, tenant_column: str | None) -> str:
    def has_email(t: str) -> bool:
        return any(re.search(r"e_?mail", c, re.IGNORECASE) for c in schema.columns[t])

    referenced = Counter(
        target for t, cols in schema.pointers.items() for c, target in cols.items()
        if target != t and c != tenant_column)
    with_email = [t for t in schema.tables if has_email(t) and t != tenant_root]
    if not with_email:
        return next((t for t in schema.tables if t != tenant_root), next(iter(schema.tables)))

    def score(t: str) -> tuple[int, int]:
        return referenced[t], -SUBJECT_NAMES.index(t) if t in SUBJECT_NAMES else -99

    return max(with_email, key=score)


def _kind(sql_type: Any) -> str:
    if isinstance(sql_type, types.Boolean):
        return "boolean"
    if isinstance(sql_type, types.Integer | types.Numeric | types.Float):
        return "number"
    if isinstance(sql_type, types.Date | types.DateTime):
        return "date"
    return "text"


def _clear(info: dict[str, Any]) -> tuple[Any, bool]:
    """``null``, or for a NOT NULL column a neutral value of its type (and whether to review)."""
    if info.get("nullable", True):
        return None, False
    kind = _kind(info["type"])
    if kind == "text":
        return {"set": ""}, False
    if kind == "number":
        return {"set": 0}, True
    if kind == "boolean":
        return {"set": False}, True
    return "keep", True


def _sample(engine: Engine, table_name: str, column_name: str) -> list[Any]:
    col: ColumnClause[Any] = column(column_name)
    query = select(col).select_from(table(table_name, col)).where(col.is_not(None))
    try:
        with engine.connect() as conn:
            return list(conn.execute(query.limit(SAMPLE_SIZE)).scalars())
    except SQLAlchemyError:
        return []


def _classify(column_name: str, info: dict[str, Any], *, pointer: bool, person: bool,
              sampled: str | None) -> dict[str, Any]:
    """``person``: the table holds people (the subject), so a bare ``name`` is a person's."""
    for rule in RULES:
        if re.search(rule.pattern, column_name, re.IGNORECASE):
            if pointer and rule.category not in ("credential", "employment"):
                break  # shipping_address_id is a key, not an address
            if column_name == "name" and not person:
                break  # the name of an asset, a workspace, a product
            erase, review = rule.erase, rule.review
            if erase == "clear":
                erase, review = _clear(info)
                review = review or rule.review
            guessed: dict[str, Any] = {"category": rule.category}
            if not rule.export:
                guessed["export"] = False
            guessed["erase"] = erase
            if review:
                guessed[REVIEW] = 1
            return guessed
    if pointer:
        return {"category": "technical", "erase": "keep"}
    if sampled and "free text" in sampled:
        erase, review = _clear(info)
        return {"category": "free_text", "erase": erase, **({REVIEW: 1} if review else {})}
    if sampled and "email" in sampled:
        return {"category": "contact", "erase": _clear(info)[0], REVIEW: 1}
    if sampled:
        return {"category": "identity", "erase": _clear(info)[0], REVIEW: 1}
    return {"category": "other", "erase": "keep", REVIEW: 1}


class _FlowMap(dict[str, Any]):
    """A field's spec, written on one line so it can carry a ``# REVIEW`` comment."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    _FlowMap, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))


def draft_datamap(url: str, *, name: str = "draft", url_env: str = "DATASTORE_URL",
                  sample: bool = True) -> str:
    """Introspect the database at ``url`` (read-only) and return a data-map YAML that loads."""
    engine = read_only_engine(url)
    try:
        schema = _read_schema(inspect(engine))
        if not schema.tables:
            raise ValueError("the database has no table with a single-column primary key")
        tenant_column, tenant_root = _guess_tenant(schema)
        subject = _guess_subject(schema, tenant_root, tenant_column)
        entities = _entities(schema, engine if sample else None, tenant_column, tenant_root,
                             subject)
    finally:
        engine.dispose()
    document = _document(schema, entities, name=name, url_env=url_env,
                         tenant_column=tenant_column, tenant_root=tenant_root, subject=subject)
    return _render(document, schema, subject=subject, tenant_column=tenant_column)


def _entities(schema: _Schema, engine: Engine | None, tenant_column: str | None,
              tenant_root: str | None, subject: str) -> dict[str, Any]:
    markers = set(MARKER_NAMES)
    entities: dict[str, Any] = {}
    for table_name, pk in schema.tables.items():
        columns = schema.columns[table_name]
        relations: dict[str, list[str]] = {}
        references: list[dict[str, str]] = []
        for column_name, target in schema.pointers[table_name].items():
            if column_name == tenant_column:
                continue
            if target == table_name:
                references.append({"to": target, "via": column_name})
            else:
                relations.setdefault(target, []).append(column_name)
        fields: dict[str, Any] = {}
        for column_name, info in columns.items():
            if column_name in (pk, tenant_column):
                continue
            if column_name in markers or (table_name == subject
                                          and RESTRICTED.search(column_name)):
                fields[column_name] = _FlowMap(category="technical", export=False)
                continue
            sampled = None
            if engine is not None and _kind(info["type"]) in ("text", "date"):
                sampled = values_suggest(_sample(engine, table_name, column_name))
            fields[column_name] = _FlowMap(_classify(
                column_name, info, pointer=column_name in schema.pointers[table_name],
                person=table_name == subject, sampled=sampled))
        entity: dict[str, Any] = {"table": table_name, "primary_key": pk}
        if tenant_column and tenant_column not in columns:
            entity["tenant_column"] = pk if table_name == tenant_root else None
        if relations:
            entity["relations"] = [{"to": t, "via": v} for t, v in relations.items()]
        if references:
            entity["references"] = references
        entity["fields"] = fields
        entities[table_name] = entity
    return entities


def _document(schema: _Schema, entities: dict[str, Any], *, name: str, url_env: str,
              tenant_column: str | None, tenant_root: str | None, subject: str) -> dict[str, Any]:
    scopes = {"tenant": tenant_root} if tenant_root in entities else {}
    probe = {"name": name, "connection": {"url_env": url_env}, "tenant_column": tenant_column,
             "subject": {"entity": subject, "identity_fields": [schema.tables[subject]]},
             "scopes": scopes, "entities": entities}
    unanchored = set(entities) - anchored_entities(DataMap.model_validate(_plain(probe)))
    for table_name in unanchored:
        del entities[table_name]
    for entity in entities.values():
        entity["relations"] = [r for r in entity.get("relations", []) if r["to"] in entities]
        if not entity["relations"]:
            entity.pop("relations")
    schema.skipped.extend(sorted(unanchored))
    fields = entities[subject]["fields"]
    identity = [c for c in fields if re.search(r"e_?mail", c, re.IGNORECASE)]
    identity += [c for c in fields if re.search(r"(^|_)(employee_id|username|login)$", c)]
    identity = identity or [schema.tables[subject]]
    display: dict[str, str] = {}
    name_column = next((c for c in fields if re.search(r"(^|_)(full_)?name$", c)), None)
    if name_column:
        display["name"] = name_column
    display["email"] = identity[0]
    display = {role: c for role, c in display.items() if c in fields}
    present = [m for m in MARKER_NAMES if m in fields]
    document: dict[str, Any] = {"version": 1, "name": name, "connection": {"url_env": url_env}}
    if tenant_column:
        document["tenant_column"] = tenant_column
    document["subject"] = {"entity": subject, "identity_fields": identity,
                           "display_fields": display}
    if present:
        document["subject"]["erased_marker"] = {"column": present[0], "value": "now"}
        if present[0] != "deleted_at" and "deleted_at" in present:
            document["subject"]["soft_delete"] = {"column": "deleted_at", "value": "now"}
    restricted = next((c for c in fields if RESTRICTED.search(c)), None)
    if restricted is not None:
        document["subject"]["restriction_marker"] = {"column": restricted, "value": "now"}
    if scopes:
        document["scopes"] = scopes
        entities[str(tenant_root)].pop("tenant_column", None)
    document["entities"] = entities
    document["sections"] = [{"name": t, "entity": t} for t in entities if t != tenant_root]
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != REVIEW}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _render(document: dict[str, Any], schema: _Schema, *, subject: str,
            tenant_column: str | None) -> str:
    marker = document["subject"].get("erased_marker")
    header = [
        "# Drafted from the database by `privacyops datamap draft`; review every guess before use,",
        "# above all the lines marked # REVIEW (columns the draft could not classify).",
        f"# Subject guessed: {subject}. Tenant column guessed: {tenant_column or 'none'}.",
        "# Relations are ownership (PURGE deletes along them); move a foreign key to",
        "# `references` when the row must survive its parent (the pointer is set to NULL).",
        "# Free text and identifiers are erased by default (null, hash): keep nothing you cannot",
        "# justify keeping.",
    ]
    if marker is None:
        header.append("# No erased-marker column found: add one (e.g. erased_at) and point "
                      "subject.erased_marker at it.")
    if schema.skipped:
        header.append("# Skipped (no single-column primary key, or no tenant column and no "
                      f"relation to one): {', '.join(schema.skipped)}.")
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=4096)
    body = re.sub(rf", {REVIEW}: 1\}}", "}  # REVIEW", body)
    text = "\n".join(header) + "\n" + body
    parse_datamap(yaml.safe_load(text), source="drafted data map")
    return text
