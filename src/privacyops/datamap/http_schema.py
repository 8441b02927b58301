"""The HTTP data map: a service reachable only over HTTP (a CRM, a newsletter service).

Same rules as the SQL data map (``schema``): strict models, unknown keys are errors, every
error names its path. A map says where the service is (an environment variable with the base
URL), how to authenticate (environment variables only: a secret never goes into the file),
and per *endpoint* (one per kind of record) how to read the subject's records, which fields
are personal and how an ERASE masks (PATCH/PUT) or deletes them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from privacyops.datamap.schema import CategoryTaxonomy, FieldSpec

ENV_TEMPLATE = re.compile(r"^[A-Z_][A-Z0-9_]*(\{tenant\}[A-Z0-9_]*)?$")
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_0-9][A-Za-z0-9_\-]*)*$")
# Names of headers and query parameters that carry credentials: a literal value is refused.
SECRET_NAME = re.compile(r"(authori[sz]ation|auth(?!or)|token|secret|passw|api[-_]?key|apikey"
                         r"|^key$|signature|cookie|session|credential)", re.IGNORECASE)
SECRET_KEYS = ("token", "password", "value", "secret", "api_key", "key", "username")


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a path or parameter template."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a valid template ({exc}); write placeholders as "
                         "{name} and a literal brace as {{ or }}") from exc


def _env_name(value: str, what: str) -> str:
    if not ENV_TEMPLATE.match(value):
        hint = (" (it looks like the value itself; never write a URL or a secret into the map)"
                if ("://" in value or len(value) > 40 or not value.isascii()) else "")
        raise ValueError(f"{what} takes the name of an environment variable (upper-case letters, "
                         f"digits, underscores, optionally {{tenant}}), such as CRM_TOKEN{hint}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSpec(_Strict):
    """How requests authenticate; every credential comes from an environment variable."""

    type: Literal["bearer", "basic", "api_key"]
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    header: str | None = None
    value_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secret(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for key in SECRET_KEYS:
                if key in raw:
                    env_key = key if key in ("token", "password", "username") else "value"
                    raise ValueError(
                        f"`{key}:` would put a credential into the map file, which is copied, "
                        "versioned and shown in reviews; put it in an environment variable and "
                        f"write `{env_key}_env: CRM_{env_key.upper()}` (the variable's name) "
                        "instead")
        return raw

    @field_validator("token_env", "username_env", "password_env", "value_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return None if value is None else _env_name(value, "this key")

    @model_validator(mode="after")
    def _complete(self) -> AuthSpec:
        needed = {"bearer": ("token_env",), "basic": ("username_env", "password_env"),
                  "api_key": ("header", "value_env")}[self.type]
        given = {k for k in ("token_env", "username_env", "password_env", "header", "value_env")
                 if getattr(self, k) is not None}
        missing = [k for k in needed if k not in given]
        extra = sorted(given - set(needed))
        if missing or extra:
            raise ValueError(f"`type: {self.type}` takes exactly {', '.join(needed)}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; remove {', '.join(extra)}" if extra else ""))
        if self.header is not None and not re.match(r"^[A-Za-z0-9-]+$", self.header):
            raise ValueError(f"{self.header!r} is not a header name (letters, digits and -)")
        return self

    def env_names(self) -> list[str]:
        return [v for v in (self.token_env, self.username_env, self.password_env, self.value_env)
                if v is not None]


class BehaviourSpec(_Strict):
    """Timeouts, retries and the rate limit; the defaults suit most services."""

    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    max_backoff_seconds: float = Field(default=30.0, ge=0, le=3600)
    rate_limit_per_second: float = Field(default=10.0, gt=0, le=10_000)
    max_pages: int = Field(default=1000, ge=1)


class PaginationSpec(_Strict):
    """How a listing continues: a page number, a cursor from the body, or a ``Link`` header."""

    type: Literal["page", "cursor", "link"]
    page_param: str | None = None
    start: int | None = None
    size_param: str | None = None
    size: int | None = Field(default=None, gt=0)
    cursor_field: str | None = None
    cursor_param: str | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> PaginationSpec:
        allowed = {"page": {"page_param", "start", "size_param", "size"},
                   "cursor": {"cursor_field", "cursor_param"}, "link": set()}[self.type]
        extra = sorted(self.model_fields_set - allowed - {"type"})
        if extra:
            raise ValueError(f"`type: {self.type}` does not take {', '.join(extra)} "
                             f"(it takes: {', '.join(sorted(allowed)) or 'nothing else'})")
        if self.type == "cursor" and (self.cursor_field is None or self.cursor_param is None):
            raise ValueError("`type: cursor` needs cursor_field (where the next cursor is in the "
                             "body, dotted: meta.next_cursor) and cursor_param (the query "
                             "parameter that sends it back)")
        if self.cursor_field is not None and not FIELD_PATH.match(self.cursor_field):
            raise ValueError(f"cursor_field {self.cursor_field!r} is not a dotted field path")
        if self.size_param is not None and self.size is None:
            raise ValueError("size_param needs size (the number of records per page)")
        return self

    @property
    def first_page(self) -> int:
        return 1 if self.start is None else self.start

    @property
    def page_parameter(self) -> str:
        return self.page_param or "page"


def _check_params(params: dict[str, Any]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, dict | list) or value is None:
            raise ValueError(f"parameter {name!r} takes one value (text, number or boolean)")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if SECRET_NAME.search(name) and not re.fullmatch(r"\{[a-z_]+\}", text):
            raise ValueError(f"parameter {name!r} looks like a credential; a secret never goes "
                             "into the map: authenticate with `auth:` (its values come from "
                             "environment variables)")
        placeholders(text)
        checked[name] = text
    return checked


class ReadSpec(_Strict):
    """The listing that returns the subject's records of one endpoint."""

    method: Literal["GET"] = "GET"
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    records: str = ""
    pagination: PaginationSpec | None = None

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, raw: Any) -> Any:
        return _check_params(raw) if isinstance(raw, dict) else raw

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)

    @field_validator("records")
    @classmethod
    def _records(cls, value: str) -> str:
        if value and not FIELD_PATH.match(value):
            raise ValueError(f"{value!r} is not a dotted field path such as data.items ('' when "
                             "the body itself is the list)")
        return value


class GetSpec(_Strict):
    """The request that returns one subject record by its id (``/contacts/{subject_id}``)."""

    path: str
    record: str = ""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)

    @field_validator("record")
    @classmethod
    def _record(cls, value: str) -> str:
        if value and not FIELD_PATH.match(value):
            raise ValueError(f"{value!r} is not a dotted field path such as data")
        return value


class EraseRequestSpec(_Strict):
    """What ERASE sends per record: PATCH/PUT with the masked fields, or DELETE."""

    method: Literal["PATCH", "PUT", "DELETE"]
    path: str
    body_key: str | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, raw: Any) -> Any:
        return raw.upper() if isinstance(raw, str) else raw

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)

    @model_validator(mode="after")
    def _body(self) -> EraseRequestSpec:
        if self.method == "DELETE" and self.body_key is not None:
            raise ValueError("DELETE sends no body; remove body_key")
        return self


def _check_path(value: str) -> str:
    if not value.startswith("/") or "://" in value:
        raise ValueError(f"{value!r}: write a path relative to the base URL, starting with /")
    if "?" in value:
        raise ValueError(f"{value!r}: put query parameters under `params:`, not in the path")
    if any(c.isspace() for c in value):
        raise ValueError(f"{value!r}: a path has no spaces; write %20 for a literal space")
    placeholders(value)
    return value


class EndpointSpec(_Strict):
    """One kind of record the service holds about people (contacts, subscriptions…)."""

    section: str | None = None
    export: bool = True
    id_field: str = "id"
    read: ReadSpec
    get: GetSpec | None = None
    match: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    erase: EraseRequestSpec | None = None

    @field_validator("id_field")
    @classmethod
    def _id(cls, value: str) -> str:
        if not FIELD_PATH.match(value):
            raise ValueError(f"{value!r} is not a field path")
        return value

    @field_validator("fields")
    @classmethod
    def _field_paths(cls, fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in fields:
            if not FIELD_PATH.match(name):
                raise ValueError(f"field {name!r} is not a field path (letters, digits, _ and -, "
                                 "nested fields as profile.phone)")
        return fields

    def erased_fields(self) -> dict[str, FieldSpec]:
        """Fields a PATCH/PUT ERASE rewrites (none for DELETE)."""
        if self.erase is None or self.erase.method == "DELETE":
            return {}
        return {name: f for name, f in self.fields.items() if f.erase.kind != "keep"}


class HttpSubjectSpec(_Strict):
    """The subject: the endpoint whose records are people, and how identities match them."""

    endpoint: str
    identity_fields: list[str] = Field(min_length=1)
    # Identity field -> the record's field holding it (default: the same name).
    identity: dict[str, str] = Field(default_factory=dict)

    @field_validator("identity_fields")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"identity field {name!r}: use lower-case letters, digits and _")
        return names

    def record_field(self, identity_field: str) -> str:
        return self.identity.get(identity_field, identity_field)


class HttpMap(CategoryTaxonomy):
    """One HTTP service: where it is, how to authenticate, its subject and endpoints."""

    connector: Literal["http"]
    version: Literal[1] = 1
    name: str = Field(min_length=1)
    description: str | None = None
    base_url_env: str | None = None
    base_url: str | None = None
    auth: AuthSpec | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    behaviour: BehaviourSpec = Field(default_factory=BehaviourSpec)
    live_check_path: str = "/"
    subject: HttpSubjectSpec
    endpoints: dict[str, EndpointSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", value):
            raise ValueError(f"{value!r}: use letters, digits, '.', '_' and '-'")
        return value

    @field_validator("base_url_env")
    @classmethod
    def _base_env(cls, value: str | None) -> str | None:
        return None if value is None else _env_name(value, "base_url_env")

    @field_validator("base_url")
    @classmethod
    def _literal_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/@?#\s]+(/[^?#\s]*)?$", value):
            raise ValueError(
                "a literal base_url must be a plain http(s) URL without user:password@, query "
                "or fragment, because those carry credentials; put such a URL in an environment "
                "variable and write `base_url_env: CRM_BASE_URL` instead")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if not re.match(r"^[A-Za-z0-9-]+$", name):
                raise ValueError(f"{name!r} is not a header name (letters, digits and -)")
            if any(c in headers[name] for c in "\r\n"):
                raise ValueError(f"header {name!r}: a value is one line")
            if SECRET_NAME.search(name):
                raise ValueError(f"header {name!r} carries a credential, which never goes into "
                                 "the map; use `auth:` (bearer, basic or api_key, with the value "
                                 "in an environment variable)")
        return headers

    @field_validator("live_check_path")
    @classmethod
    def _live_path(cls, value: str) -> str:
        return _check_path(value)

    @model_validator(mode="after")
    def _one_base_url(self) -> HttpMap:
        if (self.base_url_env is None) == (self.base_url is None):
            raise ValueError("give exactly one of base_url_env (the environment variable holding "
                             "the service's base URL, the usual case) or base_url (a plain URL "
                             "without credentials)")
        return self

    def special_categories_of(self, endpoint: str, fields: Iterable[str] | None = None
                              ) -> list[str]:
        """Special categories among an endpoint's fields (or only the given ones), sorted."""
        spec = self.endpoints.get(endpoint)
        return [] if spec is None else self.special_categories_among(spec.fields, fields)

    def special_categories_in_tables(
            self, columns_by_table: Mapping[str, Iterable[str] | None]) -> dict[str, list[str]]:
        """Endpoint -> special categories among the given fields (``None``: all), for the
        endpoints that hold any: what a dry run or an erase result marks (as the SQL map's)."""
        found = {name: self.special_categories_of(name, fields)
                 for name, fields in columns_by_table.items()}
        return {name: cats for name, cats in found.items() if cats}

    def special_categories_exported(self) -> list[str]:
        """Special categories an export package of this service contains."""
        return sorted({c for name, spec in self.endpoints.items() if spec.export
                       for c in self.special_categories_of(
                           name, [f for f, fs in spec.fields.items() if fs.export])})

    def section_name(self, endpoint: str) -> str:
        return self.endpoints[endpoint].section or endpoint

    def erase_order(self) -> list[str]:
        """Endpoints in the order ERASE visits them: the subject's own records last, so a run
        that stops half-way can still find the other records by the subject's identity."""
        names = [n for n in self.endpoints if n != self.subject.endpoint]
        return [*names, self.subject.endpoint]

    def env_names(self) -> list[str]:
        names = [self.base_url_env] if self.base_url_env else []
        return names + (self.auth.env_names() if self.auth else [])


__all__ = [
    "AuthSpec",
    "BehaviourSpec",
    "EndpointSpec",
    "EraseRequestSpec",
    "GetSpec",
    "HttpMap",
    "HttpSubjectSpec",
    "PaginationSpec",
    "ReadSpec",
    "placeholders",
]
