"""Generate the demo datastore: an IT-asset workspace application's own SQLite database.

The platform's demo exports, erases and purges people in this file, so it has to look like a
real tenant database: several workspaces, managers, SSO and password logins, hardware and
licences (some returned, so that part of the people can be erased and part cannot), requests,
and an activity log that points at people both as actor and as subject.

Generation is deterministic for a given ``seed`` and ``now``, holds one batch of people in
memory at a time (a million people work), and writes into a hidden sibling file that is renamed
onto the target only once complete, so an interrupted run never leaves a half-filled datastore.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import sys
import time
import unicodedata
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from faker import Faker
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    exists,
    literal,
    or_,
    select,
)
from sqlalchemy import table as table_clause
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateTable
from tqdm import tqdm

from privacyops.demo.schema import (
    TIMESTAMP_FORMAT,
    activity_log,
    asset_requests,
    assets,
    create_schema,
    hardware_assignments,
    people,
    software,
    software_assignments,
    sso_issuers,
    workspaces,
)
from privacyops.demo.schema import metadata as demo_metadata

ROWS_PER_INSERT = 5_000
PEOPLE_PER_TRANSACTION = 2_000
_IN_CHUNK = 900  # below SQLite's historical limit of 999 bound parameters
_NAME_POOL_SIZE = 1_500
_DAY = 86_400
_SQLITE_HEADER = b"SQLite format 3\x00"

_Record = dict[str, Any]
_T = TypeVar("_T")


@dataclass(frozen=True)
class DemoWorkspace:
    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class DemoSummary:
    """What a generation run wrote: rows per table and the workspaces to point the demo at."""

    path: Path
    seed: int
    workspaces: tuple[DemoWorkspace, ...]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class DemoPersonHint:
    """A person worth naming in demo instructions (log in as, erase, try to erase)."""

    id: int
    email: str
    role: str
    has_active_assignments: bool


# --------------------------------------------------------------------------- reference data

_WORKSPACE_NAMES: tuple[tuple[str, str], ...] = (
    ("acme", "Acme Corporation"),
    ("globex", "Globex Corporation"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella Corporation"),
    ("hooli", "Hooli"),
    ("vandelay", "Vandelay Industries"),
    ("soylent", "Soylent Corp"),
    ("cyberdyne", "Cyberdyne Systems"),
    ("tyrell", "Tyrell Corporation"),
    ("wonka", "Wonka Industries"),
)

_DEPARTMENTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Engineering", 30, ("Software Engineer", "Senior Software Engineer", "Staff Engineer",
                         "Engineering Manager", "QA Engineer", "Site Reliability Engineer")),
    ("Product", 6, ("Product Manager", "Senior Product Manager", "Product Analyst")),
    ("Design", 4, ("Product Designer", "UX Researcher", "Design Lead")),
    ("Sales", 16, ("Account Executive", "Sales Development Representative", "Sales Manager",
                   "Solutions Engineer")),
    ("Marketing", 7, ("Marketing Manager", "Content Strategist", "Growth Marketer")),
    ("Customer Success", 12, ("Customer Success Manager", "Support Specialist",
                              "Support Team Lead")),
    ("Finance", 5, ("Accountant", "Financial Analyst", "Controller")),
    ("People", 4, ("HR Business Partner", "Recruiter", "People Operations Specialist")),
    ("Legal", 2, ("Legal Counsel", "Privacy Counsel", "Paralegal")),
    ("Operations", 6, ("Operations Manager", "Office Manager", "Business Analyst")),
    ("IT", 5, ("IT Support Specialist", "Systems Administrator", "IT Manager")),
    ("Security", 3, ("Security Engineer", "Security Analyst")),
)

_PRIVILEGED_JOBS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "super-admin": (("IT", "IT Director"), ("Operations", "Chief Operating Officer")),
    "admin": (("IT", "IT Manager"), ("People", "People Operations Specialist")),
    "it-admin": (("IT", "Systems Administrator"), ("IT", "IT Support Specialist")),
}

_SSO_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("Okta", "https://{slug}.okta.example.com/saml2/metadata"),
    ("Microsoft Entra ID", "https://login.example.com/{uuid}/saml2"),
    ("Google Workspace", "https://accounts.example.com/o/saml2?idpid={code}"),
)

_SOFTWARE_CATALOGUE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Microsoft 365", ("Business Standard", "E3", "E5")),
    ("Google Workspace", ("Business Starter", "Business Standard", "Enterprise")),
    ("Slack", ("Pro", "Business+", "Enterprise Grid")),
    ("Zoom", ("Pro", "Business")),
    ("Jira Software", ("Standard", "Premium")),
    ("Confluence", ("Standard", "Premium")),
    ("GitHub", ("Team", "Enterprise")),
    ("Figma", ("Professional", "Organization")),
    ("Adobe Creative Cloud", ("All Apps", "Photography")),
    ("1Password", ("Business",)),
    ("Salesforce", ("Sales Cloud Professional", "Sales Cloud Enterprise")),
    ("HubSpot", ("Marketing Hub Professional",)),
    ("Notion", ("Plus", "Business")),
    ("Miro", ("Starter", "Business")),
    ("JetBrains", ("All Products Pack", "IntelliJ IDEA Ultimate")),
    ("Tableau", ("Creator", "Viewer")),
    ("Zendesk", ("Suite Team", "Suite Professional")),
    ("DocuSign", ("Standard", "Business Pro")),
    ("Dropbox", ("Business", "Business Plus")),
    ("Asana", ("Premium", "Business")),
    ("Datadog", ("Pro",)),
    ("Postman", ("Basic", "Professional")),
    ("Loom", ("Business",)),
    ("Workday", ("HCM",)),
)
_USERNAME_ACCOUNTS = frozenset({"GitHub", "JetBrains", "Datadog"})

_HARDWARE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("laptop", ('MacBook Pro 14" (M3 Pro)', 'MacBook Air 13" (M2)', "Dell Latitude 7440",
                "Lenovo ThinkPad X1 Carbon Gen 11", "HP EliteBook 840 G10")),
    ("monitor", ("Dell UltraSharp U2723QE", "LG 27UP850-W", "Apple Studio Display")),
    ("phone", ("iPhone 15", "iPhone 14", "Google Pixel 8", "Samsung Galaxy S23")),
    ("tablet", ("iPad Air (5th generation)", 'iPad Pro 11"')),
    ("headset", ("Jabra Evolve2 65", "Poly Voyager Focus 2", "Sony WH-1000XM5")),
    ("dock", ("CalDigit TS4", "Dell WD22TB4")),
)
_RETURN_CONDITIONS = ("excellent", "good", "good", "good", "fair", "fair", "damaged")

_REQUEST_TITLES: Mapping[str, tuple[str, ...]] = {
    "hardware": ("New laptop", "Second monitor", "Noise-cancelling headset", "Docking station",
                 "Mobile phone"),
    "software": ("Figma licence", "JetBrains licence", "Adobe Creative Cloud licence",
                 "Tableau Creator seat", "Miro Business seat"),
    "access": ("Access to the finance Confluence space", "Admin access to Jira",
               "Access to the production Datadog account", "Salesforce reporting access"),
    "replacement": ("Replacement charger", "Replacement laptop battery", "Replacement keyboard"),
    "repair": ("Cracked screen repair", "Laptop fan is very loud", "Dock drops the external display"),
}
_JUSTIFICATIONS = (
    "My current laptop's battery no longer lasts through a meeting.",
    "I am joining the design review rotation next month.",
    "Needed for the customer onboarding project starting this quarter.",
    "The device was damaged while travelling to a client site.",
    "My manager asked me to take over reporting for the team.",
    "I work from two locations and carry the charger back and forth.",
    "The open-plan office is too loud for customer calls.",
    "Required by the new on-call rotation.",
    "Replacing a licence that expired with the previous vendor.",
    "Temporary access for the quarterly audit.",
    "Onboarding a new hire in my team who needs the same setup.",
    "The screen flickers when connected to the dock.",
)
_USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
_DOCUMENTATION_NETWORKS = ("192.0.2", "198.51.100", "203.0.113")  # RFC 5737
_PHONE_AREA_CODES = ("202", "212", "312", "415", "512", "617", "646", "720", "206", "303")
_ARGON2_PARAMETERS = "$argon2id$v=19$m=65536,t=3,p=4$"
_SERIAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"



class _Weighted(Generic[_T]):
    """A weighted choice with its cumulative weights computed once, not on every draw."""

    def __init__(self, pairs: Sequence[tuple[_T, int]]) -> None:
        self.values = tuple(value for value, _ in pairs)
        self.cumulative = tuple(accumulate(weight for _, weight in pairs))

    def draw(self, rng: random.Random) -> _T:
        return self.values[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


_DEPARTMENT_PICK = _Weighted([(entry, entry[1]) for entry in _DEPARTMENTS])
_ACCESSORY_KIND = _Weighted([(1, 35), (2, 25), (3, 8), (4, 20), (5, 12)])  # _HARDWARE indexes
_ACTIVE_DEVICES = _Weighted([(1, 50), (2, 32), (3, 18)])
_PAST_DEVICES_OF_HOLDER = _Weighted([(0, 70), (1, 22), (2, 8)])
_PAST_DEVICES = _Weighted([(0, 20), (1, 45), (2, 25), (3, 10)])
_PAST_LICENCES_OF_HOLDER = _Weighted([(0, 65), (1, 25), (2, 10)])
_PAST_LICENCES = _Weighted([(0, 25), (1, 35), (2, 25), (3, 15)])
_ACCESS_LEVEL = _Weighted([("member", 70), ("editor", 15), ("viewer", 12), ("admin", 3)])
_REQUESTS_FILED = _Weighted([(0, 55), (1, 28), (2, 12), (3, 5)])
_REQUEST_STATUS = _Weighted(
    [("pending", 20), ("approved", 15), ("fulfilled", 45), ("rejected", 10), ("cancelled", 10)]
)
_EARLIER_LOGINS = _Weighted([(0, 55), (1, 30), (2, 15)])

# Probability that a person still holds hardware or software, by employment status. The rest
# hold nothing (only returned items, or none at all) and can be erased in the demo.
_HOLDS_ASSETS = {"active": 0.68, "onboarding": 0.55, "inactive": 0.3, "offboarded": 0.0}
_HAS_LOGGED_IN = {"active": 0.72, "onboarding": 0.3, "inactive": 0.6, "offboarded": 0.85}


# --------------------------------------------------------------------------- public API


def generate_demo_datastore(
    path: Path,
    *,
    people: int = 2000,
    workspaces: int = 3,
    seed: int = 42,
    progress: bool = True,
    now: datetime | None = None,
) -> DemoSummary:
    """Create the demo datastore at ``path`` and return what it holds.

    ``now`` anchors every timestamp (default: the start of the current UTC day), so the same
    seed and ``now`` give the same rows. Refuses with ``FileExistsError`` when ``path`` already
    holds data, because a second run would duplicate every person.
    """
    path = Path(path)
    if workspaces < 1:
        raise ValueError("workspaces must be at least 1.")
    if people < workspaces:
        raise ValueError(
            f"people must be at least workspaces ({workspaces}): every workspace needs a super-admin."
        )
    if now is None:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime.")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; pass the path of a SQLite file to create.")
    if datastore_is_populated(path):
        raise FileExistsError(
            f"{path} already holds data; generating the demo datastore into it would duplicate "
            "every row. Delete the file or choose another path."
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    _remove_sqlite_files(partial)
    try:
        engine = _sqlite_engine(partial, bulk_load=True)
        try:
            _create_tables_for_bulk_load(engine)
            generator = _Generator(
                engine, seed=seed, now_ts=int(now.timestamp()), progress=progress
            )
            result = generator.run(people=people, workspaces=workspaces)
            create_schema(engine)  # the remaining indexes, built once over the loaded rows
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                conn.exec_driver_sql("ANALYZE")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        _remove_sqlite_files(path, main_file=False)  # stale WAL of the empty file we replace
        os.replace(partial, path)
    except BaseException:
        _remove_sqlite_files(partial)
        raise
    return DemoSummary(
        path=path,
        seed=seed,
        workspaces=tuple(result.workspaces),
        counts=MappingProxyType(dict(result.counts)),
    )


def datastore_is_populated(path: Path) -> bool:
    """Whether ``path`` already holds data that generating into it would duplicate or clobber.

    A missing or empty file, or a SQLite database whose tables are all empty, is not populated;
    any other non-empty file is.
    """
    path = Path(path)
    if not path.is_file():
        return False
    wal = path.with_name(f"{path.name}-wal")
    main_size = path.stat().st_size
    wal_size = wal.stat().st_size if wal.is_file() else 0
    if main_size == 0 and wal_size == 0:
        return False
    if main_size > 0:
        with path.open("rb") as handle:
            if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                return True
    engine = _sqlite_engine(path)
    try:
        with engine.connect() as conn:
            names: Sequence[str] = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).scalars().all()
            for name in names:
                probe = select(literal(1)).select_from(table_clause(name)).limit(1)
                if conn.execute(probe).first() is not None:
                    return True
    except DatabaseError:
        return True  # a damaged database still holds something worth keeping
    finally:
        engine.dispose()
    return False


def demo_people_sample(path: Path, workspace_id: int, limit: int = 6) -> list[DemoPersonHint]:
    """A handful of people to name in demo hints, most useful first.

    A super-admin to act as, an admin (whose Erase is refused), then members alternating between
    erasable ones (nothing active) and blocked ones (still holding hardware or software).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; generate the demo datastore first.")
    active_hardware = exists().where(
        hardware_assignments.c.person_id == people.c.id,
        hardware_assignments.c.returned_at.is_(None),
    )
    active_software = exists().where(
        software_assignments.c.person_id == people.c.id,
        software_assignments.c.revoked_at.is_(None),
    )
    has_active = or_(active_hardware, active_software)
    base = (
        select(people.c.id, people.c.email, people.c.role, has_active.label("has_active"))
        .where(
            people.c.workspace_id == workspace_id,
            people.c.erased_at.is_(None),
            people.c.deleted_at.is_(None),
        )
        .order_by(people.c.id)
    )
    engine = _sqlite_engine(path)
    try:
        with engine.connect() as conn:
            super_admins = conn.execute(base.where(people.c.role == "super-admin").limit(1)).all()
            admins = conn.execute(
                base.where(people.c.role.in_(("admin", "it-admin"))).limit(1)
            ).all()
            members = base.where(people.c.role == "member")
            erasable = conn.execute(members.where(~has_active).limit(limit)).all()
            blocked = conn.execute(members.where(has_active).limit(limit)).all()
    finally:
        engine.dispose()
    ordered = [*super_admins, *admins]
    for pair in zip(erasable, blocked, strict=False):
        ordered.extend(pair)
    ordered.extend(erasable[len(blocked) :] or blocked[len(erasable) :])
    return [
        DemoPersonHint(
            id=row.id, email=row.email, role=row.role, has_active_assignments=bool(row.has_active)
        )
        for row in ordered[:limit]
    ]


# --------------------------------------------------------------------------- engine and files


def _sqlite_engine(path: Path, *, bulk_load: bool = False) -> Engine:
    database = str(path)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(database)

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if bulk_load:
            # The file is renamed into place only when complete, so a crash loses nothing.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-16000")  # KiB: bounds page cache and sorter
        cursor.close()

    return engine


def _create_tables_for_bulk_load(engine: Engine) -> None:
    """Create the tables with only the index generation reads (email uniqueness).

    Inserting a million rows into random-key B-trees thrashes the page cache; building those
    indexes after the load sorts once instead.
    """
    with engine.begin() as conn:
        for table in demo_metadata.sorted_tables:
            conn.execute(CreateTable(table))
        for index in people.indexes:
            if index.name == "ix_people_workspace_id_email":
                index.create(conn)


def _remove_sqlite_files(path: Path, *, main_file: bool = True) -> None:
    suffixes = ("", "-wal", "-shm", "-journal") if main_file else ("-wal", "-shm", "-journal")
    for suffix in suffixes:
        path.with_name(f"{path.name}{suffix}").unlink(missing_ok=True)


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class _WorkspacePlan:
    workspace: DemoWorkspace
    domain: str
    tag_prefix: str
    first_person_id: int
    people: int
    super_admins: int
    admins: int
    it_admins: int
    managers: int
    founded_ts: int
    issuer_ids: tuple[int, ...]
    software: tuple[tuple[int, str], ...]  # (software id, product name)

    @property
    def privileged(self) -> int:
        return self.super_admins + self.admins + self.it_admins

    def role_of(self, local_index: int) -> str:
        if local_index < self.super_admins:
            return "super-admin"
        if local_index < self.super_admins + self.admins:
            return "admin"
        if local_index < self.privileged:
            return "it-admin"
        return "member"


@dataclass(slots=True)
class _PersonDraft:
    id: int
    first_slug: str
    last_slug: str
    role: str
    status: str
    created_ts: int
    leave_ts: int | None
    last_login_ts: int | None
    uses_sso: bool
    ip_address: str
    email: str = ""


@dataclass
class _Batch:
    people: list[_Record] = field(default_factory=list)
    assets: list[_Record] = field(default_factory=list)
    hardware_assignments: list[_Record] = field(default_factory=list)
    software_assignments: list[_Record] = field(default_factory=list)
    asset_requests: list[_Record] = field(default_factory=list)
    activity_log: list[_Record] = field(default_factory=list)

    def in_insert_order(self) -> Iterator[tuple[Table, list[_Record]]]:
        yield people, self.people
        yield assets, self.assets
        yield hardware_assignments, self.hardware_assignments
        yield software_assignments, self.software_assignments
        yield asset_requests, self.asset_requests
        yield activity_log, self.activity_log


@dataclass
class _Result:
    workspaces: list[DemoWorkspace] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {table.name: 0 for table in demo_metadata.sorted_tables}
    )


def _ts(epoch_seconds: int) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(epoch_seconds))


def _between(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low, high) if high > low else low


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in ascii_text.lower() if char.isalnum())


def _name_part(draw: Callable[[], str]) -> tuple[str, str]:
    name = draw()
    return name, _slug(name) or "person"


class _Generator:
    """One generation run: a seeded random source, id counters and the rows of one batch."""

    def __init__(self, engine: Engine, *, seed: int, now_ts: int, progress: bool) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.now_ts = now_ts
        self.progress = progress
        self.result = _Result()
        self.next_id: dict[str, int] = {table.name: 1 for table in demo_metadata.sorted_tables}
        self.asset_numbers: dict[int, int] = {}
        # Faker draws names by real-world frequency but slowly; a pool keeps that and the speed.
        self.first_names = [_name_part(self.faker.first_name) for _ in range(_NAME_POOL_SIZE)]
        self.last_names = [_name_part(self.faker.last_name) for _ in range(_NAME_POOL_SIZE)]

    def _take_id(self, table: Table) -> int:
        value = self.next_id[table.name]
        self.next_id[table.name] = value + 1
        return value

    def run(self, *, people: int, workspaces: int) -> _Result:
        plans = self._plan_workspaces(people_total=people, workspace_total=workspaces)
        with tqdm(
            total=people, unit="people", desc="demo datastore", file=sys.stderr,
            disable=not self.progress,
        ) as bar:
            for plan in plans:
                for start in range(0, plan.people, PEOPLE_PER_TRANSACTION):
                    stop = min(start + PEOPLE_PER_TRANSACTION, plan.people)
                    with self.engine.begin() as conn:
                        self._write_batch(conn, plan, range(start, stop))
                    bar.update(stop - start)
        return self.result

    # ----------------------------------------------------------------- workspaces

    def _plan_workspaces(self, *, people_total: int, workspace_total: int) -> list[_WorkspacePlan]:
        rng = self.rng
        sizes = _split(people_total, [1 / (index + 1) ** 0.5 for index in range(workspace_total)])
        plans: list[_WorkspacePlan] = []
        first_person_id = 1
        with self.engine.begin() as conn:
            for index, size in enumerate(sizes):
                slug, name = _WORKSPACE_NAMES[index % len(_WORKSPACE_NAMES)]
                if index >= len(_WORKSPACE_NAMES):
                    round_number = index // len(_WORKSPACE_NAMES) + 1
                    slug, name = f"{slug}-{round_number}", f"{name} {round_number}"
                workspace = DemoWorkspace(id=self._take_id(workspaces), slug=slug, name=name)
                self._insert(conn, workspaces, [
                    {"id": workspace.id, "slug": workspace.slug, "name": workspace.name},
                ])
                issuer_ids = self._write_issuers(conn, workspace)
                software_entries = self._write_software(conn, workspace)
                super_admins = 1 if size < 50 else rng.choice((1, 2))
                remaining = size - super_admins
                admins = min(remaining, max(1, size // 250), 8)
                it_admins = min(remaining - admins, max(1, size // 150), 20)
                plans.append(_WorkspacePlan(
                    workspace=workspace,
                    domain=f"{slug}.example.com",
                    tag_prefix=slug[:3].upper(),
                    first_person_id=first_person_id,
                    people=size,
                    super_admins=super_admins,
                    admins=admins,
                    it_admins=it_admins,
                    managers=max(1, size // 10),
                    founded_ts=self.now_ts - rng.randint(3 * 365, 9 * 365) * _DAY,
                    issuer_ids=issuer_ids,
                    software=software_entries,
                ))
                self.result.workspaces.append(workspace)
                first_person_id += size
        return plans

    def _write_issuers(self, conn: Connection, workspace: DemoWorkspace) -> tuple[int, ...]:
        rng = self.rng
        rows: list[_Record] = []
        for name, entity_template in rng.sample(_SSO_PROVIDERS, rng.choice((1, 1, 2))):
            entity_id = entity_template.format(
                slug=workspace.slug,
                uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
                code=f"C{rng.randrange(16**8):08x}",
            )
            rows.append({
                "id": self._take_id(sso_issuers), "workspace_id": workspace.id,
                "name": name, "entity_id": entity_id,
            })
        self._insert(conn, sso_issuers, rows)
        return tuple(row["id"] for row in rows)

    def _write_software(
        self, conn: Connection, workspace: DemoWorkspace
    ) -> tuple[tuple[int, str], ...]:
        rng = self.rng
        products = rng.sample(_SOFTWARE_CATALOGUE, rng.randint(12, 18))
        rows: list[_Record] = []
        for name, editions in products:
            for edition in rng.sample(editions, min(len(editions), rng.choice((1, 1, 2)))):
                rows.append({
                    "id": self._take_id(software), "workspace_id": workspace.id,
                    "name": name, "edition": edition,
                })
        self._insert(conn, software, rows)
        return tuple((row["id"], row["name"]) for row in rows)

    # ----------------------------------------------------------------- people

    def _write_batch(self, conn: Connection, plan: _WorkspacePlan, local: range) -> None:
        batch = _Batch()
        drafts = [self._draft_person(plan, local_index, batch) for local_index in local]
        emails = _unique_emails(
            conn, self.rng, plan.workspace.id, plan.domain,
            [f"{draft.first_slug}.{draft.last_slug}" for draft in drafts],
        )
        for draft, record, email in zip(drafts, batch.people, emails, strict=True):
            draft.email = email
            record["email"] = email
        for draft in drafts:
            self._add_belongings(plan, draft, batch)
        for table, rows in batch.in_insert_order():
            self._insert(conn, table, rows)

    def _draft_person(self, plan: _WorkspacePlan, local_index: int, batch: _Batch) -> _PersonDraft:
        rng = self.rng
        now = self.now_ts
        person_id = plan.first_person_id + local_index
        role = plan.role_of(local_index)
        privileged = role != "member"

        if privileged:
            status = "active"
            department, job_title = rng.choice(_PRIVILEGED_JOBS[role])
        else:
            draw = rng.random()
            status = (
                "active" if draw < 0.80 else
                "onboarding" if draw < 0.86 else
                "inactive" if draw < 0.92 else
                "offboarded"
            )
            department, _, titles = _DEPARTMENT_PICK.draw(rng)
            job_title = rng.choice(titles)

        if status == "onboarding":
            created_ts = now - rng.randint(_DAY, 30 * _DAY)
        elif privileged:
            created_ts = plan.founded_ts + rng.randint(0, 60 * _DAY)
        else:
            created_ts = rng.randint(plan.founded_ts, now - 45 * _DAY)
        leave_ts = rng.randint(created_ts + 30 * _DAY, now - _DAY) if status == "offboarded" else None

        last_login_ts: int | None = None
        if privileged or rng.random() < _HAS_LOGGED_IN[status]:
            if leave_ts is not None:
                last_login_ts = _between(rng, max(created_ts, leave_ts - 20 * _DAY), leave_ts)
            elif status == "inactive":
                last_login_ts = _between(rng, max(created_ts, now - 365 * _DAY), now - 60 * _DAY)
            else:
                last_login_ts = max(created_ts, now - int(rng.expovariate(1 / (3 * _DAY))))
            last_login_ts = max(created_ts, last_login_ts)

        uses_sso = bool(plan.issuer_ids) and rng.random() < 0.6
        invited_only = status == "onboarding" and last_login_ts is None and rng.random() < 0.6
        password_hash = None if uses_sso or invited_only else self._password_hash()

        if local_index == 0:
            manager_id = None
        elif local_index < plan.managers:
            manager_id = plan.first_person_id + rng.randrange(local_index)
        else:
            manager_id = plan.first_person_id + rng.randrange(plan.managers)

        first, first_slug = rng.choice(self.first_names)
        last, last_slug = rng.choice(self.last_names)
        batch.people.append({
            "id": person_id,
            "workspace_id": plan.workspace.id,
            "name": f"{first} {last}",
            "email": "",
            "employee_id": f"EMP{local_index + 1:06d}",
            "job_title": job_title,
            "department": department,
            "manager_id": manager_id,
            "phone": f"+1-{rng.choice(_PHONE_AREA_CODES)}-555-01{rng.randrange(100):02d}",
            "employment_status": status,
            "last_login_at": _ts(last_login_ts) if last_login_ts is not None else None,
            "role": role,
            "password_hash": password_hash,
            "sso_issuer_id": rng.choice(plan.issuer_ids) if uses_sso else None,
            "sso_subject": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if uses_sso else None,
            "created_at": _ts(created_ts),
            "erased_at": None,
            "deleted_at": None,
        })
        return _PersonDraft(
            id=person_id, first_slug=first_slug, last_slug=last_slug, role=role, status=status,
            created_ts=created_ts, leave_ts=leave_ts, last_login_ts=last_login_ts,
            uses_sso=uses_sso, ip_address=self._ip_address(),
        )

    def _password_hash(self) -> str:
        salt = base64.b64encode(self.rng.randbytes(16)).rstrip(b"=").decode()
        digest = base64.b64encode(self.rng.randbytes(32)).rstrip(b"=").decode()
        return f"{_ARGON2_PARAMETERS}{salt}${digest}"

    def _ip_address(self) -> str:
        rng = self.rng
        if rng.random() < 0.15:
            return f"2001:db8:{rng.randrange(0x10000):x}::{rng.randrange(1, 0x10000):x}"
        return f"{rng.choice(_DOCUMENTATION_NETWORKS)}.{rng.randint(1, 254)}"

    # ----------------------------------------------------------------- belongings and history

    def _add_belongings(self, plan: _WorkspacePlan, draft: _PersonDraft, batch: _Batch) -> None:
        rng = self.rng
        holds = draft.role != "member" or rng.random() < _HOLDS_ASSETS[draft.status]
        end_ts = draft.leave_ts if draft.leave_ts is not None else self.now_ts
        events: list[_Record] = []

        def log(actor_id: int | None, action: str, at_ts: int, **details: object) -> None:
            events.append({
                "id": 0,
                "workspace_id": plan.workspace.id,
                "actor_id": actor_id,
                "subject_id": draft.id,
                "action": action,
                "details": json.dumps(details, separators=(",", ":")),
                "ip_address": (
                    None if actor_id is None
                    else draft.ip_address if actor_id == draft.id
                    else f"{_DOCUMENTATION_NETWORKS[0]}.{actor_id % 254 + 1}"
                ),
                "created_at": at_ts,
            })

        def staff() -> int:
            return plan.first_person_id + rng.randrange(plan.privileged)

        if draft.uses_sso:
            log(None, "person.provisioned", draft.created_ts, source="scim")
        else:
            log(staff(), "person.created", draft.created_ts, role=draft.role)

        # Hardware: everyone who holds assets has at least one device; history is returned.
        active_devices = _ACTIVE_DEVICES.draw(rng) if holds else 0
        returned_devices = (_PAST_DEVICES_OF_HOLDER if holds else _PAST_DEVICES).draw(rng)
        for device_index in range(active_devices + returned_devices):
            kind_index = 0 if device_index == 0 else _ACCESSORY_KIND.draw(rng)
            kind, models = _HARDWARE[kind_index]
            asset_id, tag = self._add_asset(plan, kind, rng.choice(models), batch)
            assigned_ts = _between(rng, draft.created_ts, end_ts - _DAY)
            returned_ts: int | None = None
            condition: str | None = None
            if device_index >= active_devices:
                returned_ts = _between(rng, assigned_ts, end_ts)
                if draft.leave_ts is not None:
                    returned_ts = min(self.now_ts, draft.leave_ts + rng.randint(0, 10 * _DAY))
                condition = rng.choice(_RETURN_CONDITIONS)
            batch.hardware_assignments.append({
                "id": self._take_id(hardware_assignments),
                "workspace_id": plan.workspace.id,
                "person_id": draft.id,
                "asset_id": asset_id,
                "assigned_at": _ts(assigned_ts),
                "returned_at": _ts(returned_ts) if returned_ts is not None else None,
                "return_condition": condition,
            })
            log(staff(), "hardware.assigned", assigned_ts, asset_tag=tag)
            if returned_ts is not None:
                log(staff(), "hardware.returned", returned_ts, asset_tag=tag, condition=condition)
        if rng.random() < 0.08:
            kind, models = rng.choice(_HARDWARE)
            self._add_asset(plan, kind, rng.choice(models), batch)  # spare in the stockroom

        # Software: distinct products from the workspace catalogue.
        active_licences = rng.randint(1, 3) if holds else 0
        revoked_licences = (_PAST_LICENCES_OF_HOLDER if holds else _PAST_LICENCES).draw(rng)
        wanted = min(len(plan.software), active_licences + revoked_licences)
        local_part = draft.email.split("@", 1)[0]
        for licence_index, (software_id, product) in enumerate(rng.sample(plan.software, wanted)):
            assigned_ts = _between(rng, draft.created_ts, end_ts - _DAY)
            revoked_ts: int | None = None
            if licence_index >= active_licences:
                revoked_ts = _between(rng, assigned_ts, end_ts)
                if draft.leave_ts is not None:
                    revoked_ts = min(self.now_ts, draft.leave_ts + rng.randint(0, 3 * _DAY))
            account = (
                f"{local_part.replace('.', '-')}-{plan.workspace.slug}"
                if product in _USERNAME_ACCOUNTS else draft.email
            )
            batch.software_assignments.append({
                "id": self._take_id(software_assignments),
                "workspace_id": plan.workspace.id,
                "person_id": draft.id,
                "software_id": software_id,
                "account_identifier": account,
                "assigned_at": _ts(assigned_ts),
                "revoked_at": _ts(revoked_ts) if revoked_ts is not None else None,
                "access_level": (
                    "admin" if draft.role != "member"
                    else _ACCESS_LEVEL.draw(rng)
                ),
            })
            log(staff(), "software.assigned", assigned_ts, software=product)
            if revoked_ts is not None:
                log(staff(), "software.revoked", revoked_ts, software=product)

        # Requests the person filed.
        for _ in range(_REQUESTS_FILED.draw(rng)):
            request_type = rng.choice(tuple(_REQUEST_TITLES))
            created_ts = _between(rng, draft.created_ts, end_ts)
            batch.asset_requests.append({
                "id": self._take_id(asset_requests),
                "workspace_id": plan.workspace.id,
                "person_id": draft.id,
                "title": rng.choice(_REQUEST_TITLES[request_type]),
                "request_type": request_type,
                "status": _REQUEST_STATUS.draw(rng),
                "justification": rng.choice(_JUSTIFICATIONS),
                "created_at": _ts(created_ts),
            })
            log(draft.id, "request.submitted", created_ts, request_type=request_type)

        # Sign-ins, the last one matching people.last_login_at.
        if draft.last_login_ts is not None:
            method = "sso" if draft.uses_sso else "password"
            for _ in range(_EARLIER_LOGINS.draw(rng)):
                login_ts = _between(rng, draft.created_ts, draft.last_login_ts)
                log(draft.id, "auth.login", login_ts, method=method,
                    user_agent=rng.choice(_USER_AGENTS))
            log(draft.id, "auth.login", draft.last_login_ts, method=method,
                user_agent=rng.choice(_USER_AGENTS))
        if rng.random() < 0.15:
            log(staff(), "person.updated", _between(rng, draft.created_ts, end_ts),
                fields=rng.sample(("job_title", "department", "manager_id", "phone"), 2))
        if draft.leave_ts is not None:
            log(staff(), "person.offboarded", draft.leave_ts, status="offboarded")

        events.sort(key=lambda event_row: event_row["created_at"])
        for event_row in events:
            event_row["id"] = self._take_id(activity_log)
            event_row["created_at"] = _ts(event_row["created_at"])
        batch.activity_log.extend(events)

    def _add_asset(
        self, plan: _WorkspacePlan, kind: str, name: str, batch: _Batch
    ) -> tuple[int, str]:
        number = self.asset_numbers.get(plan.workspace.id, 0) + 1
        self.asset_numbers[plan.workspace.id] = number
        asset_id = self._take_id(assets)
        tag = f"{plan.tag_prefix}-{number:06d}"
        batch.assets.append({
            "id": asset_id,
            "workspace_id": plan.workspace.id,
            "asset_tag": tag,
            "name": name,
            "serial_number": "".join(self.rng.choices(_SERIAL_ALPHABET, k=11)),
            "kind": kind,
        })
        return asset_id, tag

    def _insert(self, conn: Connection, table: Table, rows: Sequence[_Record]) -> None:
        for start in range(0, len(rows), ROWS_PER_INSERT):
            conn.execute(table.insert(), list(rows[start : start + ROWS_PER_INSERT]))
        self.result.counts[table.name] += len(rows)


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights``, at least one each (largest remainder)."""
    spare = total - len(weights)
    scale = spare / sum(weights)
    shares = [weight * scale for weight in weights]
    sizes = [1 + int(share) for share in shares]
    by_remainder = sorted(
        range(len(weights)), key=lambda index: shares[index] - int(shares[index]), reverse=True
    )
    for index in by_remainder[: total - sum(sizes)]:
        sizes[index] += 1
    return sizes


def _unique_emails(
    conn: Connection, rng: random.Random, workspace_id: int, domain: str,
    local_parts: Sequence[str],
) -> list[str]:
    """Turn ``first.last`` parts into addresses unused in the workspace, numbering collisions.

    Uniqueness is checked against the rows already written (through the unique index) and
    within the batch, so memory stays bounded by the batch whatever the workspace size.
    """
    emails = [f"{local}@{domain}" for local in local_parts]
    pending = list(range(len(emails)))
    taken_in_batch: set[str] = set()
    while pending:
        candidates = [emails[index] for index in pending]
        existing: set[str] = set()
        for start in range(0, len(candidates), _IN_CHUNK):
            chunk = candidates[start : start + _IN_CHUNK]
            existing.update(conn.execute(
                select(people.c.email).where(
                    people.c.workspace_id == workspace_id, people.c.email.in_(chunk)
                )
            ).scalars())
        retry: list[int] = []
        for index in pending:
            email = emails[index]
            if email in existing or email in taken_in_batch:
                emails[index] = f"{local_parts[index]}{rng.randint(2, 9999)}@{domain}"
                retry.append(index)
            else:
                taken_in_batch.add(email)
        pending = retry
    return emails

