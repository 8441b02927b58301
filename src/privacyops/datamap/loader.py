"""Loading a data map from YAML, with errors that name the path of the key and the fix.

Two passes: pydantic checks each key's shape; :func:`cross_reference_issues` then checks
what only the whole file can tell (a relation to an entity that doesn't exist, a section
field nobody declared, an entity no scope reaches, relations that no delete order satisfies).
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from privacyops.datamap.graph import DataMapGraph
from privacyops.datamap.schema import BUILTIN_CATEGORIES, CATEGORY_ALIASES, DataMap

Issue = tuple[str, str]


class DataMapError(Exception):
    """A data map that cannot be used, with every problem found as ``(path, message)``."""

    def __init__(self, issues: list[Issue], *, source: str = "data map") -> None:
        self.issues = issues
        self.source = source
        lines = "\n".join(f"  {path or '(top level)'}: {message}" for path, message in issues)
        super().__init__(f"{source} is invalid ({len(issues)} problem(s)):\n{lines}")

    def lines(self) -> list[str]:
        return [f"{self.source}: {path or '(top level)'}: {message}" for path, message in self.issues]


def read_map_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed YAML of a map file (SQL, HTTP or manual); raises :class:`DataMapError`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataMapError([("", f"cannot read the file ({exc.strerror})")], source=source) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DataMapError([("", f"not valid YAML{where}: {exc}")], source=source) from exc


def load_datamap(path: str | os.PathLike[str]) -> DataMap:
    """Read and fully validate one data-map file; raises :class:`DataMapError`."""
    return parse_datamap(read_map_yaml(path), source=str(path))


def parse_datamap(data: Any, *, source: str = "data map") -> DataMap:
    """Validate an already-parsed mapping (shape, then cross-references)."""
    if not isinstance(data, dict):
        raise DataMapError([("", "expected a mapping with name, connection, subject, entities")],
                           source=source)
    try:
        datamap = DataMap.model_validate(data)
    except ValidationError as exc:
        raise DataMapError(_pydantic_issues(exc) + _raw_category_issues(data),
                           source=source) from exc
    issues = cross_reference_issues(datamap)
    if issues:
        raise DataMapError(issues, source=source)
    return datamap


def check_datamap_file(path: str | os.PathLike[str]) -> list[str]:
    """Human-readable problems of a data-map file; an empty list means it is usable."""
    try:
        load_datamap(path)
    except DataMapError as exc:
        return exc.lines()
    return []


def resolve_connection_url(
    datamap: DataMap, tenant_key: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The datastore URL, read from the environment variable the data map names."""
    env = os.environ if environ is None else environ
    connection = datamap.connection
    if connection.url is not None:
        return connection.url
    if connection.per_tenant is not None:
        if tenant_key is None:
            raise DataMapError(
                [("connection.per_tenant", "this datastore has a database per tenant; "
                  "name the tenant to connect to")], source=datamap.name)
        variable = connection.per_tenant.url_env_template.format(tenant=tenant_key)
    else:
        assert connection.url_env is not None  # noqa: S101 - guaranteed by ConnectionSpec
        variable = connection.url_env
    url = env.get(variable)
    if not url:
        raise DataMapError(
            [("connection", f"environment variable {variable} is not set; set it to the "
              "datastore's SQLAlchemy URL (e.g. postgresql+psycopg://user:pass@host/db)")],
            source=datamap.name,
        )
    return url


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel] = DataMap) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (to list its allowed keys)."""
    current: Any = root
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            origin = typing.get_origin(current)
            if origin in (typing.Union, types.UnionType) and len(args) == 1:
                current = args[0]
                origin = typing.get_origin(current)
                args = list(typing.get_args(current))
            if origin is dict:
                current = args[1]
            elif origin is list:
                current = args[0]
            else:
                return None
    while typing.get_origin(current) in (typing.Union, types.UnionType):
        current = next(a for a in typing.get_args(current) if a is not type(None))
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _pydantic_issues(exc: ValidationError, root: type[BaseModel] = DataMap) -> list[Issue]:
    issues: list[Issue] = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            model = _model_at(loc[:-1], root)
            allowed = ", ".join(model.model_fields) if model else "see the data-map reference"
            message = f"unknown key {loc[-1]!r}; check the spelling (allowed here: {allowed})"
        elif error["type"] == "missing":
            message = f"required; add `{loc[-1]}:` here"
        issues.append((_format_loc(loc), message))
    return issues


def _unknown_category(category: Any, known: set[str]) -> str:
    return (f"unknown category {category!r}; use one of "
            f"{', '.join(repr(c) for c in sorted(known))}, or declare it under `categories:` "
            "with a description")


def _raw_category_issues(data: dict[str, Any]) -> list[Issue]:
    """Unknown categories, found in the raw mapping when other keys already failed validation
    (the full check needs a valid map, but a misspelt category should be reported at once)."""
    custom = data.get("categories")
    known = set(BUILTIN_CATEGORIES) | (set(custom) if isinstance(custom, dict) else set())
    issues: list[Issue] = []
    entities = data.get("entities")
    for name, spec in (entities.items() if isinstance(entities, dict) else []):
        fields = spec.get("fields") if isinstance(spec, dict) else None
        for column, field in (fields.items() if isinstance(fields, dict) else []):
            category = field.get("category") if isinstance(field, dict) else None
            category = CATEGORY_ALIASES.get(category, category) if isinstance(category, str) \
                else category
            if category is not None and category not in known:
                issues.append((f"entities.{name}.fields.{column}.category",
                               _unknown_category(category, known)))
    return issues


def _retention_issues(datamap: DataMap, name: str) -> list[Issue]:
    """A retention or keep rule that could not do what it says."""
    spec = datamap.entities[name]
    base = f"entities.{name}"
    erases = any(field.erase.kind != "keep" for field in spec.fields.values())
    issues: list[Issue] = []
    if spec.retention is not None and spec.retention.action == "erase" and not erases:
        issues.append((f"{base}.retention.action", "`erase` rewrites the entity's fields with "
                       "their erase actions, and none is declared; declare erase actions under "
                       "fields or use `action: purge`"))
    if spec.keep is not None and not erases:
        issues.append((f"{base}.keep", "a keep rule anonymises the kept rows on PURGE with the "
                       "entity's erase actions, and none is declared; declare erase actions for "
                       "its personal fields"))
    for column in sorted(datamap.retention_columns(name) & {datamap.tenant_column_of(name)}):
        issues.append((f"{base}.retention", f"{column!r} is the tenant column; a retention rule "
                       "already applies to one tenant's rows"))
    return issues


def cross_reference_issues(datamap: DataMap) -> list[Issue]:
    """Problems that only the whole data map reveals, each with its path and a fix."""
    issues: list[Issue] = []
    entities = datamap.entities
    graph = DataMapGraph(datamap)
    names = ", ".join(entities)

    def column_issue(path: str, entity: str, column: str) -> None:
        if column not in datamap.known_columns(entity):
            issues.append((path, f"column {column!r} is not declared on entity {entity!r}; "
                           f"declare it under entities.{entity}.fields"))

    def entity_issue(path: str, entity: str) -> bool:
        if entity not in entities:
            issues.append((path, f"unknown entity {entity!r}; expected one of: {names}"))
            return False
        return True

    scope_names = datamap.scope_entities()
    for scope, entity in datamap.scopes.items():
        entity_issue(f"scopes.{scope}", entity)
        if scope == "subject" and entity != datamap.subject.entity:
            issues.append((f"scopes.{scope}", "the subject scope is always subject.entity; "
                           "remove this line or make them the same"))
    if entity_issue("subject.entity", datamap.subject.entity):
        subject = datamap.subject
        for i, column in enumerate(subject.identity_fields):
            column_issue(f"subject.identity_fields[{i}]", subject.entity, column)
        for role, column in subject.display_fields.items():
            column_issue(f"subject.display_fields.{role}", subject.entity, column)
        for key, marker in subject.markers().items():
            column_issue(f"subject.{key}.column", subject.entity, marker.column)

    for name, spec in entities.items():
        base = f"entities.{name}"
        for i, relation in enumerate(spec.relations):
            if relation.to not in entities and relation.to not in scope_names:
                issues.append((f"{base}.relations[{i}].to", f"unknown entity or scope "
                               f"{relation.to!r}; expected one of: {names}"))
            elif relation.to == "tenant":
                issues.append((f"{base}.relations[{i}].to", "the tenant is reached through the "
                               "tenant column; remove this relation"))
        for i, reference in enumerate(spec.references):
            if graph.resolve(reference.to) is None:
                issues.append((f"{base}.references[{i}].to",
                               f"unknown entity {reference.to!r}; expected one of: {names}"))
        categories = datamap.category_names()
        for column, field in spec.fields.items():
            if field.category not in categories:
                issues.append((f"{base}.fields.{column}.category",
                               _unknown_category(field.category, categories)))
            elif datamap.is_special(field.category) and (
                    field.erase.kind == "keep" or not field.erase_declared):
                issues.append((f"{base}.fields.{column}.erase", f"{field.category!r} is a special "
                               "category (GDPR Art. 9/10); say what ERASE does with it "
                               "(null, hash, {set: …} or {pseudonym: …}), not keep"))
            frozen = {spec.primary_key, datamap.tenant_column_of(name)}
            if column in frozen and field.erase.kind != "keep":
                issues.append((f"{base}.fields.{column}.erase", "a primary key or tenant column "
                               "can't be erased; use `erase: keep`"))
        issues.extend(_retention_issues(datamap, name))

    for i, section in enumerate(datamap.sections):
        base = f"sections[{i}]"
        if not entity_issue(f"{base}.entity", section.entity):
            continue
        spec = entities[section.entity]
        aliases: set[str] = set()
        for j, lookup in enumerate(section.lookups):
            column_issue(f"{base}.lookups[{j}].via", section.entity, lookup.via)
            if entity_issue(f"{base}.lookups[{j}].entity", lookup.entity):
                for alias, column in lookup.columns.items():
                    column_issue(f"{base}.lookups[{j}].columns.{alias}", lookup.entity, column)
            aliases.update(lookup.columns)
        for j, column in enumerate(section.fields or []):
            declared = spec.fields.get(column)
            if declared is None and column not in aliases:
                issues.append((f"{base}.fields[{j}]", f"{column!r} is neither a field of "
                               f"{section.entity!r} nor a lookup column; declare it under "
                               f"entities.{section.entity}.fields"))
            elif declared is not None and not declared.export:
                issues.append((f"{base}.fields[{j}]", f"{column!r} is declared `export: false`; "
                               "remove it from the section or set export: true"))
        if section.order_column:
            column_issue(f"{base}.order_by", section.entity, section.order_column)
    seen: set[str] = set()
    for i, section in enumerate(datamap.sections):
        if section.name in seen:
            issues.append((f"sections[{i}].name", f"section {section.name!r} appears twice"))
        seen.add(section.name)

    for i, condition in enumerate(datamap.preconditions):
        if entity_issue(f"preconditions[{i}].entity", condition.entity):
            for column in condition.where:
                column_issue(f"preconditions[{i}].where.{column}", condition.entity, column)
            if condition.entity not in graph.reachable("subject"):
                issues.append((f"preconditions[{i}].entity", f"{condition.entity!r} is not "
                               "reached from the subject; add a relation from it to the subject"))

    if issues:
        return issues
    cycle = graph.find_cycle()
    if cycle:
        first = cycle[0]
        issues.append((f"entities.{first}.relations", "ownership relations form a cycle ("
                       + " → ".join(cycle) + "), so PURGE can't delete children before parents; "
                       "declare one link under `references` (a pointer cleared on purge)"))
        return issues
    for name in sorted(set(entities) - anchored_entities(datamap)):
        issues.append((f"entities.{name}", "no scope reaches this entity: it has no tenant "
                           "column and no relation to the subject or another scope; add a "
                           "relation or a tenant_column"))
    return issues


def anchored_entities(datamap: DataMap) -> set[str]:
    """Entities whose rows a scope can reach: through a tenant column, the datastore being a
    tenant's own, a scope's traversal, or an ownership relation to such an entity."""
    graph = DataMapGraph(datamap)
    anchored = {
        name for name in datamap.entities
        if not datamap.is_shared or datamap.tenant_column_of(name) is not None
    }
    for scope in datamap.scope_entities():
        if scope != "tenant" and graph.resolve(scope) is not None:
            anchored.update(graph.reachable(scope))
    grew = True
    while grew:
        grew = False
        for edge in graph.edges:
            if edge.parent in anchored and edge.child not in anchored:
                anchored.add(edge.child)
                grew = True
    return anchored
