"""Benchmark: what a user of `privacyops serve` sees, from API submission to the final status.

    python bench/e2e.py                                   # SQLite datastore and control DB
    python bench/e2e.py --customers 2000                  # a quick run
    python bench/e2e.py --url postgresql://postgres@127.0.0.1:5432/postgres   # on PostgreSQL
    python bench/e2e.py --backend rq --redis-url redis://127.0.0.1:6379/12

It builds its own datastore with the shape of an online shop: `--customers` customers (100,000
by default) with 10 orders and 10 logins each, plus heavy customers with 1,000 orders and 1,000
logins; writes the data map for it; creates a throwaway control DB (a SQLite file in a temp
folder, or with `--url` a fresh PostgreSQL database beside the datastore's, both dropped at the
end) with one tenant, one staff account and an API token; and starts `privacyops serve` on a free
port, as a user would (a separate process; its whole process tree is measured).

Then, through the JSON API with the staff token, 10 repetitions each (`--reps`):
EXPORT of a normal customer (21 rows), EXPORT of a heavy customer (2,001 rows), ERASE of a
normal and of a heavy customer (a fresh customer each time). Each repetition is
POST /api/v1/jobs, then GET /api/v1/jobs/{id}?wait=30 (the long poll) until the job is
Completed; the time between is what the table shows (median, min, max). One job of each kind
runs first, untimed: it pays for reflecting the datastore once per process. The tenant's policy
lets ERASE run without a second person's approval, so the erase is measured end to end.
`start_latency_ms` is the median of `started_at - created_at` over the timed jobs: how long a
committed job waited for a worker.

RSS is the sum over `serve`'s process tree (gunicorn master and web process with the job
worker thread): after startup (idle), and after the timed runs plus `--memory-jobs` (1,000 by
default) further exports. Startup is the time from launching `privacyops serve` to the first
200 of /login/.

On a shared machine wall-clock times measure the machine's load as much as PrivacyOps, so the
table also shows the CPU time `serve`'s processes spent on each job (user + system, from
/proc), which load does not inflate much.

Prints a table and, as its last line, one JSON object.
Targets: export of the 21-row customer < 50 ms, erase of the 2,001-row customer < 100 ms on
PostgreSQL, start latency < 10 ms, RSS < 200 MB idle and < 250 MB after 1,000 jobs, first 200
in < 2 s.
"""

# ruff: noqa: S608 - the statements are constant SQL for the schema this script creates
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ORDERS, LOGINS = 10, 10
HEAVY_ORDERS, HEAVY_LOGINS = 1000, 1000
SHOP = "1"

DATAMAP = """\
# The benchmark's online shop: customers, their orders and their logins.
version: 1
name: shop
connection:
  url_env: BENCH_SHOP_URL
tenant_column: shop_id

subject:
  entity: customers
  identity_fields: [email]
  display_fields: {name: full_name, email: email}
  erased_marker: {column: erased_at, value: now}

entities:
  customers:
    table: customers
    primary_key: id
    fields:
      id: {category: identity}
      email: {category: contact, erase: {pseudonym: "erased-{id}@shop.invalid"}}
      full_name: {category: identity, erase: {set: Erased customer}}
      phone: {category: contact, erase: null}
      created_at: {category: technical}
      erased_at: {category: technical, export: false}
  orders:
    table: orders
    primary_key: id
    relations:
      - {to: subject, via: customer_id}
    fields:
      id: {category: technical}
      status: {category: other}
      total_cents: {category: other}
      placed_at: {category: behavioral}
      shipping_address: {category: contact, erase: {set: ""}}
  logins:
    table: logins
    primary_key: id
    relations:
      - {to: subject, via: customer_id}
    fields:
      id: {category: technical}
      at: {category: behavioral}
      ip: {category: technical, erase: hash}
      user_agent: {category: technical, erase: null}

sections:
  - {name: customer, entity: customers}
  - {name: orders, entity: orders, order_by: "-placed_at"}
  - {name: logins, entity: logins, order_by: "-at"}
"""

SCHEMA = (
    "CREATE TABLE customers (id BIGINT PRIMARY KEY, shop_id VARCHAR(20) NOT NULL, "
    "email VARCHAR(200) NOT NULL, full_name VARCHAR(200), phone VARCHAR(40), "
    "created_at TIMESTAMP NOT NULL, erased_at TIMESTAMP)",
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, shop_id VARCHAR(20) NOT NULL, "
    "customer_id BIGINT NOT NULL REFERENCES customers(id), status VARCHAR(20) NOT NULL, "
    "total_cents INTEGER NOT NULL, placed_at TIMESTAMP NOT NULL, shipping_address VARCHAR(200))",
    "CREATE TABLE logins (id BIGINT PRIMARY KEY, shop_id VARCHAR(20) NOT NULL, "
    "customer_id BIGINT NOT NULL REFERENCES customers(id), at TIMESTAMP NOT NULL, "
    "ip VARCHAR(64), user_agent VARCHAR(200))",
)
INDEXES = (
    "CREATE INDEX customers_email ON customers (shop_id, email)",
    "CREATE INDEX orders_customer ON orders (customer_id)",
    "CREATE INDEX logins_customer ON logins (customer_id)",
)


# --------------------------------------------------------------------------- the datastore

def _rows(customers: int, heavy: int) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every row of the shop: customers 1..customers are normal, the next `heavy` are heavy."""
    rng = random.Random(7)
    order_id = login_id = 0
    for customer in range(1, customers + heavy + 1):
        is_heavy = customer > customers
        yield "customers", (customer, SHOP, f"customer{customer}@example.com",
                            f"Customer {customer}", f"+1555{customer:07d}",
                            "2024-01-01 00:00:00", None)
        for _ in range(HEAVY_ORDERS if is_heavy else ORDERS):
            order_id += 1
            yield "orders", (order_id, SHOP, customer, "shipped", rng.randrange(100, 50000),
                             f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} 12:00:00",
                             f"{customer} Example Street")
        for _ in range(HEAVY_LOGINS if is_heavy else LOGINS):
            login_id += 1
            yield "logins", (login_id, SHOP, customer,
                             f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} 08:00:00",
                             f"192.0.2.{rng.randrange(1, 255)}", "Mozilla/5.0 (bench)")


COLUMNS = {"customers": 7, "orders": 7, "logins": 6}


def build_sqlite(path: Path, customers: int, heavy: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        for statement in SCHEMA:
            db.execute(statement)
        batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        for table, row in _rows(customers, heavy):
            batch[table].append(row)
            if len(batch[table]) >= 50_000:
                _flush_sqlite(db, table, batch[table])
        for table, rows in batch.items():
            _flush_sqlite(db, table, rows)
        for statement in INDEXES:
            db.execute(statement)
        db.commit()
        db.execute("ANALYZE")


def _flush_sqlite(db: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" * COLUMNS[table])
    db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    rows.clear()


def build_postgresql(url: str, customers: int, heavy: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for statement in SCHEMA:
            db.execute(statement)
        with db.transaction(), db.cursor() as cursor:
            for name in COLUMNS:  # one COPY at a time per connection: a pass per table
                with cursor.copy(f"COPY {name} FROM STDIN") as copy:
                    for table, row in _rows(customers, heavy):
                        if table == name:
                            copy.write_row(row)
        for statement in INDEXES:
            db.execute(statement)
        db.execute("ANALYZE")


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_tree_mb(pid: int) -> tuple[float, list[tuple[int, float, str]]]:
    """Summed VmRSS of `pid` and all its descendants, and each process's share."""
    seen, todo, parts = set(), [pid], []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
            command = Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        rss = next((int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmRSS:")), 0) / 1024
        parts.append((current, rss, command[:90]))
        for task in Path(f"/proc/{current}/task").iterdir():
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return sum(rss for _, rss, _ in parts), parts


def cpu_tree_ms(pid: int) -> float:
    """CPU time (user + system) spent so far by `pid` and its descendants' live processes."""
    total, todo, seen = 0.0, [pid], set()
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 1000 / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def privacyops(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "privacyops.cli", *args], env=env,
                            capture_output=True, text=True, check=False, timeout=600)
    if result.returncode:
        raise SystemExit(f"privacyops {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


SETUP = """
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.services import (
    api_token_create, staff_user_create, system_add, tenant_create)
setup = Actor.system("bench")
tenant = tenant_create(slug="shop", name="Bench Shop", actor=setup)
system_add(tenant_id=tenant.pk, name="shop", datamap_name="shop", datastore_key="1", actor=setup)
Tenant.objects.filter(pk=tenant.pk).update(approval_required_types=[])
staff = staff_user_create(email="bench-staff@example.com", password="bench-password-123")
_, raw = api_token_create(user=staff, name="bench", actor=Actor.system("bench"))
print(tenant.pk, raw)
"""


class Api:
    """A keep-alive HTTP client, as an application integrating the API would hold."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        self.connection.request(method, path, json.dumps(body) if body else None, self.headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path} answered {response.status}: {payload[:300]!r}")
        return json.loads(payload)

    def run(self, tenant_id: int, job_type: str, customer: int) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        job = self.call("POST", "/api/v1/jobs", {"tenant_id": tenant_id, "type": job_type,
                                                  "target_type": "subject",
                                                  "target_id": str(customer)})
        while job["status"] not in {"Completed", "Failed", "Rejected"}:
            job = self.call("GET", f"/api/v1/jobs/{job['id']}?wait=30")
            if time.perf_counter() - started > 120:
                raise SystemExit(f"job {job['id']} is still {job['status']} after 120 s")
        elapsed = time.perf_counter() - started
        if job["status"] != "Completed":
            raise SystemExit(f"{job_type} of customer {customer} ended {job['status']}: "
                             f"{job['error_message']}")
        return elapsed * 1000, job


def _start_latency_ms(job: dict[str, Any]) -> float:
    created = datetime.fromisoformat(job["created_at"])
    started = datetime.fromisoformat(job["started_at"])
    return (started - created).total_seconds() * 1000


@contextmanager
def postgresql_databases(url: str) -> Iterator[tuple[str, str]]:
    """Two fresh databases on the server `url` names: the shop and the control DB."""
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    names = (f"bench_shop_{suffix}", f"bench_control_{suffix}")
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    with psycopg.connect(urlunsplit(parts), autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(urlunsplit(parts._replace(path=f"/{name}")) for name in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(urlunsplit(parts), autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- the run

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--url", default="",
                        help="PostgreSQL server for the datastore and the control DB")
    parser.add_argument("--backend", choices=("db", "rq"), default="db")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12",
                        help="an empty Redis database for --backend rq (flushed; refused when it "
                        "holds keys this benchmark did not write)")
    parser.add_argument("--memory-jobs", type=int, default=1000,
                        help="exports run after the timed ones before RSS is measured again")
    args = parser.parse_args()
    heavy = 1 + args.reps + 1  # export (reused), one per erase, one for the warm-up
    folder = Path(tempfile.mkdtemp(prefix="privacyops-e2e-"))
    try:
        if args.url:
            with postgresql_databases(args.url) as (shop_url, control_url):
                built = time.perf_counter()
                build_postgresql(shop_url, args.customers, heavy)
                run(args, folder, shop_url.replace("postgresql://", "postgresql+psycopg://"),
                    control_url, heavy, time.perf_counter() - built)
        else:
            path = folder / "shop.sqlite3"
            built = time.perf_counter()
            build_sqlite(path, args.customers, heavy)
            run(args, folder, f"sqlite:///{path}", "", heavy, time.perf_counter() - built)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, folder: Path, shop_url: str, control_url: str, heavy: int,
        build_seconds: float) -> None:
    datamaps = folder / "datamaps"
    datamaps.mkdir()
    (datamaps / "shop.yaml").write_text(DATAMAP)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRIVACYOPS_")}
    env.update({
        "PRIVACYOPS_DATA_DIR": str(folder / "data"), "PRIVACYOPS_DATAMAP_DIR": str(datamaps),
        "BENCH_SHOP_URL": shop_url, "PRIVACYOPS_TASKS_BACKEND": args.backend,
        "PRIVACYOPS_LOG_LEVEL": "WARNING",
    })
    if control_url:
        env["PRIVACYOPS_DATABASE_URL"] = control_url
    if args.backend == "rq":
        import redis

        queue = redis.Redis.from_url(args.redis_url)
        if queue.dbsize() and not queue.exists("privacyops-bench:e2e"):
            raise SystemExit(f"{args.redis_url} holds someone else's keys; pick an empty "
                             "Redis database with --redis-url")
        queue.flushdb()
        queue.set("privacyops-bench:e2e", "1")
        env["PRIVACYOPS_REDIS_URL"] = args.redis_url
    privacyops("migrate", "-v", "0", env=env)
    tenant_id_text, token = privacyops("manage", "shell", "-c", SETUP, env=env).split()[-2:]
    tenant_id = int(tenant_id_text)

    port = free_port()
    launched = time.perf_counter()
    log = (folder / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "privacyops.cli", "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=log, text=True,
    )
    try:
        startup_s = _first_200(port, server, launched)
        startup_cpu_s = cpu_tree_ms(server.pid) / 1000
        time.sleep(2)  # let the worker thread reach its idle wait
        rss_idle, _ = rss_tree_mb(server.pid)
        api = Api(port, token)
        small = iter(range(1, args.customers + 1))
        heavies = iter(range(args.customers + 1, args.customers + heavy + 1))
        export_heavy_customer = next(heavies)
        # Untimed: reflecting the datastore and warming caches once per process.
        api.run(tenant_id, "EXPORT", next(small))
        api.run(tenant_id, "ERASE", next(heavies))
        timings: dict[str, list[float]] = {"export_small_ms": [], "export_heavy_ms": [],
                                           "erase_small_ms": [], "erase_heavy_ms": []}
        latencies: list[float] = []
        cpu: dict[str, list[float]] = {key: [] for key in timings}
        export_small_customer = next(small)
        for _ in range(args.reps):
            for key, job_type, customer in (
                ("export_small_ms", "EXPORT", export_small_customer),
                ("export_heavy_ms", "EXPORT", export_heavy_customer),
                ("erase_small_ms", "ERASE", next(small)),
                ("erase_heavy_ms", "ERASE", next(heavies)),
            ):
                cpu_before = cpu_tree_ms(server.pid)
                ms, job = api.run(tenant_id, job_type, customer)
                cpu[key].append(cpu_tree_ms(server.pid) - cpu_before)
                timings[key].append(ms)
                latencies.append(_start_latency_ms(job))
        rows = {"export_small_ms": 21, "export_heavy_ms": 2001, "erase_small_ms": 21,
                "erase_heavy_ms": 2001}
        memory_started = time.perf_counter()
        memory_cpu = cpu_tree_ms(server.pid)
        for _ in range(args.memory_jobs):
            api.run(tenant_id, "EXPORT", export_small_customer)
        memory_seconds = time.perf_counter() - memory_started
        memory_cpu = cpu_tree_ms(server.pid) - memory_cpu
        rss_after, parts = rss_tree_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        errors = (folder / "serve.log").read_text()

    backend = ("postgresql" if control_url else "sqlite") + f"+{args.backend}"
    print(f"\nprivacyops serve, control DB and datastore {backend}: {args.customers:,} customers "
          f"+ {heavy} heavy, built in {build_seconds:.0f} s; {args.reps} repetitions; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case (API submission -> Completed)':<40} {'median':>8} {'min':>8} {'max':>8}"
          f"  {'serve CPU':>9}")
    for key, values in timings.items():
        label = f"{key.split('_')[0]} of a {rows[key]:,}-row customer"
        print(f"{label:<40} {statistics.median(values):>6.1f}ms {min(values):>6.1f}ms "
              f"{max(values):>6.1f}ms  {statistics.median(cpu[key]):>7.0f}ms")
    print(f"{'start latency (created -> started)':<40} {statistics.median(latencies):>6.1f}ms "
          f"{min(latencies):>6.1f}ms {max(latencies):>6.1f}ms")
    print(f"first 200 after launching serve: {startup_s:.2f} s "
          f"({startup_cpu_s:.2f} s of CPU in serve's processes)")
    print(f"RSS of serve's process tree: {rss_idle:.0f} MB idle, {rss_after:.0f} MB after "
          f"{args.reps * 4 + 2 + args.memory_jobs} jobs ({args.memory_jobs} exports in "
          f"{memory_seconds:.0f} s, {memory_cpu / max(1, args.memory_jobs):.0f} ms of serve's "
          "CPU each)")
    for pid, rss, command in parts:
        print(f"  {pid:>7} {rss:>6.0f} MB  {command}")
    warnings = [line for line in errors.splitlines() if " WARNING " in line or " ERROR " in line]
    if warnings:
        print("serve's warnings and errors (last 5):\n  " + "\n  ".join(warnings[-5:]))
    print(json.dumps({
        **{key: round(statistics.median(values), 1) for key, values in timings.items()},
        "start_latency_ms": round(statistics.median(latencies), 1),
        "rss_idle_mb": round(rss_idle, 1), "rss_after_mb": round(rss_after, 1),
        "startup_s": round(startup_s, 2), "startup_cpu_s": round(startup_cpu_s, 2),
        "backend": backend,
        **{key.replace("_ms", "_cpu_ms"): round(statistics.median(values), 1)
           for key, values in cpu.items()},
        "customers": args.customers, "reps": args.reps,
    }))


def _first_200(port: int, server: subprocess.Popen[str], launched: float) -> float:
    while True:
        if server.poll() is not None:
            raise SystemExit("privacyops serve exited before answering; see its log above")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/login/")
            if connection.getresponse().status == 200:
                return time.perf_counter() - launched
        except OSError:
            pass
        if time.perf_counter() - launched > 120:
            raise SystemExit("privacyops serve did not answer within 120 s")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
