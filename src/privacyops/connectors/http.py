"""The HTTP connector: a service reachable only over HTTP, described by an HTTP data map.

``load_http_connector(path, tenant_key=...)`` reads a ``connector: http`` map and the
environment variables it names, and returns an :class:`HttpConnector`, which implements
:class:`~privacyops.connectors.base.SystemConnector`:

- ``resolve_identity`` lists the subject endpoint's records that match an identity;
- ``iter_export`` streams one section per endpoint, page by page;
- ``erase`` masks (PATCH/PUT) or deletes (DELETE) the subject's records, endpoint by
  endpoint, the subject's own record last; a second run after a failure finishes the job;
- ``verify_erased`` reads everything again and says what still holds personal data.

There is no transaction across HTTP requests: an ERASE that stops half-way (the service keeps
failing) raises :class:`ConnectorError` and leaves some records erased; running it again
erases the rest (records already holding their erased values are not sent again).
"""

from __future__ import annotations

import copy
import logging
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from privacyops.connectors.base import (
    ConnectorError,
    EraseResult,
    ExportSection,
    TableChange,
    Target,
    TargetNotFound,
    canonical_identity,
)
from privacyops.connectors.http_transport import Response, Transport, auth_headers
from privacyops.datamap.http_loader import load_http_map, resolve_env
from privacyops.datamap.http_schema import EndpointSpec, HttpMap, placeholders
from privacyops.datamap.schema import EraseAction

logger = logging.getLogger("privacyops.connectors.http")

_MISSING = object()
LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.items``); ``_MISSING`` when a step is absent."""
    if not path:
        return data
    current = data
    for step in path.split("."):
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return _MISSING
    return current


def put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path, creating the nested objects on the way."""
    steps = path.split(".")
    current = data
    for step in steps[:-1]:
        nested = current.get(step)
        if not isinstance(nested, dict):
            nested = {}
            current[step] = nested
        current = nested
    current[steps[-1]] = value


def next_link(headers: Any) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header, if any."""
    for header in headers.get_all("Link") or []:
        for match in LINK_PART.finditer(header):
            for param in match.group(2).split(";"):
                key, _, value = param.strip().partition("=")
                if key.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                    return match.group(1)
    return None


def _fill(template: str, context: Mapping[str, str], *, in_path: bool) -> str:
    values = {name: quote(context[name], safe="") if in_path else context[name]
              for name in placeholders(template)}
    return string.Formatter().vformat(template, (), values)


def _same(a: Any, b: Any, *, fold: bool) -> bool:
    if a is None or b is None or a is _MISSING or b is _MISSING:
        return False
    left, right = str(a).strip(), str(b).strip()
    return left.casefold() == right.casefold() if fold else left == right


@dataclass(frozen=True)
class _Plan:
    endpoint: str
    records: list[dict[str, Any]]


class HttpConnector:
    """One HTTP service for one tenant; see the module docstring."""

    def __init__(self, http_map: HttpMap, transport: Transport,
                 tenant_key: str | None = None) -> None:
        self.http_map = http_map
        self.transport = transport
        self.tenant_key = tenant_key

    @classmethod
    def from_map(cls, http_map: HttpMap, *, tenant_key: str | None,
                 environ: Mapping[str, str] | None = None) -> HttpConnector:
        """Build a connector from a validated map and the environment (``DataMapError`` when a
        variable it names is unset)."""
        values = resolve_env(http_map, tenant_key, environ)
        base_url = http_map.base_url or values[str(http_map.base_url_env)]
        headers = {**http_map.headers, **auth_headers(http_map.auth, values)}
        hint = ", ".join(name.format(tenant=tenant_key or "") for name in http_map.auth.env_names()) \
            if http_map.auth else "the service (the map has no `auth:`)"
        return cls(http_map, Transport(http_map.name, base_url, headers, http_map.behaviour,
                                       hint), tenant_key)

    @property
    def name(self) -> str:
        return self.http_map.name

    def close(self) -> None:
        self.transport.close()

    # -- reading ------------------------------------------------------------------------------
    def _what(self, method: str, template: str) -> str:
        return f"{self.name}: {method} {template}"

    def _pages(self, endpoint: str, context: Mapping[str, str]) -> Iterator[list[dict[str, Any]]]:
        """The records of one endpoint's read request, one page at a time."""
        spec = self.http_map.endpoints[endpoint]
        read = spec.read
        what = self._what(read.method, read.path)
        path = _fill(read.path, context, in_path=True)
        params = {name: _fill(value, context, in_path=False)
                  for name, value in read.params.items()}
        pagination = read.pagination
        page = pagination.first_page if pagination else 1

        def page_params() -> dict[str, str]:
            if pagination is None or pagination.type != "page":
                return params
            extra = {pagination.page_parameter: str(page)}
            if pagination.size_param and pagination.size:
                extra[pagination.size_param] = str(pagination.size)
            return {**params, **extra}

        target = self.transport.target(path, page_params())
        for _ in range(self.http_map.behaviour.max_pages):
            response = self.transport.request(read.method, target, what=what)
            body = response.json(what)
            records = dig(body, read.records)
            if records is _MISSING or records is None:
                records = []
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise ConnectorError(f"{what}: the records at {read.records or 'the body'!r} are "
                                     "not a list of objects; check `records:` in the map")
            yield [r for r in records if self._matches(spec, r, context)]
            if pagination is None:
                return
            if pagination.type == "page":
                if not records or (pagination.size and len(records) < pagination.size):
                    return
                page += 1
                target = self.transport.target(path, page_params())
            elif pagination.type == "cursor":
                cursor = dig(body, str(pagination.cursor_field))
                if cursor is _MISSING or cursor in (None, "") or not records:
                    return
                target = self.transport.target(
                    path, {**params, str(pagination.cursor_param): str(cursor)})
            else:
                link = next_link(response.headers)
                if not link:
                    return
                target = self.transport.same_origin_target(link, what)
        raise ConnectorError(f"{what} still had more pages after {self.http_map.behaviour.max_pages}"
                             "; raise behaviour.max_pages in the map if that many is expected")

    def _records(self, endpoint: str, context: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        for page in self._pages(endpoint, context):
            yield from page

    def _matches(self, spec: EndpointSpec, record: dict[str, Any],
                 context: Mapping[str, str]) -> bool:
        for field, template in spec.match.items():
            fold = "email" in field or any("email" in n for n in placeholders(template))
            if not _same(dig(record, field), _fill(template, context, in_path=False), fold=fold):
                return False
        return True

    def _fillable(self, endpoint: str, context: Mapping[str, str]) -> bool:
        spec = self.http_map.endpoints[endpoint]
        templates = [spec.read.path, *spec.read.params.values(), *spec.match.values()]
        needed = set().union(*(placeholders(t) for t in templates))
        return all(context.get(name) for name in needed)

    def _subject_record(self, target: Target) -> dict[str, Any] | None:
        """The subject's record by id; None when the service says 404."""
        spec = self.http_map.endpoints[self.http_map.subject.endpoint]
        assert spec.get is not None  # noqa: S101 - the loader requires it
        what = self._what("GET", spec.get.path)
        context = self._base_context(target)
        response = self.transport.request(
            "GET", self.transport.target(_fill(spec.get.path, context, in_path=True)),
            what=what, ok_statuses=frozenset({404, 410}))
        if response.status in (404, 410):
            return None
        record = dig(response.json(what), spec.get.record)
        if not isinstance(record, dict):
            raise ConnectorError(f"{what}: the record at {spec.get.record or 'the body'!r} is not "
                                 "an object; check `get.record` in the map")
        return record

    def _base_context(self, target: Target) -> dict[str, str]:
        return {"subject_id": str(target.id), "tenant": target.tenant_key or self.tenant_key or ""}

    def _context_from_record(self, target: Target, record: dict[str, Any]) -> dict[str, str]:
        context = self._base_context(target)
        subject = self.http_map.subject
        for name in subject.identity_fields:
            value = dig(record, subject.record_field(name))
            if value is not _MISSING and value not in (None, ""):
                context[name] = str(value)
        return context

    def _require_subject(self, target: Target) -> dict[str, Any]:
        record = self._subject_record(target)
        if record is None:
            raise TargetNotFound(f"{self.name} has no {self.http_map.subject.endpoint} record "
                                 "with this id (the service answered 404)")
        return record

    # -- SystemConnector ----------------------------------------------------------------------
    def resolve_identity(self, identity: Mapping[str, str], tenant_key: str | None) -> list[str]:
        """Ids of the subject endpoint's records matching every identity field given that the
        map knows (emails case-insensitively); ``[]`` when none match or none can be asked."""
        subject = self.http_map.subject
        wanted = {k: v for k, v in canonical_identity(identity).items()
                  if k in subject.identity_fields}
        if not wanted:
            return []
        context = {"tenant": tenant_key or self.tenant_key or "", **wanted}
        if not self._fillable(subject.endpoint, context):
            return []
        spec = self.http_map.endpoints[subject.endpoint]
        ids: list[str] = []
        for record in self._records(subject.endpoint, context):
            found = canonical_identity({
                name: str(value) for name in wanted
                if (value := dig(record, subject.record_field(name))) not in (None, _MISSING)})
            if found.keys() >= wanted.keys() and all(found[k] == v for k, v in wanted.items()):
                record_id = dig(record, spec.id_field)
                if record_id in (None, _MISSING):
                    raise ConnectorError(f"{self._what('GET', spec.read.path)}: a record has no "
                                         f"{spec.id_field!r}; check `id_field` in the map")
                if str(record_id) not in ids:
                    ids.append(str(record_id))
        return ids

    def section_columns(self, endpoint: str) -> list[str]:
        spec = self.http_map.endpoints[endpoint]
        return [spec.id_field, *[n for n, f in spec.fields.items()
                                 if f.export and n != spec.id_field]]

    def iter_export(self, target: Target) -> Iterator[ExportSection]:
        """One section per exported endpoint, in map order; rows are read page by page as the
        caller consumes them."""
        record = self._require_subject(target)
        context = self._context_from_record(target, record)
        for name, spec in self.http_map.endpoints.items():
            if not spec.export:
                continue
            columns = self.section_columns(name)
            if name == self.http_map.subject.endpoint:
                rows: Iterator[dict[str, Any]] = iter([self._row(record, columns)])
            elif self._fillable(name, context):
                rows = (self._row(r, columns) for r in self._records(name, context))
            else:
                rows = iter([])
            yield ExportSection(self.http_map.section_name(name), columns, rows)

    @staticmethod
    def _row(record: dict[str, Any], columns: list[str]) -> dict[str, Any]:
        row = {}
        for column in columns:
            value = dig(record, column)
            row[column] = None if value is _MISSING else value
        return row

    def _erased_value(self, action: EraseAction, target: Target) -> Any:
        if action.kind == "null":
            return None
        if action.kind == "set":
            return action.value
        return action.pseudonym_for(str(target.id), target.tenant_key or self.tenant_key)

    def _needs_erase(self, spec: EndpointSpec, record: dict[str, Any], target: Target) -> bool:
        if spec.erase is None:
            return False
        if spec.erase.method == "DELETE":
            return True
        return any(dig(record, name) != self._erased_value(f.erase, target)
                   for name, f in spec.erased_fields().items())

    def _plan(self, target: Target) -> list[_Plan]:
        """The records ERASE changes, per endpoint in erase order. When an earlier ERASE has
        deleted the subject's record, the endpoints reached by ``{subject_id}`` alone are still
        read (a record added since is still found)."""
        subject = self.http_map.subject
        subject_spec = self.http_map.endpoints[subject.endpoint]
        record = self._subject_record(target)
        if record is None:
            if subject_spec.erase is None or subject_spec.erase.method != "DELETE":
                raise TargetNotFound(f"{self.name} has no {subject.endpoint} record with this "
                                     "id (the service answered 404)")
            context = self._base_context(target)
        else:
            context = self._context_from_record(target, record)
        plans: list[_Plan] = []
        for name in self.http_map.erase_order():
            spec = self.http_map.endpoints[name]
            if spec.erase is None:
                continue
            if name == subject.endpoint:
                candidates: list[dict[str, Any]] = [] if record is None else [record]
            elif self._fillable(name, context):
                candidates = list(self._records(name, context))
            else:
                candidates = []
            plans.append(_Plan(name, [r for r in candidates
                                      if self._needs_erase(spec, r, target)]))
        return plans

    def erase(self, target: Target, *, dry_run: bool = False,
              before_commit: Callable[[], None] | None = None) -> EraseResult:
        """Mask or delete the subject's records; ``dry_run`` only counts them.

        ``before_commit`` runs once, after the records are read and before the first write
        (the last moment a legal hold can stop the job). Raises :class:`ConnectorError` when
        the service keeps failing; the records erased so far stay erased and a second call
        erases the rest."""
        plans = self._plan(target)
        if not dry_run and before_commit is not None and any(p.records for p in plans):
            before_commit()
        changes: list[TableChange] = []
        for plan in plans:
            spec = self.http_map.endpoints[plan.endpoint]
            assert spec.erase is not None  # noqa: S101 - _plan skips endpoints without erase
            columns = tuple(spec.fields) if spec.erase.method == "DELETE" \
                else tuple(spec.erased_fields())
            done = 0
            for record in plan.records:
                if dry_run or self._send_erase(spec, record, target):
                    done += 1
            changes.append(TableChange(plan.endpoint, done, columns))
            if not dry_run:
                logger.info("%s: erased %d record(s) of endpoint %s", self.name, done,
                            plan.endpoint)
        return EraseResult(tuple(changes), dry_run)

    def _send_erase(self, spec: EndpointSpec, record: dict[str, Any], target: Target) -> bool:
        """Send one record's erase request; False when the record is already gone (404)."""
        erase = spec.erase
        assert erase is not None  # noqa: S101
        record_id = dig(record, spec.id_field)
        if record_id in (None, _MISSING):
            raise ConnectorError(f"{self._what(erase.method, erase.path)}: a record has no "
                                 f"{spec.id_field!r}; check `id_field` in the map")
        context = {**self._base_context(target), "id": str(record_id)}
        body: dict[str, Any] | None = None
        if erase.method != "DELETE":
            body = copy.deepcopy(record) if erase.method == "PUT" else {}
            for name, field in spec.erased_fields().items():
                put(body, name, self._erased_value(field.erase, target))
            if erase.body_key:
                body = {erase.body_key: body}
        response: Response = self.transport.request(
            erase.method, self.transport.target(_fill(erase.path, context, in_path=True)),
            what=self._what(erase.method, erase.path), body=body,
            ok_statuses=frozenset({404, 410}))
        return response.status not in (404, 410)

    def verify_erased(self, target: Target, identity: Mapping[str, str]) -> list[str]:
        """Read everything again: one sentence per endpoint and field that still holds one of
        the identity's values or a value other than its erased one, or per DELETE endpoint
        that still has records."""
        canonical = canonical_identity(identity)
        values = {v.casefold(): k for k, v in canonical.items()}
        context = {**self._base_context(target),
                   **{k: v for k, v in canonical.items()
                      if k in self.http_map.subject.identity_fields}}
        subject = self.http_map.subject.endpoint
        problems: list[str] = []

        def note(sentence: str) -> None:
            if sentence not in problems:
                problems.append(sentence)

        for name, spec in self.http_map.endpoints.items():
            records: list[dict[str, Any]] = []
            if name == subject:
                record = self._subject_record(target)
                records = [record] if record is not None else []
                if self._fillable(name, context):
                    records += [r for r in self._records(name, context)
                                if self._holds_identity(spec, r, values)]
            elif self._fillable(name, context):
                records = list(self._records(name, context))
            if spec.erase is not None and spec.erase.method == "DELETE" and records:
                note(f"{self.name}: endpoint {name} still holds {len(records)} record(s) of the "
                     "subject; ERASE deletes them")
                continue
            for record in records:
                for field in spec.fields:
                    value = dig(record, field)
                    if value is not _MISSING and value is not None \
                            and str(value).strip().casefold() in values:
                        note(f"{self.name}: endpoint {name}, field {field} still holds the "
                             f"subject's {values[str(value).strip().casefold()]}")
                for field, fspec in spec.erased_fields().items():
                    if dig(record, field) != self._erased_value(fspec.erase, target):
                        note(f"{self.name}: endpoint {name}, field {field} does not hold its "
                             "erased value")
        return problems

    @staticmethod
    def _holds_identity(spec: EndpointSpec, record: dict[str, Any],
                        values: Mapping[str, str]) -> bool:
        return any(str(v).strip().casefold() in values for v in
                   (dig(record, f) for f in spec.fields) if v is not _MISSING and v is not None)

    # -- live check ---------------------------------------------------------------------------
    def check_live(self) -> str:
        """Ask the service's ``live_check_path``: a sentence when it answers (any status but a
        refusal of the credentials or a server error), :class:`ConnectorError` otherwise."""
        path = self.http_map.live_check_path
        answered = frozenset(range(300, 500)) - {401, 403, 407, 429}
        response = self.transport.request("GET", self.transport.target(path),
                                          what=self._what("GET", path), ok_statuses=answered)
        return f"{self.name}: the service answers (GET {path}: {response.status} {response.reason})"


def load_http_connector(path: Path, *, tenant_key: str | None) -> HttpConnector:
    """The connector of one ``connector: http`` map file, for one tenant.

    Raises :class:`~privacyops.datamap.DataMapError` when the map is invalid or an environment
    variable it names is unset, :class:`ConnectorError` when the base URL is not http(s)."""
    return HttpConnector.from_map(load_http_map(path), tenant_key=tenant_key)


__all__ = ["HttpConnector", "dig", "load_http_connector", "next_link", "put"]
