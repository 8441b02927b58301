"""Retention rules as jobs: the CLI, the daily pass, holds, keep rules on PURGE, the page."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from sqlalchemy import create_engine

from privacyops.audit.models import AuditEvent
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobSource, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.retention.services import retention_schedule_due
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories
from tests.connectors.conftest import fetch_rows
from tests.fixtures.shop.builder import BASE_TIME, SHARED_DATAMAP, build_shop

# Orders of shop 1 were placed 1-3 days after BASE_TIME; one year later the first ones are due.
ORDERS_1Y = {"retention": {"after": "365d", "from": "placed_at", "action": "purge"}}
TAX_KEEP = {"keep": {"for": "10y", "from": "placed_at", "reason": "tax records (HGB §257)"}}


def write_map(name: str, **entities: dict[str, Any]) -> None:
    data = yaml.safe_load(SHARED_DATAMAP.read_text())
    data["name"] = name
    for entity, extra in entities.items():
        data["entities"][entity].update(extra)
    folder = Path(settings.DATAMAP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def shop_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    engine = create_engine(url)
    build_shop(engine)
    engine.dispose()
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    monkeypatch.setattr(settings, "DATAMAP_DIR", str(tmp_path / "datamaps"))
    return url


def shop_tenant(name: str, **entities: dict[str, Any]) -> Any:
    write_map(name, **entities)
    return factories.tenant_create(slug=f"{name}-1", name=f"Shop {name}", datamap_name=name,
                                   datastore_key="1")


def order_ids(url: str, shop: int = 1) -> set[int]:
    return {k for k, r in fetch_rows(url, "orders").items() if r["shop_id"] == shop}


def cli(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# Exactly 365 days after the orders of customer 101 (placed at BASE_TIME + 1 day + 1 and 2 h).
AT_AGE = BASE_TIME + timedelta(days=366, hours=2)


@pytest.mark.django_db
class TestRetentionRun:
    def test_dry_run_then_run_removes_exactly_the_rows_at_the_retention_age(
            self, shop_url: str) -> None:
        tenant = shop_tenant("rshop", orders=ORDERS_1Y)
        with time_machine.travel(AT_AGE - timedelta(seconds=1), tick=False):
            preview = cli("retention", "run", "--tenant", tenant.slug, "--dry-run")
        assert "orders: 1 row(s) due" in preview
        assert "would delete" in preview
        with time_machine.travel(AT_AGE, tick=False):
            preview = cli("retention", "run", "--tenant", tenant.slug, "--dry-run")
            assert "orders: 2 row(s) due" in preview
            assert "would delete order_items 4, support_tickets 1, orders 2" in preview
            assert order_ids(shop_url) == {1011, 1012, 1021, 1022, 1031, 1032}  # dry: no change

            out = cli("retention", "run", "--tenant", tenant.slug)

        assert "completed; 7 row(s) removed" in out
        assert order_ids(shop_url) == {1021, 1022, 1031, 1032}
        assert len(order_ids(shop_url, shop=2)) == 6
        job = Job.objects.get(tenant=tenant)
        assert (job.job_type, job.target_type, job.target_id, job.source, job.status) == (
            "PURGE", "retention", "orders", JobSource.RETENTION, JobStatus.COMPLETED)
        assert job.result["deleted"] == {"support_tickets": 1, "order_items": 4, "orders": 2}
        actions = set(AuditEvent.objects.filter(target_type="job", target_id=str(job.pk))
                      .values_list("action", flat=True))
        assert {"job.created", "job.started", "job.completed"} <= actions

    def test_a_legal_hold_wins_held_rows_are_skipped_and_counted(
            self, shop_url: str, staff: Any) -> None:
        tenant = shop_tenant("hshop", orders=ORDERS_1Y)
        factories.hold_create(tenant=tenant, created_by=staff, scope_type="subject",
                              scope_id="101")
        with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
            preview = cli("retention", "run", "--tenant", tenant.slug, "--dry-run")
            out = cli("retention", "run", "--tenant", tenant.slug)
        assert "2 held by a legal hold" in preview
        assert "4 row(s) removed, 2 held" in out
        assert order_ids(shop_url) == {1011, 1012}
        job = Job.objects.get(tenant=tenant)
        assert job.result["held"] == 2
        assert job.status == JobStatus.COMPLETED

    def test_the_daily_pass_creates_one_job_per_rule_once_a_day(self, shop_url: str) -> None:
        tenant = shop_tenant("dshop", orders=ORDERS_1Y, customers={"retention": {
            "after": "30d", "from": "created_at", "action": "erase"}})
        system = Actor.system("retention")
        with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC)):
            assert len(retention_schedule_due(actor=system)) == 1
            assert Job.objects.filter(tenant=tenant).count() == 2
            for job in Job.objects.filter(tenant=tenant):
                run_job_now(job.pk)
            assert retention_schedule_due(actor=system) == []  # done today already
        with time_machine.travel(datetime(2030, 1, 2, 1, tzinfo=UTC)):
            retention_schedule_due(actor=system)
        assert Job.objects.filter(tenant=tenant).count() == 4
        erase = Job.objects.filter(tenant=tenant, job_type="ERASE").earliest("created_at")
        assert erase.status == JobStatus.COMPLETED
        assert erase.result["erased"] == {"customers": 3}
        customers = fetch_rows(shop_url, "customers")
        assert customers[101]["email"] == "erased-101@shop.invalid"
        assert customers[201]["email"] == "customer1.shop2@example.com"

    def test_a_job_for_an_entity_without_a_rule_is_refused(self, shop_url: str,
                                                          staff: Any) -> None:
        tenant = shop_tenant("nshop", orders=ORDERS_1Y)
        from privacyops.errors import ValidationFailed

        with pytest.raises(ValidationFailed, match="no retention rule on 'customers'"):
            job_create(tenant_id=tenant.pk, job_type="PURGE", target_type="retention",
                       target_id="customers", actor=factories.actor(staff))
        with pytest.raises(ValidationFailed, match="its job is a PURGE, not ERASE"):
            job_create(tenant_id=tenant.pk, job_type="ERASE", target_type="retention",
                       target_id="orders", actor=factories.actor(staff))


def purge_tenant(tenant: Any, staff: Any, approver: Any) -> Job:
    job = job_create(tenant_id=tenant.pk, job_type="PURGE", target_type="tenant",
                     target_id="1", reason="offboarding", actor=factories.actor(staff))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
class TestKeepRulesOnPurge:
    def test_purging_the_tenant_keeps_the_orders_anonymised(
            self, shop_url: str, staff: Any, other_staff: Any) -> None:
        tenant = shop_tenant("kshop", orders=TAX_KEEP)
        job = purge_tenant(tenant, staff, other_staff)
        assert job.status == JobStatus.COMPLETED
        assert job.result["tables_anonymised"] == {"customers": 3, "orders": 6}
        orders = {k: r for k, r in fetch_rows(shop_url, "orders").items() if r["shop_id"] == 1}
        assert len(orders) == 6
        assert all(len(r["customer_ip"]) == 64 for r in orders.values())
        customers = fetch_rows(shop_url, "customers")
        assert customers[101]["email"] == "erased-101@shop.invalid"

        # Ten years after the first order, the keep rule's own schedule deletes it.
        with time_machine.travel(BASE_TIME.replace(year=2035) + timedelta(days=1, hours=1),
                                 tick=False):
            out = cli("retention", "run", "--tenant", tenant.slug)
        assert "orders: job" in out
        assert "1 row(s) removed" in out
        assert order_ids(shop_url) == {1012, 1021, 1022, 1031, 1032}

    def test_without_a_keep_rule_the_orders_are_deleted(
            self, shop_url: str, staff: Any, other_staff: Any) -> None:
        tenant = shop_tenant("pshop")
        job = purge_tenant(tenant, staff, other_staff)
        assert job.status == JobStatus.COMPLETED
        assert job.result["tables_anonymised"] == {}
        assert order_ids(shop_url) == set()


@pytest.mark.django_db
class TestPages:
    def test_the_retention_page_lists_rules_with_last_run_scoped_by_tenant(
            self, shop_url: str, staff: Any) -> None:
        tenant = shop_tenant("vshop", orders={**ORDERS_1Y, **TAX_KEEP})
        other = shop_tenant("wshop", support_tickets={"retention": {
            "after": "30d", "from": "created_at"}})
        with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
            cli("retention", "run", "--tenant", tenant.slug)
        client = Client()
        client.force_login(staff)
        page = client.get("/platform/privacy/retention/").content.decode()
        assert "purge 365d after placed_at" in page
        assert "kept 10y after placed_at" in page
        assert "support_tickets" in page  # staff see every tenant
        assert "2030-01-01 00:00" in page
        assert "2030-01-02 00:00" in page
        job = Job.objects.get(tenant=tenant)
        detail = client.get(f"/platform/privacy/jobs/{job.pk}/")
        assert detail.status_code == 200
        assert "Retention rule: purge 365d after placed_at" in detail.content.decode()

        admin = factories.user_create(tenant=other, role=Role.ADMIN)
        client.force_login(admin)
        page = client.get("/platform/privacy/retention/").content.decode()
        assert "support_tickets" in page
        assert "placed_at" not in page
        assert client.get(f"/platform/privacy/retention/?tenant={tenant.slug}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_worker_creates_retention_jobs_on_its_daily_pass(shop_url: str) -> None:
    import threading
    import time

    from privacyops.jobs.management.commands.worker import retention_schedule_daily

    tenant = shop_tenant("tshop", orders=ORDERS_1Y)
    stop = threading.Event()
    worker = threading.Thread(target=retention_schedule_daily, args=(stop,),
                              kwargs={"first_after": 0.01, "every": 3600.0}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while not Job.objects.filter(tenant=tenant).exists() and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    worker.join(timeout=30)
    job = Job.objects.get(tenant=tenant)
    assert (job.job_type, job.target_type, job.target_id, job.source) == (
        "PURGE", "retention", "orders", "retention")
    assert job.status == JobStatus.APPROVED  # no approval needed: the data map decided
