"""Benchmark: the data plane's EXPORT, ERASE (and its dry run) and PURGE against hand-written SQL.

    python bench/dsr.py --rows 1000000                      # SQLite file in a temp folder
    python bench/dsr.py --rows 200000 --url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The datastore is the demo schema (``generate_demo_datastore`` with two workspaces, so that
workspace 1 holds most of the rows), plus two subjects added with plain inserts: a *big* one
with 10,000 related rows and a *small* one with 2,000, spread over activity_log,
hardware_assignments, software_assignments and asset_requests (all returned / revoked, so that
ERASE is allowed). With ``--url`` the SQLite build is copied into a fresh PostgreSQL database
created next to the one the URL names (and dropped at the end).

Measured, engine next to a minimal baseline (plain ``sqlite3`` / ``psycopg``, no framework,
the same reads and writes) in the same run, ``--reps`` repetitions, median:

* EXPORT of the big subject: ``SqlDatastore.iter_export`` streamed into the JSON document by
  ``execution.packaging.write_export_json`` (the export.json of a package), against the same
  five section queries written by hand and ``json.dumps`` per row into the same document.
* ERASE of the big subject (``SqlDatastore.erase``), against BEGIN IMMEDIATE / FOR UPDATE,
  the three precondition counts, the three UPDATEs and the HMAC of the distinct IP addresses,
  with ``secure_delete`` and the WAL checkpoint on SQLite. The data is restored (file copy, or
  ``CREATE DATABASE … TEMPLATE`` on PostgreSQL) before every destructive repetition, untimed.
* ERASE dry run, against the same counts in a read transaction.
* PURGE of tenant 1 (``SqlDatastore.purge``, 1,000-row chunks, each its own transaction),
  against per-table counts and ``DELETE … WHERE id IN (SELECT id … ORDER BY id LIMIT 1000)``
  loops.
* EXPORT and ERASE of the small subject (engine only; target < 50 ms).

The datastore is built in a child process, so the reported peak RSS is that of the process
that ran the engine (and the baselines, which hold almost nothing).

With ``--systems K`` (SQLite only), also EXPORT and ERASE of the big subject by identity
(its email) over K datastores that hold it together (its related rows spread over them), one
thread per system as a job by identity runs them, each ERASE verified; against the same on one
datastore holding it all, in the same run.

Prints a table and, as its last line, one JSON object:
{"export_ratio", "erase_ratio", "purge_ratio", "peak_rss_mb", "rows", "systems",
"export_k_ratio", "erase_k_ratio" (with --systems K > 1), …}.
Targets: ratio <= 1.5 for export and erase, <= 2 for purge, peak RSS < 200 MB at 1,000,000
rows, small-subject EXPORT and ERASE < 50 ms.
"""

# ruff: noqa: S608 - every statement here is constant SQL written for the demo schema
from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROWS_PER_PERSON = 15.5  # what the demo generator writes per person, all tables together
BIG_RELATED = 10_000
SMALL_RELATED = 2_000
CHUNK_ROWS = 1000
HASH_KEY = b"bench-tenant-hash-key"
TENANT = "1"
DATAMAP = Path(__file__).resolve().parent.parent / "src" / "privacyops" / "demo" / "datamap.yaml"
TABLES_CHILDREN_FIRST = (
    "activity_log", "asset_requests", "software_assignments", "hardware_assignments",
    "software", "assets", "people", "sso_issuers",
)


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Subjects:
    big: int
    small: int


def _related_split(total: int) -> dict[str, int]:
    """60 % activity (half as actor, half as subject), 15 % + 15 % assignments, 10 % requests."""
    hardware = software = total * 15 // 100
    requests = total // 10
    return {"activity_log": total - hardware - software - requests, "hardware_assignments": hardware,
            "software_assignments": software, "asset_requests": requests}


def _add_subject(conn: sqlite3.Connection, related: int, label: str) -> int:
    """One member of workspace 1 with ``related`` rows; everything returned, so erasable."""
    def next_id(table: str) -> int:
        return int(conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])

    person = next_id("people")
    manager = conn.execute("SELECT min(id) FROM people WHERE workspace_id = 1").fetchone()[0]
    conn.execute(
        "INSERT INTO people (id, workspace_id, name, email, employee_id, job_title, department,"
        " manager_id, phone, employment_status, last_login_at, role, password_hash, created_at)"
        " VALUES (?, 1, ?, ?, ?, 'Analyst', 'Finance', ?, '+1 555 0100', 'offboarded',"
        " '2026-01-02T03:04:05Z', 'member', 'x', '2019-01-01T00:00:00Z')",
        (person, f"Bench {label}", f"bench.{label}@acme.example.com", f"BENCH-{label}", manager),
    )
    asset_ids = [r[0] for r in conn.execute(
        "SELECT id FROM assets WHERE workspace_id = 1 ORDER BY id LIMIT 500")]
    software_ids = [r[0] for r in conn.execute(
        "SELECT id FROM software WHERE workspace_id = 1 ORDER BY id")]
    split = _related_split(related)

    def stamp(i: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_500_000_000 + i * 3_607))

    first = next_id("hardware_assignments")
    conn.executemany(
        "INSERT INTO hardware_assignments (id, workspace_id, person_id, asset_id, assigned_at,"
        " returned_at, return_condition) VALUES (?, 1, ?, ?, ?, ?, 'good')",
        [(first + i, person, asset_ids[i % len(asset_ids)], stamp(i), stamp(i + 5))
         for i in range(split["hardware_assignments"])])
    first = next_id("software_assignments")
    conn.executemany(
        "INSERT INTO software_assignments (id, workspace_id, person_id, software_id,"
        " account_identifier, assigned_at, revoked_at, access_level)"
        " VALUES (?, 1, ?, ?, ?, ?, ?, 'user')",
        [(first + i, person, software_ids[i % len(software_ids)],
          f"bench.{label}@acme.example.com", stamp(i), stamp(i + 3))
         for i in range(split["software_assignments"])])
    first = next_id("asset_requests")
    conn.executemany(
        "INSERT INTO asset_requests (id, workspace_id, person_id, title, request_type, status,"
        " justification, created_at) VALUES (?, 1, ?, 'New laptop', 'hardware', 'approved',"
        " 'The old one is slow and I need it for work.', ?)",
        [(first + i, person, stamp(i)) for i in range(split["asset_requests"])])
    first = next_id("activity_log")
    conn.executemany(
        "INSERT INTO activity_log (id, workspace_id, actor_id, subject_id, action, details,"
        " ip_address, created_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
        [(first + i,
          person if i % 2 == 0 else manager,
          None if i % 2 == 0 else person,
          "auth.login" if i % 2 == 0 else "person.updated",
          '{"method":"password","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}',
          f"198.51.100.{i % 200 + 1}",
          stamp(i))
         for i in range(split["activity_log"])])
    return person


def _build_sqlite(path: str, rows: int, queue: Any) -> None:
    """Child process: generate the demo datastore and add the two bench subjects."""
    from privacyops.demo.generate import generate_demo_datastore

    people = max(200, int((rows - BIG_RELATED - SMALL_RELATED) / ROWS_PER_PERSON))
    generate_demo_datastore(Path(path), people=people, workspaces=2, progress=False)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        big = _add_subject(conn, BIG_RELATED, "big")
        small = _add_subject(conn, SMALL_RELATED, "small")
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    queue.put((big, small))


def _copy_to_postgres(sqlite_path: str, pg_url: str, queue: Any) -> None:
    """Child process: the demo schema on PostgreSQL (SQLAlchemy), rows copied with COPY."""
    import psycopg
    from sqlalchemy import create_engine

    from privacyops.demo.schema import TABLES_IN_DEPENDENCY_ORDER, create_schema

    engine = create_engine(pg_url)
    create_schema(engine)
    engine.dispose()
    with closing(sqlite3.connect(sqlite_path)) as source, psycopg.connect(_libpq(pg_url)) as pg:
        for table in TABLES_IN_DEPENDENCY_ORDER:
            names = [c.name for c in table.columns]
            cursor = source.execute(f"SELECT {', '.join(names)} FROM {table.name}")
            with pg.cursor() as out, out.copy(
                f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
            ) as copy:
                for row in cursor:
                    copy.write_row(row)
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
    queue.put("ok")


def _in_child(target: Callable[..., None], *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise SystemExit(f"building the datastore failed ({process.exitcode})")
    return result


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


# --------------------------------------------------------------------------- backends


class SqliteBackend:
    """A pristine file and a working copy; restore = copy the file back (untimed)."""

    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.pristine = folder / "pristine.sqlite3"
        self.work = folder / "work.sqlite3"

    def restore(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.pristine, self.work)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.work}"

    def raw(self) -> Any:
        return sqlite3.connect(self.work, isolation_level=None)

    def p(self, sql: str) -> str:
        return sql

    def begin(self, conn: Any, *, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def lock_suffix(self) -> str:
        return ""

    def before_write(self, conn: Any) -> None:
        conn.execute("PRAGMA secure_delete=ON")

    def after_write(self, conn: Any) -> None:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def rowcount(self, cursor: Any) -> int:
        return int(cursor.rowcount)

    def drop(self) -> None:
        pass


class PostgresBackend:
    """A pristine database and a working copy; restore = CREATE DATABASE … TEMPLATE (untimed)."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.base = make_url(url)
        suffix = uuid.uuid4().hex[:8]
        self.pristine_name = f"privacyops_bench_{suffix}_pristine"
        self.work_name = f"privacyops_bench_{suffix}_work"
        self._admin("CREATE DATABASE {}", self.pristine_name)

    def _admin(self, statement: str, *names: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(_libpq(self.base.render_as_string(hide_password=False)),
                             autocommit=True) as admin:
            admin.execute(sql.SQL(statement).format(*(sql.Identifier(n) for n in names)))

    def url_of(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    @property
    def pristine_url(self) -> str:
        return self.url_of(self.pristine_name)

    @property
    def url(self) -> str:
        return self.url_of(self.work_name)

    def restore(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.work_name)
        self._admin("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY", self.work_name,
                    self.pristine_name)

    def raw(self) -> Any:
        import psycopg

        return psycopg.connect(_libpq(self.url), autocommit=True)

    def p(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def begin(self, conn: Any, *, write: bool) -> None:
        conn.execute("BEGIN")

    def lock_suffix(self) -> str:
        return " FOR UPDATE"

    def before_write(self, conn: Any) -> None:
        pass

    def after_write(self, conn: Any) -> None:
        pass

    def rowcount(self, cursor: Any) -> int:
        return int(cursor.rowcount)

    def drop(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.work_name)
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.pristine_name)


Backend = SqliteBackend | PostgresBackend


# --------------------------------------------------------------------------- baselines


SECTIONS: tuple[tuple[str, list[str], str], ...] = (
    ("data_subject",
     ["id", "name", "email", "employee_id", "phone", "job_title", "department", "manager_id",
      "manager_name", "manager_email", "employment_status", "role", "last_login_at", "created_at"],
     "SELECT p.id, p.name, p.email, p.employee_id, p.phone, p.job_title, p.department,"
     " p.manager_id, m.name, m.email, p.employment_status, p.role, p.last_login_at, p.created_at"
     " FROM people p LEFT JOIN people m ON m.id = p.manager_id AND m.workspace_id = p.workspace_id"
     " WHERE p.id = ? AND p.workspace_id = ?"),
    ("hardware_assignments",
     ["asset_tag", "asset_name", "serial_number", "assigned_at", "returned_at", "return_condition"],
     "SELECT a.asset_tag, a.name, a.serial_number, h.assigned_at, h.returned_at,"
     " h.return_condition FROM hardware_assignments h LEFT JOIN assets a ON a.id = h.asset_id"
     " AND a.workspace_id = h.workspace_id WHERE h.person_id = ? AND h.workspace_id = ?"
     " ORDER BY h.assigned_at DESC, h.id DESC"),
    ("software_assignments",
     ["software", "edition", "account_identifier", "assigned_at", "revoked_at", "access_level"],
     "SELECT s.name, s.edition, x.account_identifier, x.assigned_at, x.revoked_at,"
     " x.access_level FROM software_assignments x LEFT JOIN software s ON s.id = x.software_id"
     " AND s.workspace_id = x.workspace_id WHERE x.person_id = ? AND x.workspace_id = ?"
     " ORDER BY x.assigned_at DESC, x.id DESC"),
    ("asset_requests",
     ["title", "request_type", "status", "justification", "created_at"],
     "SELECT title, request_type, status, justification, created_at FROM asset_requests"
     " WHERE person_id = ? AND workspace_id = ? ORDER BY created_at DESC, id DESC"),
    ("activity",
     ["created_at", "action", "details", "actor_id", "subject_id", "ip_address"],
     "SELECT created_at, action, details, actor_id, subject_id, ip_address FROM activity_log"
     " WHERE (actor_id = ? OR subject_id = ?) AND workspace_id = ?"
     " ORDER BY created_at DESC, id DESC LIMIT 1000"),
)


def baseline_export(backend: Backend, conn: Any, person: int, out: io.TextIOBase,
                    header: dict[str, Any]) -> int:
    out.write("{")
    for key, value in header.items():
        out.write(f"{json.dumps(key)}: {json.dumps(value, default=str)}, ")
    total = 0
    for index, (name, columns, sql) in enumerate(SECTIONS):
        params: tuple[Any, ...] = (person, person, 1) if name == "activity" else (person, 1)
        out.write((", " if index else "") + f"{json.dumps(name)}: [")
        count = 0
        for row in conn.execute(backend.p(sql), params):
            out.write((", " if count else "") + json.dumps(dict(zip(columns, row, strict=True)),
                                                           default=str, ensure_ascii=False))
            count += 1
        out.write("]")
        total += count
    out.write("}\n")
    return total


PRECONDITIONS = (
    "SELECT count(*) FROM hardware_assignments WHERE person_id = ? AND workspace_id = ?"
    " AND returned_at IS NULL",
    "SELECT count(*) FROM software_assignments WHERE person_id = ? AND workspace_id = ?"
    " AND revoked_at IS NULL",
    "SELECT count(*) FROM people WHERE id = ? AND workspace_id = ? AND role = 'super-admin'",
)
PEOPLE_PENDING = (
    "(name IS DISTINCT FROM 'Erased user' OR email IS DISTINCT FROM ? OR employee_id IS DISTINCT"
    " FROM ? OR job_title IS DISTINCT FROM '' OR department IS DISTINCT FROM '' OR manager_id IS"
    " NOT NULL OR phone IS DISTINCT FROM '' OR employment_status IS DISTINCT FROM 'offboarded' OR"
    " password_hash IS NOT NULL OR sso_issuer_id IS NOT NULL OR sso_subject IS NOT NULL OR"
    " erased_at IS NULL OR deleted_at IS NULL)"
)
ACTIVITY_OF = "(actor_id = ? OR subject_id = ?) AND workspace_id = ?"


def baseline_erase(backend: Backend, conn: Any, person: int, *, dry_run: bool) -> int:
    """The subject's erase by hand; returns rows changed (or that would be)."""
    email, employee = f"erased-user-{person}@erased.local", f"erased-{person}"
    account = "erased"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not dry_run:
        backend.before_write(conn)
    backend.begin(conn, write=True)
    try:
        if conn.execute(backend.p("SELECT 1 FROM people WHERE id = ? AND workspace_id = ?"
                                  + backend.lock_suffix()), (person, 1)).fetchone() is None:
            raise LookupError(person)
        if any(conn.execute(backend.p(sql), (person, 1)).fetchone()[0] for sql in PRECONDITIONS):
            raise RuntimeError("precondition")
        if dry_run:
            changed = conn.execute(backend.p(
                f"SELECT count(*) FROM people WHERE id = ? AND workspace_id = ? AND {PEOPLE_PENDING}"
            ), (person, 1, email, employee)).fetchone()[0]
            changed += conn.execute(backend.p(
                "SELECT count(*) FROM asset_requests WHERE person_id = ? AND workspace_id = ?"
                " AND justification IS DISTINCT FROM ''"), (person, 1)).fetchone()[0]
            changed += conn.execute(backend.p(
                f"SELECT count(*) FROM activity_log WHERE {ACTIVITY_OF} AND ip_address IS NOT NULL"
                " AND length(ip_address) != 64"), (person, person, 1)).fetchone()[0]
            changed += conn.execute(backend.p(
                "SELECT count(*) FROM software_assignments WHERE person_id = ? AND workspace_id = ?"
                " AND account_identifier IS DISTINCT FROM ?"), (person, 1, account)).fetchone()[0]
            conn.execute("ROLLBACK")
            return int(changed)
        changed = backend.rowcount(conn.execute(backend.p(
            "UPDATE people SET name = 'Erased user', email = ?, employee_id = ?, job_title = '',"
            " department = '', manager_id = NULL, phone = '', employment_status = 'offboarded',"
            " password_hash = NULL, sso_issuer_id = NULL, sso_subject = NULL,"
            " erased_at = coalesce(erased_at, ?), deleted_at = coalesce(deleted_at, ?)"
            f" WHERE id = ? AND workspace_id = ? AND {PEOPLE_PENDING}"),
            (email, employee, now, now, person, 1, email, employee)))
        changed += backend.rowcount(conn.execute(backend.p(
            "UPDATE asset_requests SET justification = '' WHERE person_id = ? AND workspace_id = ?"
            " AND justification IS DISTINCT FROM ''"), (person, 1)))
        changed += backend.rowcount(conn.execute(backend.p(
            "UPDATE software_assignments SET account_identifier = ? WHERE person_id = ?"
            " AND workspace_id = ? AND account_identifier IS DISTINCT FROM ?"),
            (account, person, 1, account)))
        addresses = [value for (value,) in conn.execute(backend.p(
            f"SELECT DISTINCT ip_address FROM activity_log WHERE {ACTIVITY_OF}"
            " AND ip_address IS NOT NULL AND length(ip_address) != 64"), (person, person, 1))]
        for start in range(0, len(addresses), 400):
            chunk = addresses[start : start + 400]
            whens = " ".join("WHEN ? THEN ?" for _ in chunk)
            mapping = [v for a in chunk for v in
                       (a, hmac.new(HASH_KEY, a.encode(), hashlib.sha256).hexdigest())]
            marks = ", ".join("?" for _ in chunk)
            changed += backend.rowcount(conn.execute(backend.p(
                f"UPDATE activity_log SET ip_address = CASE ip_address {whens} ELSE ip_address END"
                f" WHERE {ACTIVITY_OF} AND ip_address IN ({marks})"),
                (*mapping, person, person, 1, *chunk)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        if not dry_run:
            backend.after_write(conn)
    return int(changed)


def baseline_purge(backend: Backend, conn: Any, tenant: int) -> dict[str, int]:
    """Children first, per-table count, then 1,000-row DELETE chunks (lowest ids first), one
    transaction each."""
    backend.before_write(conn)
    deleted: dict[str, int] = {}
    try:
        for table in (*TABLES_CHILDREN_FIRST, "workspaces"):
            column = "id" if table == "workspaces" else "workspace_id"
            total = conn.execute(backend.p(
                f"SELECT count(*) FROM {table} WHERE {column} = ?"), (tenant,)).fetchone()[0]
            done = 0
            if total and table == "people":
                backend.begin(conn, write=True)
                conn.execute(backend.p("UPDATE people SET manager_id = NULL WHERE workspace_id = ?"
                                       " AND manager_id IS NOT NULL"), (tenant,))
                conn.execute("COMMIT")
            while total:
                backend.begin(conn, write=True)
                removed = backend.rowcount(conn.execute(backend.p(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {column} = ?"
                    f" ORDER BY id LIMIT {CHUNK_ROWS})"), (tenant,)))
                conn.execute("COMMIT")
                done += removed
                if removed < CHUNK_ROWS:
                    break
            deleted[table] = done
    finally:
        backend.after_write(conn)
    return deleted


# --------------------------------------------------------------------------- measuring


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Row:
    label: str
    engine: list[float]
    baseline: list[float]

    @property
    def engine_ms(self) -> float:
        return statistics.median(self.engine) * 1000

    @property
    def baseline_ms(self) -> float:
        return statistics.median(self.baseline) * 1000 if self.baseline else float("nan")

    @property
    def ratio(self) -> float:
        return self.engine_ms / self.baseline_ms if self.baseline else float("nan")


@contextmanager
def timer(into: list[float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into.append(time.perf_counter() - started)


class Bench:
    def __init__(self, backend: Backend, subjects: Subjects, folder: Path) -> None:
        from privacyops.datamap import load_datamap

        self.backend = backend
        self.subjects = subjects
        self.folder = folder
        self.datamap = load_datamap(DATAMAP)
        self.store: Any = None

    def fresh_store(self) -> Any:
        """The connector on the working copy, reflected and connected before any timing.

        Like a worker's (``execution.registry`` keeps one per datastore per process), it lives
        across repetitions, so its compiled-statement cache stays warm; only its pooled
        connections are closed while the working copy is restored.
        """
        from privacyops.connectors.sql import SqlDatastore

        if self.store is None:
            self.store = SqlDatastore(self.datamap, self.backend.url, hash_key=HASH_KEY)
            assert not self.store.reflected.issues
        with self.store.engine.connect():
            pass
        return self.store

    def close(self) -> None:
        """Close the pooled connections (before a restore); the connector stays usable."""
        if self.store is not None:
            self.store.engine.dispose()

    def target(self, person: int) -> Any:
        from privacyops.connectors import Target

        return Target("subject", str(person), TENANT)

    def engine_export(self, person: int, into: list[float]) -> int:
        from privacyops.execution.packaging import write_export_json

        header = {"exported_at": "2026-01-01T00:00:00+00:00", "job_id": 1,
                  "target_type": "subject", "target_id": str(person), "datastore": "demo"}
        path = self.folder / "engine-export.json"
        with timer(into), path.open("w", encoding="utf-8") as out:
            counts = write_export_json(self.store.iter_export(self.target(person)), out, header)
        json.loads(path.read_text())  # a valid document
        return sum(counts.values())

    def baseline_export(self, conn: Any, person: int, into: list[float]) -> int:
        header = {"exported_at": "2026-01-01T00:00:00+00:00", "job_id": 1,
                  "target_type": "subject", "target_id": str(person), "datastore": "demo"}
        path = self.folder / "baseline-export.json"
        with timer(into), path.open("w", encoding="utf-8") as out:
            rows = baseline_export(self.backend, conn, person, out, header)
        json.loads(path.read_text())
        return rows

    def run(self, reps: int, purge_reps: int) -> dict[str, Row]:
        backend, big, small = self.backend, self.subjects.big, self.subjects.small
        rows: dict[str, Row] = {}

        # Reads first, on an untouched copy.
        self.close()
        backend.restore()
        self.fresh_store()
        with closing(backend.raw()) as conn:
            export = rows["export"] = Row("EXPORT 10k-row subject (JSON)", [], [])
            dry = rows["erase_dry_run"] = Row("ERASE dry run 10k-row subject", [], [])
            small_export = rows["small_export"] = Row("EXPORT 2k-row subject (JSON)", [], [])
            # one untimed warm-up of each, so both sides start with the same page cache
            self.engine_export(big, [])
            self.baseline_export(conn, big, [])
            for rep in range(reps):
                order = (0, 1) if rep % 2 == 0 else (1, 0)
                for side in order:
                    if side == 0:
                        n_engine = self.engine_export(big, export.engine)
                        with timer(dry.engine):
                            dry_engine = self.store.erase(self.target(big), dry_run=True)
                        self.engine_export(small, small_export.engine)
                    else:
                        n_base = self.baseline_export(conn, big, export.baseline)
                        with timer(dry.baseline):
                            dry_base = baseline_erase(backend, conn, big, dry_run=True)
                        self.baseline_export(conn, small, small_export.baseline)
            if n_engine != n_base:
                raise SystemExit(f"export rows differ: engine {n_engine}, baseline {n_base}")
            if dry_engine.rows_changed != dry_base:
                raise SystemExit(f"dry-run rows differ: engine {dry_engine.by_table()}, "
                                 f"baseline {dry_base}")

        # One untimed erase first, as a long-running worker has already compiled its statements.
        self.close()
        backend.restore()
        self.fresh_store().erase(self.target(big))
        self.store.erase(self.target(small))
        self.close()
        erase = rows["erase"] = Row("ERASE 10k-row subject", [], [])
        small_erase = rows["small_erase"] = Row("ERASE 2k-row subject", [], [])
        for rep in range(reps):
            for side in ((0, 1) if rep % 2 == 0 else (1, 0)):
                self.close()
                backend.restore()
                if side == 0:
                    self.fresh_store()
                    with timer(erase.engine):
                        result = self.store.erase(self.target(big))
                    with timer(small_erase.engine):
                        self.store.erase(self.target(small))
                    self.close()
                    engine_changed = result.rows_changed
                else:
                    with closing(backend.raw()) as conn:
                        with timer(erase.baseline):
                            base_changed = baseline_erase(backend, conn, big, dry_run=False)
                        with timer(small_erase.baseline):
                            baseline_erase(backend, conn, small, dry_run=False)
        if engine_changed != base_changed:
            raise SystemExit(f"erase rows differ: engine {engine_changed}, baseline {base_changed}")

        from privacyops.connectors import Target

        purge = rows["purge"] = Row("PURGE tenant 1", [], [])
        for rep in range(purge_reps):
            for side in ((0, 1) if rep % 2 == 0 else (1, 0)):
                self.close()
                backend.restore()
                if side == 0:
                    self.fresh_store()
                    with timer(purge.engine):
                        purged = self.store.purge(Target("tenant", TENANT, TENANT),
                                                  chunk_size=CHUNK_ROWS)
                    self.close()
                    engine_deleted = purged.deleted
                else:
                    with closing(backend.raw()) as conn, timer(purge.baseline):
                        base_deleted = baseline_purge(backend, conn, int(TENANT))
        if {k: v for k, v in engine_deleted.items() if v} != {k: v for k, v in base_deleted.items() if v}:
            raise SystemExit(f"purge rows differ: engine {engine_deleted}, baseline {base_deleted}")
        rows["purge"].label = f"PURGE tenant 1 ({sum(engine_deleted.values()):,} rows)"
        return rows


# --------------------------------------------------------------------------- K systems


def spread_copies(pristine: Path, folder: Path, k: int, person: int) -> list[Path]:
    """K SQLite datastores holding the same subject: the person's row in each, their assets,
    software and requests spread over the K (row id modulo K), their activity log in the
    first; K systems hold what one system holds."""
    paths = []
    for index in range(k):
        path = folder / f"systems-{k}-{index}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, path)
        if k > 1:
            with closing(sqlite3.connect(path, isolation_level=None)) as conn:
                conn.execute("BEGIN")
                if index:  # the activity log stays whole in the first system: its export
                    # section is capped (1,000 rows) per system, so spreading it would make
                    # K systems export more rows than one
                    conn.execute("DELETE FROM activity_log WHERE actor_id = ? OR "
                                 "subject_id = ?", (person, person))
                for table in ("hardware_assignments", "software_assignments", "asset_requests"):
                    conn.execute(f"DELETE FROM {table} WHERE person_id = ? AND id % ? != ?",
                                 (person, k, index))
                conn.execute("COMMIT")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        paths.append(path)
    return paths


class SystemsBench:
    """EXPORT and ERASE of one subject over K datastores the way a job by identity runs them:
    one thread per system (at most 4, PRIVACYOPS_JOB_STEP_THREADS' default), identity resolved
    per system, each ERASE verified after its commit."""

    def __init__(self, pristine: Path, folder: Path, person: int) -> None:
        from privacyops.datamap import load_datamap

        self.pristine, self.folder, self.person = pristine, folder, person
        self.datamap = load_datamap(DATAMAP)
        with closing(sqlite3.connect(pristine)) as conn:
            self.email = conn.execute("SELECT email FROM people WHERE id = ?",
                                      (person,)).fetchone()[0]

    def stores(self, k: int) -> list[Any]:
        """K connectors, made once per K and kept across repetitions like a worker keeps its
        engines (statements compiled once); `fresh` puts the datastores back before each."""
        from privacyops.connectors.sql import SqlDatastore

        paths = spread_copies(self.pristine, self.folder, k, self.person)
        stores = [SqlDatastore(self.datamap, f"sqlite:///{path}", hash_key=HASH_KEY)
                  for path in paths]
        for store in stores:
            assert not store.reflected.issues
        return stores

    def fresh(self, stores: list[Any]) -> None:
        """The K datastores as they were before any ERASE (untimed), reconnected."""
        for store in stores:
            store.engine.dispose()
        spread_copies(self.pristine, self.folder, len(stores), self.person)
        os.sync()  # the copies reach the disk now, not while the next operation is timed
        for store in stores:
            with store.engine.connect():
                pass

    def _each(self, stores: list[Any], work: Callable[[int, Any], int]) -> int:
        from concurrent.futures import ThreadPoolExecutor

        threads = int(os.environ.get("PRIVACYOPS_JOB_STEP_THREADS", "4"))
        if len(stores) == 1 or threads <= 1:
            return sum(work(index, store) for index, store in enumerate(stores))
        with ThreadPoolExecutor(max_workers=min(threads, len(stores))) as pool:
            return sum(pool.map(lambda pair: work(*pair), enumerate(stores)))

    def export(self, stores: list[Any], into: list[float]) -> int:
        from privacyops.connectors import Target
        from privacyops.execution.packaging import write_export_json

        def one(index: int, store: Any) -> int:
            keys = store.resolve_identity({"email": self.email}, TENANT)
            target = Target("subject", keys[0], TENANT)
            with (self.folder / f"systems-export-{index}.json").open("w") as out:
                return sum(write_export_json(store.iter_export(target), out,
                                             {"system": index}).values())

        with timer(into):
            return self._each(stores, one)

    def erase(self, stores: list[Any], into: list[float]) -> int:
        from privacyops.connectors import Target

        def one(_index: int, store: Any) -> int:
            keys = store.resolve_identity({"email": self.email}, TENANT)
            target = Target("subject", keys[0], TENANT)
            changed = store.erase(target).rows_changed
            problems = store.verify_erased(target, {"email": self.email})
            if problems:
                raise SystemExit(f"verification failed: {problems}")
            return int(changed)

        with timer(into):
            return self._each(stores, one)

    def run(self, k: int, reps: int) -> dict[str, float]:
        times: dict[int, dict[str, list[float]]] = {n: {"export": [], "erase": []}
                                                     for n in (1, k)}
        rows: dict[int, dict[str, int]] = {1: {}, k: {}}
        stores = {n: self.stores(n) for n in (1, k)}
        for rep in range(reps + 1):  # the first round is an untimed warm-up
            for n in ((1, k) if rep % 2 == 0 else (k, 1)):
                self.fresh(stores[n])
                sink: dict[str, list[float]] = times[n] if rep else {"export": [], "erase": []}
                rows[n]["export"] = self.export(stores[n], sink["export"])
                rows[n]["erase"] = self.erase(stores[n], sink["erase"])
        for each in stores.values():
            for store in each:
                store.close()
        # The person's own row is in every system (exported and erased K times).
        if (rows[k]["erase"] != rows[1]["erase"] + (k - 1)
                or rows[k]["export"] != rows[1]["export"] + (k - 1)):
            raise SystemExit(f"rows differ between 1 and {k} systems: {rows}")
        one = {op: statistics.median(times[1][op]) for op in ("export", "erase")}
        many = {op: statistics.median(times[k][op]) for op in ("export", "erase")}
        return {"export_1_ms": one["export"] * 1000, "export_k_ms": many["export"] * 1000,
                "erase_1_ms": one["erase"] * 1000, "erase_k_ms": many["erase"] * 1000,
                "export_k_ratio": many["export"] / one["export"],
                "erase_k_ratio": many["erase"] / one["erase"]}


def count_rows(backend: Backend) -> tuple[int, int]:
    """All rows, and the rows of tenant 1."""
    with closing(backend.raw()) as conn:
        total = tenant = 0
        for table in (*TABLES_CHILDREN_FIRST, "workspaces"):
            column = "id" if table == "workspaces" else "workspace_id"
            total += conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            tenant += conn.execute(backend.p(
                f"SELECT count(*) FROM {table} WHERE {column} = ?"), (1,)).fetchone()[0]
    return total, tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default="", help="PostgreSQL server URL (a database is created)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--purge-reps", type=int, default=3)
    parser.add_argument("--systems", type=int, default=1,
                        help="also time EXPORT and ERASE of the 10k-row subject spread over K "
                        "SQLite datastores (a job by identity), against the same on one")
    args = parser.parse_args()
    if args.systems < 1:
        parser.error("--systems is at least 1")

    with tempfile.TemporaryDirectory(prefix="privacyops-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        sqlite_backend = SqliteBackend(folder)
        big, small = _in_child(_build_sqlite, str(sqlite_backend.pristine), args.rows)
        backend: Backend = sqlite_backend
        if args.url:
            backend = PostgresBackend(args.url)
        try:
            if isinstance(backend, PostgresBackend):
                _in_child(_copy_to_postgres, str(sqlite_backend.pristine), backend.pristine_url)
                sqlite_backend.pristine.unlink()
            build_seconds = time.perf_counter() - started
            backend.restore()
            total, tenant_rows = count_rows(backend)
            print(f"datastore: {backend.name}, {total:,} rows ({tenant_rows:,} in tenant 1), "
                  f"built in {build_seconds:.1f} s; subjects {big} (10k rows), {small} (2k rows)",
                  file=sys.stderr)
            bench = Bench(backend, Subjects(big, small), folder)
            results = bench.run(args.reps, args.purge_reps)
            bench.close()
            bench.store = None
            systems: dict[str, float] = {}
            if args.systems > 1:
                pristine = folder / "systems-pristine.sqlite3"
                if isinstance(backend, PostgresBackend):
                    raise SystemExit("--systems runs on SQLite datastores; leave out --url")
                shutil.copyfile(sqlite_backend.pristine, pristine)
                systems = SystemsBench(pristine, folder, big).run(args.systems, args.reps)
        finally:
            backend.drop()
    peak = peak_rss_mb()

    print(f"\n{backend.name}, {total:,} rows, median of {args.reps} "
          f"(purge {args.purge_reps}) repetitions")
    print(f"{'operation':<40} {'engine ms':>11} {'baseline ms':>12} {'ratio':>7}  target")
    targets = {"export": "<= 1.5", "erase": "<= 1.5", "purge": "<= 2",
               "small_export": "< 50 ms", "small_erase": "< 50 ms", "erase_dry_run": ""}
    for key, row in results.items():
        print(f"{row.label:<40} {row.engine_ms:>11.1f} {row.baseline_ms:>12.1f} "
              f"{row.ratio:>7.2f}  {targets[key]}")
    print(f"{'engine process peak RSS':<40} {peak:>9.0f} MB {'':>12} {'':>7}  < 200 MB")
    extra: dict[str, Any] = {"systems": args.systems}
    if systems:
        k = args.systems
        print(f"{'operation, 10k-row subject':<40} {'1 system ms':>11} {f'{k} systems ms':>12} "
              f"{'ratio':>7}  target")
        for op in ("export", "erase"):
            print(f"{op.upper() + ' by identity':<40} {systems[f'{op}_1_ms']:>11.1f} "
                  f"{systems[f'{op}_k_ms']:>12.1f} {systems[f'{op}_k_ratio']:>7.2f}  <= 1.5")
        extra.update({"export_k_ratio": round(systems["export_k_ratio"], 2),
                      "erase_k_ratio": round(systems["erase_k_ratio"], 2)})
    print(json.dumps({
        "export_ratio": round(results["export"].ratio, 2),
        "erase_ratio": round(results["erase"].ratio, 2),
        "purge_ratio": round(results["purge"].ratio, 2),
        "peak_rss_mb": round(peak, 1),
        "rows": total,
        "erase_dry_run_ratio": round(results["erase_dry_run"].ratio, 2),
        "small_export_ms": round(results["small_export"].engine_ms, 1),
        "small_erase_ms": round(results["small_erase"].engine_ms, 1),
        "backend": backend.name,
        **extra,
    }))


if __name__ == "__main__":
    main()
