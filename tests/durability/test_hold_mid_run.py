"""A legal hold placed while ERASE and PURGE jobs run in other processes stops every write to
the held data from the moment `hold_place` returns.

The datastore gets a row-level change log (AFTER UPDATE / AFTER DELETE triggers writing the
table, the primary key and the time into `change_log`), three worker processes purge two
SSO issuers in chunks of three rows and erase or purge single people, and the test process
places holds in the middle of the run. Afterwards the log must show no change to a held row
after the hold returned: neither a statement run later (its time) nor a transaction committed
later (its log id above the highest id visible right after the return).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from privacyops.audit.selectors import audit_verify
from privacyops.connectors import Target
from privacyops.holds.services import hold_place
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.models import Tenant
from tests import factories
from tests.durability.conftest import FINAL, DurableStore, wait_until_final, worker_env
from tests.durability.targets import ERASABLE

pytestmark = [pytest.mark.durability, pytest.mark.django_db(transaction=True)]

LOGGED_TABLES = ("people", "sso_issuers", "activity_log", "hardware_assignments",
                 "software_assignments", "asset_requests", "assets", "software")


def install_change_log(store: DurableStore) -> None:
    with closing(sqlite3.connect(store.path)) as conn, conn:
        conn.execute("CREATE TABLE change_log (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "tbl TEXT NOT NULL, pk INTEGER NOT NULL, op TEXT NOT NULL, at TEXT NOT NULL)")
        for table in LOGGED_TABLES:
            for op in ("UPDATE", "DELETE"):
                conn.execute(
                    f"CREATE TRIGGER log_{table}_{op.lower()} AFTER {op} ON {table} BEGIN "  # noqa: S608
                    "INSERT INTO change_log (tbl, pk, op, at) VALUES "
                    f"('{table}', OLD.id, '{op[0]}', strftime('%Y-%m-%dT%H:%M:%f', 'now')); END"
                )


def utc_millis() -> str:
    now = datetime.now(tz=UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


@dataclass
class PlacedHold:
    scope: Target
    tenant: Tenant
    returned_at: str
    watermark: int
    held_rows: set[tuple[str, int]]


def _enqueue(tenant: Tenant, job_type: str, target_type: str, target_id: int, staff,
             approver) -> int:
    job = job_create(tenant_id=tenant.pk, job_type=job_type, target_type=target_type,
                     target_id=str(target_id), reason="durability", actor=factories.actor(staff))
    job_approve(job_id=job.pk, actor=factories.actor(approver))
    return job.pk


class TestHoldPlacedMidRun:
    def test_no_change_to_held_rows_after_hold_place_returns(
        self, durable_store, worker_pool, staff, other_staff
    ):
        install_change_log(durable_store)
        store = durable_store
        first, second = store.tenants[0], store.tenants[1]
        issuers = {
            tenant.pk: [i for (i,) in store.query(
                "SELECT id FROM sso_issuers WHERE workspace_id = ? ORDER BY id",
                int(factories.tenant_key(tenant)))]
            for tenant in (first, second)
        }
        jobs: dict[str, int] = {}
        for tenant in (first, second):
            for issuer in issuers[tenant.pk]:
                jobs[f"issuer-{issuer}"] = _enqueue(tenant, "PURGE", "issuer", issuer,
                                                    staff, other_staff)
        # People outside the purged issuers: some erased, some purged, one held before its turn.
        singles: list[tuple[Tenant, str, int]] = []
        for tenant in (first, second):
            workspace = int(factories.tenant_key(tenant))
            erasable = [p for (p,) in store.query(ERASABLE + " AND p.sso_issuer_id IS NULL "
                                                  "ORDER BY p.id", workspace)]
            others = [p for (p,) in store.query(
                "SELECT id FROM people WHERE workspace_id = ? AND sso_issuer_id IS NULL "
                "ORDER BY id DESC", workspace) if p not in erasable]
            singles += [(tenant, "ERASE", p) for p in erasable[:4]]
            singles += [(tenant, "PURGE", p) for p in others[:4]]
        # One job stays queued until the holds are placed: it may not start for 10 s (a grace
        # period, as a privacy-center deletion has). Enqueued before the workers start, so no
        # worker can take it before its start time is set. Workers wake per job, not in queue
        # order, so without this any "queued" job may already have run.
        tenant_q, job_type_q, queued_person = next(s for s in reversed(singles) if s[0] == second)
        queued_key = f"{job_type_q}-{queued_person}"
        jobs[queued_key] = _enqueue(tenant_q, job_type_q, "subject", queued_person,
                                    staff, other_staff)
        Job.objects.filter(pk=jobs[queued_key]).update(
            not_before=timezone.now() + timedelta(seconds=10))
        pool = worker_pool(worker_env(lease_seconds=5, chunk_rows=3))
        pool.start_all(3)
        for tenant, job_type, person in singles:
            if f"{job_type}-{person}" not in jobs:
                jobs[f"{job_type}-{person}"] = _enqueue(tenant, job_type, "subject", person,
                                                        staff, other_staff)

        deadline = time.monotonic() + 60
        while store.query("SELECT COUNT(*) FROM change_log WHERE op = 'D'")[0][0] < 150:
            assert time.monotonic() < deadline, f"no purge progress\n{pool.log_tail()}"
            time.sleep(0.02)

        # 1. the issuer a running purge targets; 2. a person a running issuer purge reaches
        # (people go last, so they are all still there); 3. a person a queued job targets.
        held_issuer = issuers[first.pk][0]
        reached_person = store.query(
            "SELECT MAX(id) FROM people WHERE sso_issuer_id = ?", issuers[second.pk][0])[0][0]
        assert Job.objects.get(pk=jobs[queued_key]).status == JobStatus.APPROVED
        placed: list[PlacedHold] = []
        for tenant, scope in (
            (first, Target(scope="issuer", id=str(held_issuer), tenant_key=factories.tenant_key(first))),
            (second, Target(scope="subject", id=str(reached_person),
                            tenant_key=factories.tenant_key(second))),
            (second, Target(scope="subject", id=str(queued_person),
                            tenant_key=factories.tenant_key(second))),
        ):
            hold_place(tenant_id=tenant.pk, scope_type=scope.scope, scope_id=scope.id,
                       reason="Litigation 2026-7", actor=factories.actor(staff))
            returned_at = utc_millis()
            watermark = store.query("SELECT COALESCE(MAX(id), 0) FROM change_log")[0][0]
            placed.append(PlacedHold(scope, tenant, returned_at, watermark,
                                     store.reached_rows(scope, tenant)))
            assert placed[-1].held_rows, f"nothing left to hold for {scope}"

        wait_until_final(list(jobs.values()), deadline=time.monotonic() + 90, pool=pool)
        pool.stop()

        log = store.query("SELECT id, tbl, pk, op, at FROM change_log ORDER BY id")
        for hold in placed:
            late = [
                entry for entry in log
                if (entry[1], entry[2]) in hold.held_rows
                and (entry[4] > hold.returned_at or entry[0] > hold.watermark)
            ]
            assert late == [], (
                f"{len(late)} change(s) to rows held by {hold.scope} after the hold returned "
                f"at {hold.returned_at} (log id {hold.watermark}): {late[:10]}"
            )
            for table, pk in hold.held_rows:
                assert store.query(f"SELECT 1 FROM {table} WHERE id = ?", pk), (  # noqa: S608
                    f"held row {table}#{pk} is gone")

        # The running purge of the held issuer stopped with the hold named.
        stopped = Job.objects.get(pk=jobs[f"issuer-{held_issuer}"])
        assert stopped.status == JobStatus.FAILED
        assert stopped.error_code == "legal_hold"
        assert all(j.status in FINAL for j in Job.objects.filter(pk__in=jobs.values()))
        verified = audit_verify()
        assert verified.ok, verified.sentence()
