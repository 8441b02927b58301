"""The connector protocol: what the execution layer asks of a datastore, in plain frozen values.

Connectors never see settings, Django models or jobs: the caller passes a :class:`Target`
and callbacks, and gets result dataclasses back.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from privacyops.datamap.schema import DataMap


@dataclass(frozen=True)
class Target:
    """What a job acts on: a scope declared in the data map (``subject``, ``tenant``, ``issuer``…),
    the id of the object in that scope, and the tenant it lives in (None only for a datastore
    that is not shared by tenants). For ``scope="tenant"`` the id is the tenant key itself."""

    scope: str
    id: str
    tenant_key: str | None


@dataclass(frozen=True)
class PreconditionFailure:
    """A data-map precondition that refuses an ERASE, with its rendered sentence."""

    name: str
    count: int
    message: str


class ExportSection(NamedTuple):
    """One export section: its name, column names, and a stream of JSON-ready rows.

    Consume ``rows`` before moving to the next section; the stream shares one connection.
    """

    name: str
    columns: list[str]
    rows: Iterator[dict[str, Any]]


@dataclass(frozen=True)
class TableChange:
    """Rows an ERASE changed (or would change) in one table, and which columns."""

    table: str
    rows: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class EraseResult:
    tables: tuple[TableChange, ...]
    dry_run: bool

    @property
    def rows_changed(self) -> int:
        return sum(change.rows for change in self.tables)

    def by_table(self) -> dict[str, int]:
        return {change.table: change.rows for change in self.tables}


@dataclass(frozen=True)
class PurgeProgress:
    """Reported after each committed chunk: this table's progress and the running total."""

    table: str
    deleted: int
    table_total: int
    total_deleted: int


@dataclass(frozen=True)
class PurgeResult:
    """Rows deleted (or, on a dry run, that would be) per table, in delete order."""

    deleted: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    # Rows a keep rule protects: their personal fields erased instead of the rows deleted.
    anonymised: dict[str, int] = field(default_factory=dict)

    @property
    def rows_deleted(self) -> int:
        return sum(self.deleted.values())


class ConnectorError(Exception):
    """A request the datastore cannot serve, with a sentence saying why."""


class TargetNotFound(ConnectorError):
    """The target does not exist in this datastore (or not in the given tenant)."""


class PreconditionsFailed(ConnectorError):
    """ERASE refused by the data map's preconditions; ``failures`` has one entry per condition."""

    def __init__(self, failures: list[PreconditionFailure]) -> None:
        self.failures = failures
        super().__init__("; ".join(failure.message for failure in failures))


class Datastore(Protocol):
    """What the execution layer needs from any datastore (SQL today, HTTP webhooks later)."""

    datamap: DataMap

    def exists(self, target: Target) -> bool: ...

    def key_text(self, scope: str, raw_id: str) -> str | None: ...

    def canonical_id(self, target: Target) -> str | None: ...

    def subject_keys(self, target: Target) -> list[str]: ...

    def reaches(self, target: Target, scope: str, scope_id: str) -> bool: ...

    def shares_rows(self, target: Target, other: Target) -> bool: ...

    def check_preconditions(self, target: Target) -> list[PreconditionFailure]: ...

    def iter_export(self, target: Target) -> Iterator[ExportSection]: ...

    def section_counts(self, target: Target) -> dict[str, int]: ...

    def erase(
        self,
        target: Target,
        *,
        dry_run: bool = False,
        before_commit: Callable[[], None] | None = None,
    ) -> EraseResult: ...

    def purge(
        self,
        target: Target,
        *,
        chunk_size: int = 1000,
        before_chunk_commit: Callable[[], None] | None = None,
        on_progress: Callable[[PurgeProgress], None] | None = None,
        dry_run: bool = False,
        chunk_guard: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> PurgeResult: ...


def canonical_identity(identity: Mapping[str, str]) -> dict[str, str]:
    """An identity as jobs, holds and requests store it: NFKC, trimmed, emails lower-cased.

    Field names are trimmed and lower-cased too; empty values are dropped."""
    canonical: dict[str, str] = {}
    for raw_name, raw_value in identity.items():
        name = unicodedata.normalize("NFKC", str(raw_name)).strip().lower()
        value = unicodedata.normalize("NFKC", str(raw_value)).strip()
        if not name or not value:
            continue
        canonical[name] = value.casefold() if "email" in name else value
    return canonical


class SystemConnector(Protocol):
    """What a multi-system job asks of every automated system (SQL or HTTP), per subject.

    ``resolve_identity`` answers the canonical primary keys of the subjects whose identity
    fields match (email fields case-insensitively): ``[]`` means "no data here", more than one
    key means the operator must pick. The other methods take a ``Target`` of scope
    ``subject`` whose id is one of those keys.
    """

    def resolve_identity(self, identity: Mapping[str, str],
                         tenant_key: str | None) -> list[str]: ...

    def iter_export(self, target: Target) -> Iterator[ExportSection]: ...

    def erase(
        self,
        target: Target,
        *,
        dry_run: bool = False,
        before_commit: Callable[[], None] | None = None,
    ) -> EraseResult: ...

    def verify_erased(self, target: Target, identity: Mapping[str, str]) -> list[str]:
        """After an erase: one sentence per problem found ("table.column still holds the
        subject's email"), ``[]`` when every erased field holds its erased value and no
        reachable row still holds one of the identity values."""
        ...
