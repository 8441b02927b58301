"""The data-map schema: what one datastore holds about people, and how to export, erase and purge it.

A data map is the only thing the platform knows about an organisation's database, so it is
validated strictly (unknown keys are errors, not silently ignored) and every error names the
path of the offending key. Structural checks live here (pydantic); checks across sections
(relation targets, column references, reachability, delete order) live in ``loader``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STANDARD_CATEGORIES: dict[str, str] = {
    "identity": "who the person is: names, identifiers, date of birth",
    "contact": "how to reach them: email, phone, postal address",
    "location": "where they are or were: addresses, coordinates, places",
    "financial": "bank accounts, cards, payments, salary",
    "employment": "job title, department, manager, employment status",
    "credential": "passwords, tokens, single sign-on subjects",
    "behavioral": "what they did: logins, clicks, preferences, consents",
    "device": "devices they use: device ids, user agents",
    "free_text": "text anyone typed, which may hold anything",
    "technical": "ids, timestamps and markers with little meaning on their own",
    "other": "anything else",
}
SPECIAL_CATEGORIES: dict[str, str] = {
    "health": "GDPR Art. 9: physical or mental health, care received",
    "genetic": "GDPR Art. 9: genetic data",
    "biometric": "GDPR Art. 9: biometric data that identifies a person",
    "racial_ethnic_origin": "GDPR Art. 9: racial or ethnic origin",
    "political_opinion": "GDPR Art. 9: political opinions",
    "religious_belief": "GDPR Art. 9: religious or philosophical beliefs",
    "trade_union": "GDPR Art. 9: trade-union membership",
    "sex_life": "GDPR Art. 9: sex life or sexual orientation",
    "criminal": "GDPR Art. 10: criminal convictions and offences",
}
BUILTIN_CATEGORIES = {**STANDARD_CATEGORIES, **SPECIAL_CATEGORIES}
# Names earlier data maps may use for a built-in category (none differ today; kept so a renamed
# category never breaks a map already in use).
CATEGORY_ALIASES: dict[str, str] = {"free-text": "free_text", "behavioural": "behavioral"}
DisplayRole = Literal[
    "name", "email", "employee_id", "job_title", "department", "status", "last_login"
]
EraseKind = Literal["null", "set", "pseudonym", "hash", "keep"]

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
PSEUDONYM_PLACEHOLDERS = frozenset({"id", "tenant"})
ERASE_HELP = (
    'expected one of: null, keep, hash, {set: <value>} or {pseudonym: "erased-user-{id}@erased.local"}'
)


def _identifier(value: str, what: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{what} {value!r} is not a plain SQL identifier; use letters, digits and underscores"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EraseAction(_Strict):
    """What ERASE writes into one column: ``null``, a fixed value, a pseudonym, an HMAC or nothing."""

    kind: EraseKind
    value: Any = None

    @classmethod
    def parse(cls, raw: Any) -> EraseAction:
        if isinstance(raw, EraseAction):
            return raw
        if raw is None or raw == "null":
            return cls(kind="null")
        if raw in ("hash", "keep"):
            return cls(kind=raw)
        if isinstance(raw, dict) and len(raw) == 1:
            ((key, value),) = raw.items()
            if key == "set":
                if isinstance(value, dict | list):
                    raise ValueError("`set` takes a single value (text, number, boolean or null)")
                return cls(kind="set", value=value)
            if key == "pseudonym":
                if not isinstance(value, str):
                    raise ValueError('`pseudonym` takes a text template such as "erased-{id}"')
                names = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
                unknown = names - PSEUDONYM_PLACEHOLDERS
                if unknown:
                    raise ValueError(
                        f"pseudonym template uses {sorted(unknown)}; only {{id}} (the subject's id)"
                        " and {tenant} are available"
                    )
                return cls(kind="pseudonym", value=value)
        raise ValueError(f"{raw!r} is not an erase action; {ERASE_HELP}")

    def pseudonym_for(self, subject_id: str, tenant_key: str | None) -> str:
        return str(self.value).format(id=subject_id, tenant=tenant_key or "")


class FieldSpec(_Strict):
    """One column holding data about a person. Columns not declared are never read or written."""

    category: str
    export: bool = True
    erase: EraseAction = Field(default_factory=lambda: EraseAction(kind="keep"))

    @field_validator("category", mode="before")
    @classmethod
    def _alias(cls, raw: Any) -> Any:
        return CATEGORY_ALIASES.get(raw, raw) if isinstance(raw, str) else raw

    @property
    def erase_declared(self) -> bool:
        return "erase" in self.model_fields_set

    @field_validator("erase", mode="before")
    @classmethod
    def _parse_erase(cls, raw: Any) -> EraseAction:
        return EraseAction.parse(raw)


class Relation(_Strict):
    """Ownership: rows of this entity belong to the ``to`` row their ``via`` column(s) point at.

    Several ``via`` columns mean OR (an activity row belongs to its actor and to its subject).
    Ownership is what PURGE follows: purging the parent deletes these rows.
    """

    to: str
    via: list[str] = Field(min_length=1)

    @field_validator("via", mode="before")
    @classmethod
    def _one_or_many(cls, raw: Any) -> Any:
        return [raw] if isinstance(raw, str) else raw

    @field_validator("via")
    @classmethod
    def _identifiers(cls, via: list[str]) -> list[str]:
        return [_identifier(column, "column") for column in via]


class Reference(_Strict):
    """A nullable pointer that is *not* ownership (``people.manager_id``, ``orders.shipping_address_id``).

    PURGE never deletes a row because of a reference; it sets the column to NULL on rows that
    point at a purged row (before deleting it), so other people's records survive intact.
    """

    to: str
    via: str
    on_purge: Literal["set_null"] = "set_null"

    @field_validator("via")
    @classmethod
    def _identifier(cls, via: str) -> str:
        return _identifier(via, "column")


DURATION = re.compile(r"^\s*(\d+)\s*(d|w|y)\s*$")
DURATION_HELP = "write a whole number followed by d (days), w (weeks) or y (years), such as 730d or 10y"
FILTER_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null")


class Duration(_Strict):
    """A period such as ``730d``, ``6w`` or ``10y`` (calendar years: same date N years earlier)."""

    amount: int
    unit: Literal["d", "w", "y"]

    @classmethod
    def parse(cls, raw: Any) -> Duration:
        if isinstance(raw, Duration):
            return raw
        match = DURATION.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise ValueError(f"{raw!r} is not a period; {DURATION_HELP}")
        amount = int(match.group(1))
        if amount < 1:
            raise ValueError(f"{raw!r}: a period must be at least 1{match.group(2)}")
        return cls(amount=amount, unit=match.group(2))  # type: ignore[arg-type]

    def before(self, moment: datetime) -> datetime:
        """The moment this period before ``moment`` (29 February becomes 28 February)."""
        if self.unit == "d":
            return moment - timedelta(days=self.amount)
        if self.unit == "w":
            return moment - timedelta(weeks=self.amount)
        year = moment.year - self.amount
        try:
            return moment.replace(year=year)
        except ValueError:
            return moment.replace(year=year, day=28)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def _duration(raw: Any) -> Duration:
    return Duration.parse(raw)


class FilterSpec(_Strict):
    """One condition of a retention rule: a column, an operator from a fixed set and a value."""

    column: str
    op: Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null"] = "="
    value: Any = None

    @field_validator("column")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _identifier(value, "column")

    @field_validator("op", mode="before")
    @classmethod
    def _known_op(cls, raw: Any) -> Any:
        if isinstance(raw, str) and raw.strip().lower() in FILTER_OPERATORS:
            return " ".join(raw.strip().lower().split())
        raise ValueError(f"{raw!r} is not an operator; use one of: {', '.join(FILTER_OPERATORS)}")

    @model_validator(mode="after")
    def _value_fits(self) -> FilterSpec:
        if self.op in ("in", "not in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"`{self.op}` takes a non-empty list of values: value: [a, b]")
            if any(isinstance(v, dict | list) for v in self.value):
                raise ValueError(f"`{self.op}` takes plain values (text, numbers, booleans)")
        elif self.op in ("is null", "is not null"):
            if "value" in self.model_fields_set:
                raise ValueError(f"`{self.op}` takes no value; remove `value`")
        elif self.value is None or isinstance(self.value, dict | list):
            raise ValueError(f"`{self.op}` takes one plain value (text, number or boolean); "
                             "to match a missing value use op: is null")
        return self


class RetentionSpec(_Strict):
    """Rows of this entity older than ``after`` (counted from ``from``) are purged or erased."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    after: Duration
    from_: str = Field(alias="from")
    action: Literal["purge", "erase"] = "purge"
    where: list[FilterSpec] = Field(default_factory=list)

    @field_validator("after", mode="before")
    @classmethod
    def _period(cls, raw: Any) -> Duration:
        return _duration(raw)

    @field_validator("from_")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _identifier(value, "column")

    def describe(self) -> str:
        condition = "".join(
            f" where {f.column} {f.op}" + ("" if f.op.startswith("is") else f" {f.value!r}")
            for f in self.where)
        return f"{self.action} {self.after} after {self.from_}{condition}"


class KeepSpec(_Strict):
    """A statutory keep rule: rows stay (anonymised on PURGE) until ``for`` after ``from``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    for_: Duration = Field(alias="for")
    from_: str = Field(alias="from")
    reason: str = Field(min_length=1)

    @field_validator("for_", mode="before")
    @classmethod
    def _period(cls, raw: Any) -> Duration:
        return _duration(raw)

    @field_validator("from_")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _identifier(value, "column")

    def describe(self) -> str:
        return f"kept {self.for_} after {self.from_} ({self.reason})"


class EntitySpec(_Strict):
    """One table. ``tenant_column`` overrides the datastore's (``null``: this table has none)."""

    table: str
    primary_key: str
    tenant_column: str | None = None
    relations: list[Relation] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    retention: RetentionSpec | None = None
    keep: KeepSpec | None = None
    purposes: list[str] = Field(default_factory=list)
    legal_basis: str | None = None
    recipients: list[str] = Field(default_factory=list)

    @field_validator("purposes", "recipients", mode="before")
    @classmethod
    def _one_or_many(cls, raw: Any) -> Any:
        return [raw] if isinstance(raw, str) else raw

    @property
    def effective_retention(self) -> RetentionSpec | None:
        """The entity's retention rule; a keep rule alone deletes the rows when it ends."""
        if self.retention is not None or self.keep is None:
            return self.retention
        return RetentionSpec.model_validate(
            {"after": self.keep.for_, "from": self.keep.from_, "action": "purge"})

    @field_validator("table", "primary_key")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _identifier(value, "name")

    @property
    def declares_tenant_column(self) -> bool:
        return "tenant_column" in self.model_fields_set


class MarkerSpec(_Strict):
    """A column a job fills to mark a row (``value: now`` writes the current UTC time): ERASE
    fills ``erased_marker`` and ``soft_delete``, RESTRICT fills ``restriction_marker`` (and a
    lifted restriction sets it back to NULL)."""

    column: str
    value: Any = "now"


class SubjectSpec(_Strict):
    """The data subject: the entity whose rows are people, and how to find and show them."""

    entity: str
    identity_fields: list[str] = Field(min_length=1)
    display_fields: dict[DisplayRole, str] = Field(default_factory=dict)
    erased_marker: MarkerSpec | None = None
    soft_delete: MarkerSpec | None = None
    # GDPR Art. 18: set while the subject's data may only be stored, not otherwise processed.
    restriction_marker: MarkerSpec | None = None

    def markers(self) -> dict[str, MarkerSpec]:
        """The declared markers by their key in the map (``erased_marker``, …)."""
        found = {"erased_marker": self.erased_marker, "soft_delete": self.soft_delete,
                 "restriction_marker": self.restriction_marker}
        return {key: marker for key, marker in found.items() if marker is not None}


class PerTenantConnection(_Strict):
    url_env_template: str

    @field_validator("url_env_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{tenant}" not in value or not ENV_VAR.match(value.replace("{tenant}", "X")):
            raise ValueError(
                "expected an environment variable name containing {tenant}, "
                'such as "SHOP_DB_{tenant}" (upper-case letters, digits, underscores)'
            )
        return value


class ConnectionSpec(_Strict):
    """Where the datastore is: an environment variable holding its URL, never the URL itself."""

    url_env: str | None = None
    url: str | None = None
    per_tenant: PerTenantConnection | None = None

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_VAR.match(value):
            raise ValueError(
                f"{value!r} is not an environment variable name; write the variable's name "
                "(upper-case letters, digits, underscores), such as SHOP_DATABASE_URL"
            )
        return value

    @field_validator("url")
    @classmethod
    def _sqlite_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("sqlite:"):
            raise ValueError(
                "a literal url is only allowed for sqlite: files, because any other database URL "
                "carries credentials; put the URL in an environment variable and write "
                "`url_env: SHOP_DATABASE_URL` instead"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ConnectionSpec:
        given = [k for k in ("url_env", "url", "per_tenant") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of url_env (an environment variable with the URL), url (sqlite: "
                f"files only) or per_tenant (a database per tenant); found {given or 'none'}"
            )
        return self


class LookupSpec(_Strict):
    """Columns of a parent row shown next to each exported row (the asset's tag on an assignment)."""

    via: str
    entity: str
    columns: dict[str, str] = Field(min_length=1)


class SectionSpec(_Strict):
    """One section of the export document, in document order."""

    name: str
    entity: str
    order_by: str | None = None
    limit: int | None = Field(default=None, gt=0)
    fields: list[str] | None = None
    lookups: list[LookupSpec] = Field(default_factory=list)

    @field_validator("order_by")
    @classmethod
    def _order(cls, value: str | None) -> str | None:
        if value is not None:
            _identifier(value.removeprefix("-"), "order_by column")
        return value

    @property
    def order_column(self) -> str | None:
        return None if self.order_by is None else self.order_by.removeprefix("-")

    @property
    def descending(self) -> bool:
        return bool(self.order_by and self.order_by.startswith("-"))


class PreconditionSpec(_Strict):
    """Rows that refuse an ERASE while they exist (``{count}`` in the message is their number)."""

    name: str
    entity: str
    where: dict[str, Any] = Field(default_factory=dict)
    message: str

    @field_validator("where")
    @classmethod
    def _conditions(cls, where: dict[str, Any]) -> dict[str, Any]:
        for column, condition in where.items():
            if isinstance(condition, dict) and (
                len(condition) != 1 or next(iter(condition)) not in ("not", "in")
            ):
                raise ValueError(
                    f"condition on {column!r} must be a value, null, {{not: <value or null>}} "
                    "or {in: [<values>]}"
                )
            if isinstance(condition, list):
                raise ValueError(f"condition on {column!r}: write a list as {{in: [...]}}")
        return where


class CategorySpec(_Strict):
    """A category the map declares besides the built-in ones (``loyalty``, ``telemetry``…).

    ``special: true`` treats it like a GDPR Art. 9 category: marked in dry runs, job results and
    export packages, and every field in it needs an erase action.
    """

    description: str
    special: bool = False


class CategoryTaxonomy(_Strict):
    """A map's own categories beside the built-in taxonomy (SQL and HTTP maps alike)."""

    categories: dict[str, CategorySpec] = Field(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _custom_categories(cls, categories: dict[str, CategorySpec]) -> dict[str, CategorySpec]:
        for name in categories:
            if name in BUILTIN_CATEGORIES or name in CATEGORY_ALIASES:
                raise ValueError(f"{name!r} is a built-in category; remove it from `categories`")
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"category {name!r}: use lower-case letters, digits and _")
        return categories

    def category_names(self) -> set[str]:
        """Every category a field may name: the built-in taxonomy and the map's own."""
        return set(BUILTIN_CATEGORIES) | set(self.categories)

    def is_special(self, category: str) -> bool:
        """GDPR Art. 9 or Art. 10 data, or a custom category declared ``special: true``."""
        custom = self.categories.get(category)
        return category in SPECIAL_CATEGORIES or (custom is not None and custom.special)

    def special_categories_among(self, fields: Mapping[str, FieldSpec],
                                 names: Iterable[str] | None = None) -> list[str]:
        """Special categories among these fields (or only those named), sorted."""
        wanted = set(fields) if names is None else set(names)
        return sorted({f.category for name, f in fields.items()
                       if name in wanted and self.is_special(f.category)})


class DataMap(CategoryTaxonomy):
    """One datastore: its connection, tenancy, subject, entities, export sections, preconditions."""

    version: Literal[1] = 1
    name: str
    description: str | None = None
    connection: ConnectionSpec
    tenant_column: str | None = None
    subject: SubjectSpec
    scopes: dict[str, str] = Field(default_factory=dict)
    entities: dict[str, EntitySpec] = Field(min_length=1)
    sections: list[SectionSpec] = Field(default_factory=list)
    preconditions: list[PreconditionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tenancy(self) -> DataMap:
        if self.connection.per_tenant is not None and self.tenant_column is not None:
            raise ValueError(
                "a database per tenant (connection.per_tenant) has no tenant column; "
                "remove tenant_column or connect with url_env to a shared database"
            )
        return self

    def special_categories_of(self, entity: str, columns: Iterable[str] | None = None) -> list[str]:
        """Special categories among an entity's fields (or only the given columns), sorted."""
        spec = self.entities.get(entity)
        return [] if spec is None else self.special_categories_among(spec.fields, columns)

    def special_categories_in_tables(
        self, columns_by_table: Mapping[str, Iterable[str] | None]
    ) -> dict[str, list[str]]:
        """Table → special categories among the given columns (``None``: all its fields), for
        the tables that hold any: what a dry run or an erase result marks."""
        found: dict[str, set[str]] = {}
        for name, spec in self.entities.items():
            if spec.table in columns_by_table:
                cats = self.special_categories_of(name, columns_by_table[spec.table])
                if cats:
                    found.setdefault(spec.table, set()).update(cats)
        return {table: sorted(cats) for table, cats in found.items()}

    def special_categories_exported(self) -> list[str]:
        """Special categories an export package of this datastore contains (its manifest says so)."""
        found: set[str] = set()
        for section in self.sections:
            spec = self.entities[section.entity]
            columns = section.fields if section.fields is not None else [
                c for c, f in spec.fields.items() if f.export]
            found.update(self.special_categories_of(section.entity, columns))
            for lookup in section.lookups:
                found.update(self.special_categories_of(lookup.entity, [
                    c for alias, c in lookup.columns.items()
                    if section.fields is None or alias in section.fields]))
        return sorted(found)

    @property
    def is_shared(self) -> bool:
        """Whether tenants share this datastore, so every query must filter on the tenant."""
        return self.tenant_column is not None

    def scope_entities(self) -> dict[str, str | None]:
        """Every scope a job may target, mapped to its entity (``tenant`` may have none)."""
        scopes: dict[str, str | None] = {"subject": self.subject.entity, "tenant": None}
        scopes.update(self.scopes)
        return scopes

    def tenant_column_of(self, entity: str) -> str | None:
        """The column holding the tenant key on this entity's table, on a shared datastore."""
        if not self.is_shared:
            return None
        spec = self.entities[entity]
        if spec.declares_tenant_column:
            return spec.tenant_column
        if self.scopes.get("tenant") == entity:
            return spec.primary_key
        return self.tenant_column

    def retention_columns(self, entity: str) -> set[str]:
        """Columns the entity's retention and keep rules read (they need not be fields)."""
        spec = self.entities[entity]
        columns: set[str] = set()
        if spec.retention is not None:
            columns.add(spec.retention.from_)
            columns.update(f.column for f in spec.retention.where)
        if spec.keep is not None:
            columns.add(spec.keep.from_)
        return columns

    def retention_entities(self) -> list[str]:
        """Entities with a retention rule (explicit, or implied by a keep rule), map order."""
        return [name for name, spec in self.entities.items()
                if spec.effective_retention is not None]

    def known_columns(self, entity: str) -> set[str]:
        """Columns a data map may mention on an entity: fields, keys, relation columns."""
        spec = self.entities[entity]
        columns = {spec.primary_key, *spec.fields}
        columns.update(column for relation in spec.relations for column in relation.via)
        columns.update(reference.via for reference in spec.references)
        tenant_column = self.tenant_column_of(entity)
        if tenant_column:
            columns.add(tenant_column)
        return columns
