"""Real `privacyops worker` processes, a real demo datastore, and a way to kill them.

The workers share the test's control database (the pytest-django test database: a SQLite
file, or `test_<name>` on PostgreSQL), its data folder (artifacts, generated keys, hold
intents) and the data-map folder, exactly as processes of one deployment do.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from django.conf import settings
from django.db import connection

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import load_datamap
from privacyops.demo.generate import generate_demo_datastore
from privacyops.execution.demo import write_demo_datamap
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.models import Tenant
from tests import factories

FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED)
IDLE_KILL_AFTER_SECONDS = 10


def control_database_url() -> str:
    """The URL of the database this test runs against, for the worker processes."""
    database = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    credentials = database["USER"] or ""
    if database.get("PASSWORD"):
        credentials += f":{database['PASSWORD']}"
    host = f"{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}"
    return f"postgresql://{credentials}@{host}/{database['NAME']}"


@dataclass
class WorkerPool:
    """Worker processes in numbered slots; a killed slot can be started again."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_at: dict[int, float] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)
    started: int = 0
    kills: int = 0
    kills_mid_job: int = 0

    def start(self, slot: int) -> None:
        self.started += 1
        log = (self.log_dir / f"worker-{slot}-{self.started}.log").open("wb")
        self.logs.append(log)
        self.processes[slot] = subprocess.Popen(
            [sys.executable, "-m", "privacyops.cli", "worker", "--interval", "0.05",
             "--reconcile-every", "1"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.started_at[slot] = time.monotonic()

    def start_all(self, count: int) -> None:
        for slot in range(count):
            self.start(slot)

    def busy_slots(self) -> list[int]:
        """Slots whose process holds the lease of a job right now."""
        owners = set(
            Job.objects.filter(status=JobStatus.PROCESSING).values_list("lease_owner", flat=True)
        )
        pids = {int(owner.rsplit(":", 1)[1]) for owner in owners if ":" in owner}
        return [slot for slot, process in self.processes.items() if process.pid in pids]

    def kill(self, slot: int, *, mid_job: bool) -> None:
        process = self.processes[slot]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.kills += 1
        self.kills_mid_job += int(mid_job)
        self.start(slot)

    def kill_one(self, rng: random.Random, *, idle_too: bool) -> bool:
        """SIGKILL a worker in the middle of a job (an idle one if `idle_too`); restart it.

        An idle worker is killed only once it has run IDLE_KILL_AFTER_SECONDS: one still
        starting holds nothing, and killing starting workers over and over on a loaded machine
        (interpreter start-up takes seconds there) left no worker alive long enough to claim
        a job. Returns False when nobody is busy and idle workers are spared.
        """
        busy = self.busy_slots()
        if busy:
            self.kill(rng.choice(busy), mid_job=True)
            return True
        now = time.monotonic()
        settled = [slot for slot in self.processes
                   if now - self.started_at[slot] >= IDLE_KILL_AFTER_SECONDS]
        if idle_too and settled:
            self.kill(rng.choice(settled), mid_job=False)
            return True
        return False

    def crashed(self) -> list[int]:
        return [slot for slot, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=10)
        for log in self.logs:
            log.close()

    def log_tail(self, lines: int = 40) -> str:
        text = []
        for path in sorted(self.log_dir.glob("worker-*.log")):
            content = path.read_text(errors="replace").splitlines()
            errors = [line for line in content if "Traceback" in line or "ERROR" in line]
            if errors:
                text.append(f"--- {path.name}\n" + "\n".join(content[-lines:]))
        return "\n".join(text[-5:])


def worker_env(*, lease_seconds: int = 2, chunk_rows: int = 7,
               max_attempts: int = 1000) -> dict[str, str]:
    return {
        **os.environ,
        "PRIVACYOPS_DATABASE_URL": control_database_url(),
        # Artifacts, generated keys and hold intents live here: one folder for every process.
        "PRIVACYOPS_DATA_DIR": str(settings.DATA_DIR),
        "PRIVACYOPS_DATAMAP_DIR": settings.DATAMAP_DIR,
        "PRIVACYOPS_TASKS_BACKEND": "db",
        "PRIVACYOPS_JOB_LEASE_SECONDS": str(lease_seconds),
        "PRIVACYOPS_PURGE_CHUNK_ROWS": str(chunk_rows),
        "PRIVACYOPS_JOB_MAX_ATTEMPTS": str(max_attempts),
        "PRIVACYOPS_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def worker_pool(tmp_path: Path) -> Iterator[Any]:
    pools: list[WorkerPool] = []

    def make(env: dict[str, str]) -> WorkerPool:
        log_dir = tmp_path / "worker-logs"
        log_dir.mkdir(exist_ok=True)
        pool = WorkerPool(env=env, log_dir=log_dir)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop()


def wait_until_final(job_ids: list[int], *, deadline: float, pool: WorkerPool,
                     between: Any = None) -> None:
    """Poll until every job is final; `between` runs on each pass (kills, new waves)."""
    while True:
        open_jobs = Job.objects.filter(pk__in=job_ids).exclude(status__in=FINAL).count()
        if not open_jobs:
            return
        if time.monotonic() > deadline:
            states = list(Job.objects.filter(pk__in=job_ids).exclude(status__in=FINAL)
                          .values_list("pk", "status", "attempts", "lease_owner"))
            pytest.fail(f"jobs still open at the deadline: {states}\n{pool.log_tail()}")
        for slot in pool.crashed():
            pool.start(slot)
        if between is not None:
            between()
        time.sleep(0.05)


@dataclass
class DurableStore:
    """The demo datastore of three workspaces, each a tenant of the control plane."""

    path: Path
    tenants: list[Tenant]

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.path)) as conn:
            return conn.execute(sql, params).fetchall()

    def tenant_of_workspace(self, workspace_id: int) -> Tenant:
        return next(t for t in self.tenants if factories.tenant_key(t) == str(workspace_id))

    def datastore(self, path: Path | None = None, *, tenant: Tenant) -> SqlDatastore:
        tenant.refresh_from_db()
        datamap = load_datamap(Path(settings.DATAMAP_DIR) / "demo.yaml")
        return SqlDatastore(datamap, f"sqlite:///{path or self.path}",
                            hash_key=bytes(tenant.hash_key or b""))

    def reached_rows(self, target: Target, tenant: Tenant) -> set[tuple[str, int]]:
        """Every (table, primary key) the target's traversal reaches right now."""
        with self.datastore(tenant=tenant) as store, store.engine.connect() as conn:
            traversal = store.traversal(target)
            return {
                (store.reflected.table(entity).name, int(pk))
                for entity in traversal.entities
                for (pk,) in conn.execute(traversal.pk_select(entity))
            }

    def copy_to(self, destination: Path) -> Path:
        with closing(sqlite3.connect(self.path)) as source, \
                closing(sqlite3.connect(destination)) as target:
            source.backup(target)
        return destination


@pytest.fixture
def durable_store(tmp_path: Path, settings: Any, transactional_db: None) -> DurableStore:
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    path = tmp_path / "durable-demo.sqlite3"
    summary = generate_demo_datastore(path, people=400, workspaces=3, progress=False)
    write_demo_datamap(path)
    tenants = [
        factories.tenant_create(slug=f"dur-{ws.slug}", name=ws.name, datastore_key=str(ws.id),
                                datamap_name="demo")
        for ws in summary.workspaces
    ]
    return DurableStore(path, tenants)
