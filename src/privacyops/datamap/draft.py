"""A first data map drafted from a live database, for an engineer to review and finish.

The draft reads tables, primary keys and foreign keys, guesses the subject (the table with an
email column and a person-like name), the tenant column (a column such as ``tenant_id`` on
every other table), categories and erase actions from column names. It always loads with
:func:`load_datamap`; what it cannot guess it says in comments.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Inspector

from privacyops.datamap.loader import anchored_entities, parse_datamap
from privacyops.datamap.schema import DataMap

TENANT_NAMES = ("tenant_id", "workspace_id", "organization_id", "organisation_id", "org_id",
                "account_id", "company_id", "shop_id", "team_id")
SUBJECT_NAMES = ("people", "person", "users", "user", "customers", "customer", "employees",
                 "employee", "members", "member", "contacts", "accounts")
GUESSES: tuple[tuple[str, str, Any], ...] = (
    # (pattern on the column name, category, erase action)
    (r"e_?mail", "contact", {"pseudonym": "erased-{id}@erased.invalid"}),
    (r"password|passwd|secret|token|api_key", "credential", None),
    (r"phone|mobile|fax", "contact", None),
    (r"(^|_)ip(_|$)|ip_address|user_agent", "technical", "hash"),
    (r"birth|dob", "identity", None),
    (r"address|street|line1|line2|postcode|zip|city", "contact", None),
    (r"(^|_)(first_|last_|full_|display_|sur)?name$", "identity", {"set": "Erased"}),
    (r"ssn|national_id|passport|tax_id", "identity", None),
)


def _guess(column: str, nullable: bool) -> dict[str, Any]:
    for pattern, category, erase in GUESSES:
        if re.search(pattern, column, re.IGNORECASE):
            if erase is None and not nullable:
                erase = {"set": ""}
            field: dict[str, Any] = {"category": category, "erase": copy.deepcopy(erase)}
            if category == "credential":
                field["export"] = False
            return field
    return {"category": "other", "erase": "keep"}


def _single_pk(inspector: Inspector, table: str) -> str | None:
    columns = inspector.get_pk_constraint(table).get("constrained_columns") or []
    return columns[0] if len(columns) == 1 else None


def draft_datamap(url: str, *, name: str = "draft", url_env: str = "DATASTORE_URL") -> str:
    """Introspect the database at ``url`` and return a data-map YAML that loads as is."""
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        tables = {t: _single_pk(inspector, t) for t in sorted(inspector.get_table_names())}
        skipped = sorted(t for t, pk in tables.items() if pk is None)
        tables = {t: pk for t, pk in tables.items() if pk is not None}
        columns = {t: inspector.get_columns(t) for t in tables}
        fks = {t: inspector.get_foreign_keys(t) for t in tables}
    finally:
        engine.dispose()
    if not tables:
        raise ValueError("the database has no table with a single-column primary key")

    def has_email(table: str) -> bool:
        return any("email" in str(c["name"]).lower() for c in columns[table])

    subject = next((t for t in SUBJECT_NAMES if t in tables and has_email(t)), None)
    subject = subject or next((t for t in tables if has_email(t)), next(iter(tables)))
    tenant_column = next((
        candidate for candidate in TENANT_NAMES
        if sum(candidate in {str(c["name"]) for c in cols} for cols in columns.values())
        >= max(1, len(tables) - 1)
    ), None)

    entities: dict[str, Any] = {}
    tenant_root: str | None = None
    for table, pk in tables.items():
        names = {str(c["name"]) for c in columns[table]}
        relations, references, reference_columns = [], [], set()
        for fk in fks[table]:
            local, target = fk["constrained_columns"], fk["referred_table"]
            if len(local) != 1 or target not in tables or local[0] == tenant_column:
                if tenant_column and local == [tenant_column]:
                    tenant_root = target
                continue
            if target == table:
                references.append({"to": target, "via": local[0]})
                reference_columns.add(local[0])
            else:
                relations.append({"to": target, "via": [local[0]]})
        fields = {
            str(c["name"]): _guess(str(c["name"]), bool(c.get("nullable", True)))
            for c in columns[table]
            if c["name"] not in (pk, tenant_column)
        }
        entity: dict[str, Any] = {"table": table, "primary_key": pk}
        if tenant_column and tenant_column not in names:
            entity["tenant_column"] = pk if table == tenant_root else None
        if relations:
            entity["relations"] = relations
        if references:
            entity["references"] = references
        entity["fields"] = fields
        entities[table] = entity

    document_draft = {"tenant_column": tenant_column, "connection": {"url_env": url_env},
                      "name": name, "subject": {"entity": subject, "identity_fields": [
                          tables[subject]]}, "entities": entities}
    if tenant_root:
        document_draft["scopes"] = {"tenant": tenant_root}
    unanchored = set(entities) - anchored_entities(DataMap.model_validate(document_draft))
    for table in unanchored:
        del entities[table]
    for entity in entities.values():
        entity["relations"] = [r for r in entity.get("relations", []) if r["to"] in entities]
        if not entity["relations"]:
            entity.pop("relations")
    skipped.extend(sorted(unanchored))
    subject_fields = entities[subject]["fields"]
    identity = [c for c in subject_fields if "email" in c.lower()] or [tables[subject]]
    marker = next((c for c in subject_fields if re.search(r"erased|deleted|anonymi", c)), None)
    display = {role: c for role, c in (("email", identity[0]),) if c in subject_fields}
    name_column = next((c for c in subject_fields if re.search(r"name$", c)), None)
    if name_column:
        display["name"] = name_column
    document: dict[str, Any] = {
        "version": 1,
        "name": name,
        "connection": {"url_env": url_env},
    }
    if tenant_column:
        document["tenant_column"] = tenant_column
    document["subject"] = {
        "entity": subject,
        "identity_fields": identity,
        "display_fields": display,
    }
    if marker:
        document["subject"]["erased_marker"] = {"column": marker, "value": "now"}
    if tenant_root and tenant_root in entities:
        document["scopes"] = {"tenant": tenant_root}
        entities[tenant_root].pop("tenant_column", None)
    document["entities"] = entities
    document["sections"] = [{"name": t, "entity": t} for t in entities if t != tenant_root]
    header = [
        "# Drafted from the database by `draft_datamap`; review every guess before use.",
        f"# Subject guessed: {subject}. Tenant column guessed: {tenant_column or 'none'}.",
        "# Relations are ownership (PURGE deletes along them); move a foreign key to",
        "# `references` when the row must survive its parent (the pointer is set to NULL).",
    ]
    if marker is None:
        header.append("# No erased-marker column found: add one (e.g. erased_at) and point "
                      "subject.erased_marker at it.")
    if skipped:
        header.append("# Skipped (no single-column primary key, or no tenant column and no "
                      f"relation to one): {', '.join(skipped)}.")
    text = "\n".join(header) + "\n" + yaml.safe_dump(document, sort_keys=False, width=100)
    parse_datamap(yaml.safe_load(text), source="drafted data map")
    return text
