"""Loading an HTTP data map (``connector: http``), with errors that name the path of the key.

Like ``loader``: pydantic checks each key's shape, then :func:`http_cross_reference_issues`
checks what only the whole file can tell (an unknown subject endpoint, a placeholder the
request cannot fill, a personal field an ERASE cannot reach).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from privacyops.datamap.http_schema import HttpMap, placeholders
from privacyops.datamap.loader import (
    DataMapError,
    Issue,
    _pydantic_issues,
    _unknown_category,
    read_map_yaml,
)


def map_connector(data: Any) -> str:
    """The connector a parsed map is for: ``http`` when it says ``connector: http``, else ``sql``."""
    if isinstance(data, dict) and data.get("connector") is not None:
        return str(data["connector"])
    return "sql"


def load_http_map(path: str | os.PathLike[str]) -> HttpMap:
    """Read and fully validate one HTTP data-map file; raises :class:`DataMapError`."""
    return parse_http_map(read_map_yaml(path), source=str(path))


def parse_http_map(data: Any, *, source: str = "data map") -> HttpMap:
    if not isinstance(data, dict):
        raise DataMapError([("", "expected a mapping with connector: http, name, base_url_env, "
                                 "subject, endpoints")], source=source)
    try:
        http_map = HttpMap.model_validate(data)
    except ValidationError as exc:
        raise DataMapError(_pydantic_issues(exc, HttpMap), source=source) from exc
    issues = http_cross_reference_issues(http_map)
    if issues:
        raise DataMapError(issues, source=source)
    return http_map


def _placeholder_issues(path: str, template: str, allowed: set[str], what: str) -> list[Issue]:
    unknown = sorted(placeholders(template) - allowed)
    if not unknown:
        return []
    names = ", ".join("{" + n + "}" for n in sorted(allowed))
    return [(path, f"{what} uses {', '.join('{' + n + '}' for n in unknown)}, which it cannot "
                   f"fill; available here: {names}")]


def http_cross_reference_issues(http_map: HttpMap) -> list[Issue]:
    """Problems that only the whole HTTP map reveals, each with its path and a fix."""
    issues: list[Issue] = []
    subject = http_map.subject
    identity = set(subject.identity_fields)
    names = ", ".join(http_map.endpoints)
    for key in subject.identity:
        if key not in identity:
            issues.append((f"subject.identity.{key}", f"{key!r} is not one of identity_fields "
                           f"({', '.join(subject.identity_fields)})"))
    subject_spec = http_map.endpoints.get(subject.endpoint)
    if subject_spec is None:
        issues.append(("subject.endpoint", f"unknown endpoint {subject.endpoint!r}; expected "
                       f"one of: {names}"))
    else:
        if subject_spec.get is None:
            issues.append((f"endpoints.{subject.endpoint}.get", "the subject endpoint needs "
                           "`get:` (the request that reads one subject by id, such as "
                           "path: /contacts/{subject_id}), so jobs can find the subject again"))
        for i, name in enumerate(subject.identity_fields):
            field = subject.record_field(name)
            if field not in subject_spec.fields:
                issues.append((f"subject.identity_fields[{i}]", f"the record field {field!r} "
                               f"is not declared under endpoints.{subject.endpoint}.fields; "
                               "declare it (with its category and erase action)"))

    categories = http_map.category_names()
    sections: dict[str, str] = {}
    for name, spec in http_map.endpoints.items():
        base = f"endpoints.{name}"
        is_subject = name == subject.endpoint
        read_allowed = {"tenant"} | identity | (set() if is_subject else {"subject_id"})
        issues += _placeholder_issues(f"{base}.read.path", spec.read.path, read_allowed,
                                      "the path")
        for param, value in spec.read.params.items():
            issues += _placeholder_issues(f"{base}.read.params.{param}", value, read_allowed,
                                          "the parameter")
        for field, value in spec.match.items():
            issues += _placeholder_issues(f"{base}.match.{field}", value, read_allowed,
                                          "the match")
        if spec.get is not None:
            if not is_subject:
                issues.append((f"{base}.get", "only the subject endpoint uses `get:`; remove it"))
            issues += _placeholder_issues(f"{base}.get.path", spec.get.path,
                                          {"subject_id", "tenant"}, "the path")
        if spec.erase is not None:
            issues += _placeholder_issues(f"{base}.erase.path", spec.erase.path,
                                          {"id", "subject_id", "tenant"}, "the path")
        deletes = spec.erase is not None and spec.erase.method == "DELETE"
        for field, fspec in spec.fields.items():
            path = f"{base}.fields.{field}"
            if fspec.category not in categories:
                issues.append((f"{path}.category", _unknown_category(fspec.category, categories)))
            if fspec.erase.kind == "hash":
                issues.append((f"{path}.erase", "`hash` is not available on an HTTP service; use "
                               "null, {set: …} or {pseudonym: …}, or DELETE the records"))
            elif (http_map.is_special(fspec.category) and not deletes
                  and fspec.erase.kind == "keep"):
                issues.append((f"{path}.erase", f"{fspec.category!r} is a special category "
                               "(GDPR Art. 9/10); say what ERASE does with it (null, {set: …} or "
                               "{pseudonym: …}), or erase the endpoint's records with DELETE"))
            if fspec.erase.kind not in ("keep", "hash") and spec.erase is None:
                issues.append((f"{path}.erase", "an erase action needs the endpoint's `erase:` "
                               "request (method PATCH or PUT, and its path)"))
            if field == spec.id_field and fspec.erase.kind != "keep" and not deletes:
                issues.append((f"{path}.erase", "the record's id can't be erased; use keep"))
        if spec.erase is not None and not deletes and not spec.erased_fields():
            issues.append((f"{base}.erase", f"{spec.erase.method} sends the masked fields, and "
                           "none has an erase action; give fields an erase action or use DELETE"))
        if spec.export:
            section = http_map.section_name(name)
            if section in sections:
                issues.append((f"{base}.section", f"section {section!r} is also fed by "
                               f"endpoint {sections[section]!r}; give each its own section"))
            sections[section] = name
    return issues


def resolve_env(http_map: HttpMap, tenant_key: str | None,
                environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every environment variable the map names, read now: name -> value.

    Raises :class:`DataMapError` naming the first unset variable (never its value)."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for template in http_map.env_names():
        if "{tenant}" in template and tenant_key is None:
            raise DataMapError([("", f"{template} depends on the tenant; name the tenant")],
                               source=http_map.name)
        variable = template.format(tenant=tenant_key or "")
        value = env.get(variable)
        if not value:
            key = "base_url_env" if template == http_map.base_url_env else "auth"
            raise DataMapError([(key, f"environment variable {variable} is not set; set it in "
                                 "the environment of every web and worker process")],
                               source=http_map.name)
        values[template] = value
    return values


__all__ = [
    "http_cross_reference_issues",
    "load_http_map",
    "map_connector",
    "parse_http_map",
    "read_map_yaml",
    "resolve_env",
]
