"""A multi-system ERASE whose worker is SIGKILLed at chosen points, then finished by another.

Two SQLite systems of one tenant hold the same people by email (the demo workspace app, in WAL
mode, and the demo helpdesk, in rollback-journal mode). The job names the person by identity.
Like the other durability tests, the kill points are found by watching the job's rows and the
datastores from outside; what makes each point land where it should is an ordinary lock the
test holds on a datastore, which the worker waits for (busy timeout 30 s):

- before any step: the helpdesk locked EXCLUSIVE, so resolving the identity there waits;
- mid-step: a reader holds the helpdesk, so the worker's erase has written its rows and waits
  to commit (its rollback journal is on disk when it dies);
- between systems: the helpdesk locked RESERVED, so its step waits to start writing while the
  workspace app's step commits and is recorded;
- after a commit, before the step's record: a reader holds an old snapshot of the workspace
  app (WAL), so the checkpoint after the commit waits;
- after every step, before the job's end: the worker is stopped (SIGSTOP) the moment the last
  step is recorded; if the job had already ended, the point was missed and tried again with
  another person.

After each kill, another worker finishes the job. Every system must then be either fully
erased as its data map says or untouched, never half; the rows each step reports must be the
rows that actually changed (a row-by-row diff of the datastore, the test's own SQL); the job
ends Completed with every step verified; and the audit chain verifies.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection

from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import audit_verify
from privacyops.demo.generate import generate_demo_datastore
from privacyops.demo.helpdesk import generate_helpdesk, people_of_demo, write_helpdesk_datamap
from privacyops.execution.demo import write_demo_datamap
from privacyops.execution.models import ErasureLedgerEntry, JobStep
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.models import ConnectorType, System, Tenant
from tests import factories
from tests.durability.conftest import WorkerPool, wait_until_final, worker_env
from tests.durability.targets import ERASABLE, erase_mismatches_in

pytestmark = [pytest.mark.durability, pytest.mark.django_db(transaction=True)]

SYSTEMS = ("demo", "helpdesk")
WAIT_SECONDS = 20.0
K4_TRIES = 6

Dump = dict[str, dict[int, tuple[Any, ...]]]


@dataclass
class TwoSystems:
    paths: dict[str, Path]
    tenant: Tenant
    key: str
    used: set[int] = field(default_factory=set)

    def query(self, system: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.paths[system], timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def next_person(self) -> tuple[dict[str, str], str]:
        """An erasable person not used yet: their key in each system, and their email."""
        for (person_id,) in self.query("demo", ERASABLE + " ORDER BY p.id", int(self.key)):
            if person_id in self.used:
                continue
            self.used.add(person_id)
            (email,) = self.query("demo", "SELECT email FROM people WHERE id = ?", person_id)[0]
            (requester,) = self.query(
                "helpdesk", "SELECT id FROM requesters WHERE workspace_id = ? AND email = ?",
                int(self.key), email)[0]
            return {"demo": str(person_id), "helpdesk": str(requester)}, email
        raise AssertionError("no erasable person left in the demo datastore")

    def dump(self, system: str) -> Dump:
        """Every row of every table by rowid (the test's view, not the connector's)."""
        with closing(sqlite3.connect(self.paths[system], timeout=30)) as conn:
            tables = [name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            return {table: {row[0]: row[1:] for row in conn.execute(
                f'SELECT rowid, * FROM "{table}"')} for table in tables}  # noqa: S608

    def mismatches(self, system: str, key: str) -> list[str]:
        return erase_mismatches_in(self.paths[system], system, key, self.key)


def changed_rows(before: Dump, after: Dump) -> dict[str, int]:
    """Rows per table that differ between two dumps (no row may appear or vanish)."""
    changed: dict[str, int] = {}
    for table, rows in before.items():
        assert set(rows) == set(after[table]), f"{table}: rows appeared or vanished"
        count = sum(1 for rowid, row in rows.items() if after[table][rowid] != row)
        if count:
            changed[table] = count
    return changed


def _with_busy_timeout(path: Path) -> None:
    """Point a written data map's SQLite URL at a 30 s busy timeout: the worker waits for the
    test's locks (well past the kill) instead of failing the step after the 5 s default."""
    document = yaml.safe_load(path.read_text())
    document["connection"]["url"] += "?timeout=30"
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture
def two_systems(tmp_path: Path, settings: Any, transactional_db: None) -> TwoSystems:
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    demo = tmp_path / "demo.sqlite3"
    summary = generate_demo_datastore(demo, people=60, workspaces=1, progress=False)
    _with_busy_timeout(write_demo_datamap(demo))
    helpdesk = tmp_path / "helpdesk.sqlite3"
    generate_helpdesk(helpdesk, people_of_demo(demo))
    _with_busy_timeout(write_helpdesk_datamap(helpdesk, Path(settings.DATAMAP_DIR)))
    key = str(summary.workspaces[0].id)
    tenant = factories.tenant_create(slug="kill-multi", datastore_key=key, datamap_name="demo")
    System.objects.create(tenant=tenant, name="helpdesk", datamap_name="helpdesk",
                          datastore_key=key, connector_type=ConnectorType.SQL)
    return TwoSystems({"demo": demo, "helpdesk": helpdesk}, tenant, key)


@contextmanager
def datastore_lock(path: Path, how: str) -> Iterator[sqlite3.Connection]:
    """Hold a lock on a SQLite datastore: ``exclusive`` (nobody reads), ``reserved`` (nobody
    else writes), or ``reader`` (an open read transaction on today's snapshot)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if how == "reader":
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no-op outside WAL mode
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read lock
        else:
            conn.execute({"exclusive": "BEGIN EXCLUSIVE", "reserved": "BEGIN IMMEDIATE"}[how])
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def wait_for(what: str, condition: Callable[[], bool], pool: WorkerPool) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never reached: {what}\n{pool.log_tail()}")
        assert not pool.crashed(), f"the worker died by itself\n{pool.log_tail()}"
        time.sleep(0.01)


def steps_of(job_id: int) -> dict[str, JobStep]:
    return {step.system_name: step for step in JobStep.objects.filter(job_id=job_id)}


def kill(pool: WorkerPool) -> None:
    process = pool.processes[0]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    pool.kills += 1


@dataclass
class Scenario:
    name: str
    job_id: int
    keys: dict[str, str]
    before: dict[str, Dump]
    at_kill: dict[str, str] = field(default_factory=dict)   # system -> step status at the kill
    systems_at_kill: dict[str, str] = field(default_factory=dict)  # erased / untouched
    tries: int = 1
    note: str = ""


def _start(two: TwoSystems, staff: Any, approver: Any, name: str) -> Scenario:
    keys, email = two.next_person()
    before = {system: two.dump(system) for system in SYSTEMS}
    job = job_create(tenant_id=two.tenant.pk, job_type="ERASE", target_type="subject",
                     identity={"email": email}, reason="durability", actor=factories.actor(staff))
    assert job.status == JobStatus.PENDING
    return Scenario(name, job.pk, keys, before)


def _approve(scenario: Scenario, approver: Any) -> None:
    job_approve(job_id=scenario.job_id, actor=factories.actor(approver))


def _record_kill(two: TwoSystems, scenario: Scenario) -> None:
    """What the dead worker left: each step's status, and each system erased or untouched."""
    job = Job.objects.get(pk=scenario.job_id)
    assert job.status == JobStatus.PROCESSING, f"{scenario.name}: the job is {job.status}"
    scenario.at_kill = {name: step.status + ("+planned" if (step.result or {}).get("pending")
                                             else "")
                        for name, step in steps_of(scenario.job_id).items()}
    for system in SYSTEMS:
        changed = changed_rows(scenario.before[system], two.dump(system))
        if not changed:
            scenario.systems_at_kill[system] = "untouched"
            continue
        problems = two.mismatches(system, scenario.keys[system])
        assert problems == [], f"{scenario.name}: {system} is half-erased: {problems}"
        scenario.systems_at_kill[system] = "erased"


def _finish(two: TwoSystems, pool: WorkerPool, scenario: Scenario) -> None:
    """Another worker finishes the job: check every promise of the brief."""
    pool.start(0)
    wait_until_final([scenario.job_id], deadline=time.monotonic() + 60, pool=pool)
    job = Job.objects.get(pk=scenario.job_id)
    assert job.status == JobStatus.COMPLETED, (
        f"{scenario.name}: {job.status} {job.error_code} {job.error_message}\n{pool.log_tail()}")
    steps = steps_of(scenario.job_id)
    reported = 0
    for system in SYSTEMS:
        step = steps[system]
        assert step.status == "completed", (scenario.name, system, step.status)
        assert step.verified, (scenario.name, system)
        assert two.mismatches(system, scenario.keys[system]) == [], (scenario.name, system)
        changed = changed_rows(scenario.before[system], two.dump(system))
        tables = {t: c["rows"] for t, c in (step.result or {}).get("tables", {}).items()
                  if c["rows"]}
        assert tables == changed, f"{scenario.name}: {system} reports {tables}, changed {changed}"
        assert step.rows == sum(changed.values()), (scenario.name, system, step.rows, changed)
        reported += step.rows
        if scenario.at_kill.get(system) == "completed":
            assert step.attempts == 1, f"{scenario.name}: {system} ran again"
    assert job.result["rows_changed"] == reported
    entry = ErasureLedgerEntry.objects.get(job=job)
    assert sum(t["rows"] for t in entry.actions["tables"].values()) == reported
    completed = AuditEvent.objects.filter(action="job.completed", target_type="job",
                                          target_id=str(job.pk)).count()
    assert completed == 1, f"{scenario.name}: {completed} job.completed events"
    scenario.note = ", ".join(
        f"{s}: {steps[s].rows} rows, attempts {steps[s].attempts}"
        + (", recovered" if (steps[s].result or {}).get("recovered") else "") for s in SYSTEMS)


class TestKilledMultiSystemErase:
    def test_every_kill_point_ends_completed_and_nothing_is_half_erased(
        self, two_systems, worker_pool, staff, other_staff
    ):
        two = two_systems
        pool: WorkerPool = worker_pool(worker_env(lease_seconds=2))
        pool.start(0)
        started = time.monotonic()
        done: list[Scenario] = []

        def job_running(scenario: Scenario) -> bool:
            return Job.objects.filter(pk=scenario.job_id, status=JobStatus.PROCESSING) \
                .exclude(lease_owner="").exists()

        # 1. Before any step: the helpdesk cannot even be read, so no step can start.
        scenario = _start(two, staff, other_staff, "before any step")
        with datastore_lock(two.paths["helpdesk"], "exclusive"):
            _approve(scenario, other_staff)
            wait_for("the job claimed, the identity resolved in the workspace app",
                     lambda: job_running(scenario) and steps_of(scenario.job_id)[
                         "demo"].keys_resolved, pool)
            time.sleep(0.3)
            kill(pool)
        _record_kill(two, scenario)
        assert set(scenario.at_kill.values()) == {"pending"}, scenario.at_kill
        assert set(scenario.systems_at_kill.values()) == {"untouched"}
        _finish(two, pool, scenario)
        done.append(scenario)

        # 2. Mid-step: the helpdesk erase has written its rows and waits to commit.
        scenario = _start(two, staff, other_staff, "mid-step in helpdesk")
        journal = two.paths["helpdesk"].with_name("helpdesk.sqlite3-journal")
        with datastore_lock(two.paths["helpdesk"], "reader"):
            _approve(scenario, other_staff)
            wait_for("the helpdesk erase writing, uncommitted",
                     lambda: bool((steps_of(scenario.job_id)["helpdesk"].result or {})
                                  .get("pending")) and journal.exists()
                     and journal.stat().st_size > 0, pool)
            time.sleep(0.3)
            kill(pool)
            assert journal.exists(), "the dead worker left no rollback journal: nothing written"
            assert journal.stat().st_size > 0
        _record_kill(two, scenario)
        assert scenario.at_kill["helpdesk"] == "running+planned", scenario.at_kill
        assert scenario.systems_at_kill["helpdesk"] == "untouched"
        _finish(two, pool, scenario)
        done.append(scenario)

        # 3. Between systems: the workspace app committed and recorded, the helpdesk not begun.
        scenario = _start(two, staff, other_staff, "after one system, before the other")
        with datastore_lock(two.paths["helpdesk"], "reserved"):
            _approve(scenario, other_staff)

            def first_done() -> bool:
                steps = steps_of(scenario.job_id)
                return steps["demo"].status == "completed" and steps["helpdesk"].status == "running"

            wait_for("the workspace app's step completed, the helpdesk's waiting", first_done,
                     pool)
            time.sleep(0.3)
            kill(pool)
        _record_kill(two, scenario)
        assert scenario.at_kill == {"demo": "completed", "helpdesk": "running"}, scenario.at_kill
        assert scenario.systems_at_kill == {"demo": "erased", "helpdesk": "untouched"}
        _finish(two, pool, scenario)
        done.append(scenario)

        # 3b. A system committed, its step not recorded yet: recovered by verification.
        scenario = _start(two, staff, other_staff, "after a commit, before its record")
        with datastore_lock(two.paths["demo"], "reader"):
            _approve(scenario, other_staff)
            person = scenario.keys["demo"]
            wait_for("the workspace app's erase committed",
                     lambda: two.query("demo", "SELECT erased_at IS NOT NULL FROM people "
                                               "WHERE id = ?", person) == [(1,)], pool)
            time.sleep(0.3)
            kill(pool)
        _record_kill(two, scenario)
        assert scenario.at_kill["demo"] == "running+planned", scenario.at_kill
        assert scenario.systems_at_kill["demo"] == "erased"
        _finish(two, pool, scenario)
        assert (steps_of(scenario.job_id)["demo"].result or {}).get("recovered") is True
        assert steps_of(scenario.job_id)["demo"].attempts == 1, "the erase ran a second time"
        done.append(scenario)

        # 4. Every step recorded, the job not yet: stop the worker the moment the last step is.
        for attempt in range(1, K4_TRIES + 1):
            scenario = _start(two, staff, other_staff, "after every step, before the job's end")
            scenario.tries = attempt
            with datastore_lock(two.paths["helpdesk"], "reserved"):
                _approve(scenario, other_staff)
                job_id = scenario.job_id
                wait_for("the workspace app's step completed",
                         lambda: steps_of(job_id)["demo"].status == "completed", pool)  # noqa: B023
            helpdesk_step = steps_of(scenario.job_id)["helpdesk"].pk
            with connection.cursor() as cursor:
                deadline = time.monotonic() + WAIT_SECONDS
                while True:
                    cursor.execute("SELECT status FROM execution_jobstep WHERE id = %s",
                                   [helpdesk_step])
                    if cursor.fetchone()[0] == "completed":
                        break
                    assert time.monotonic() < deadline, pool.log_tail()
            pool.processes[0].send_signal(signal.SIGSTOP)
            if Job.objects.get(pk=scenario.job_id).status == JobStatus.PROCESSING:
                kill(pool)
                break
            pool.processes[0].send_signal(signal.SIGCONT)  # missed: the job had ended
            wait_until_final([scenario.job_id], deadline=time.monotonic() + 30, pool=pool)
        else:
            pytest.fail(f"the worker was never stopped before the job's end in {K4_TRIES} tries")
        _record_kill(two, scenario)
        assert scenario.at_kill == {"demo": "completed", "helpdesk": "completed"}
        assert scenario.systems_at_kill == {"demo": "erased", "helpdesk": "erased"}
        _finish(two, pool, scenario)
        done.append(scenario)

        elapsed = time.monotonic() - started
        pool.stop()
        verified = audit_verify()
        assert verified.ok, verified.sentence()
        print(f"\n[durability/{connection.vendor}] multi-system ERASE, {pool.kills} kills, "
              f"{elapsed:.1f}s")
        for s in done:
            print(f"  {s.name}: steps at the kill {s.at_kill}, datastores {s.systems_at_kill}"
                  f"{f', {s.tries} tries' if s.tries > 1 else ''} -> completed ({s.note})")
