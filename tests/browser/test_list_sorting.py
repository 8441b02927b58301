"""Sorting and CSV export on the jobs, holds and audit pages, as an operator uses them.

Click a column header: the rows of the rendered table follow the order this test computes
from the data it created. Click "Export CSV": the downloaded file holds exactly the rows the
filters select, read from the database by the test.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from privacyops.audit.models import AuditEvent
from privacyops.audit.services import audit_record
from privacyops.jobs.models import JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories
from tests.browser.conftest import SCREENSHOTS, login, screenshots_at_widths
from tests.workspace.demo_store import acme, demo_store, demo_template, people

__all__ = ["acme", "demo_store", "demo_template", "people"]

WIDTHS = (1366, 390)


def row_ids(page, prefix: str) -> list[int]:
    """The ids of the table's rows, top to bottom, as the browser shows them."""
    ids = page.locator(f"tbody tr[id^='{prefix}-']").evaluate_all(
        "rows => rows.map(r => r.id)")
    return [int(i.rsplit("-", 1)[1]) for i in ids]


def click_header(page, label: str, direction: str) -> None:
    page.locator("thead th").filter(has_text=label).get_by_role("link").click()
    expect(page.locator("thead th[aria-sort]")).to_contain_text(label)
    expect(page.locator("thead th[aria-sort]")).to_have_attribute("aria-sort", direction)


def downloaded_csv(page, link_name: str = "Export CSV") -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).first.click()
    path = info.value.path()
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


@pytest.fixture
def jobs(tenant, other_tenant, staff):
    """Final jobs (no row polls), targets and tenants in no particular order."""
    made = []
    for n, (where, target, status) in enumerate([
        (tenant, "0307", JobStatus.COMPLETED), (other_tenant, "0042", JobStatus.FAILED),
        (tenant, "0999", JobStatus.FAILED), (other_tenant, "0100", JobStatus.COMPLETED),
        (tenant, "0001", JobStatus.REJECTED), (tenant, "0555", JobStatus.FAILED),
    ]):
        made.append(factories.job_create(tenant=where, requested_by=staff, status=status,
                                         target_id=target, job_type="EXPORT" if n % 2 else "ERASE"))
    return made


class TestJobs:
    def test_a_header_click_sorts_and_the_csv_holds_the_filtered_jobs(self, page, staff, jobs):
        login(page, staff.email)
        page.goto("/platform/privacy/")
        expect(page.locator(".list-summary")).to_contain_text(f"{len(jobs)} jobs")

        click_header(page, "Target", "descending")
        by_target = [j.pk for j in sorted(jobs, key=lambda j: (j.target_id, j.pk))]
        assert row_ids(page, "job") == by_target[::-1]
        expect(page.locator(".list-summary")).to_contain_text("page 1 of 1")
        click_header(page, "Target", "ascending")
        assert row_ids(page, "job") == by_target
        screenshots_at_widths(page, "jobs-sorted-by-target", widths=WIDTHS)

        page.get_by_label("Status", exact=True).select_option(JobStatus.FAILED)
        page.get_by_role("button", name="Apply").click()
        failed = sorted((j for j in jobs if j.status == JobStatus.FAILED),
                        key=lambda j: (j.target_id, j.pk))
        expect(page.locator(".list-summary")).to_contain_text(f"{len(failed)} jobs match")
        assert row_ids(page, "job") == [j.pk for j in failed]  # the order stays
        rows = downloaded_csv(page)
        assert sorted(int(r["id"]) for r in rows) == sorted(j.pk for j in failed)
        assert {r["status"] for r in rows} == {JobStatus.FAILED}
        assert {r["target_id"] for r in rows} == {j.target_id for j in failed}


@pytest.fixture
def holds(tenant, other_tenant, staff, other_staff):
    now = timezone.now()
    return [
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="300",
                              reason="Beta litigation", expires_at=now + timedelta(days=3)),
        factories.hold_create(tenant=other_tenant, created_by=other_staff, scope_type="issuer",
                              scope_id="okta", reason="Audit by the regulator"),
        factories.hold_create(tenant=tenant, created_by=other_staff, scope_id="12",
                              reason="Alpha claim", expires_at=now - timedelta(days=1)),
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_id="7",
                              reason="Court order", active=False, released_by=staff,
                              released_at=now),
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="55",
                              reason="=HYPERLINK(\"https://evil.example\")"),
    ]


class TestHolds:
    def test_a_header_click_sorts_and_the_csv_holds_the_filtered_holds(self, page, staff,
                                                                        holds, tenant):
        login(page, staff.email)
        page.goto("/platform/privacy/holds/")
        expect(page.locator(".list-summary")).to_contain_text(f"{len(holds)} holds")
        assert row_ids(page, "hold") == [h.pk for h in holds][::-1]

        click_header(page, "Reason", "descending")
        by_reason = [h.pk for h in sorted(holds, key=lambda h: (h.reason, h.pk))]
        assert row_ids(page, "hold") == by_reason[::-1]
        click_header(page, "Active", "descending")
        by_state = [h.pk for h in sorted(holds, key=lambda h: (h.state, h.pk))]
        assert row_ids(page, "hold") == by_state[::-1]
        screenshots_at_widths(page, "holds-sorted-by-state", widths=WIDTHS)

        page.locator("#filter_tenant").select_option(str(tenant.pk))
        page.get_by_role("button", name="Apply").click()
        own = [h for h in holds if h.tenant_id == tenant.pk]
        expect(page.locator(".list-summary")).to_contain_text(f"{len(own)} holds match")
        rows = downloaded_csv(page)
        assert sorted(int(r["id"]) for r in rows) == sorted(h.pk for h in own)
        assert {r["tenant"] for r in rows} == {tenant.name}
        # A spreadsheet shows the formula as text instead of running it.
        assert "'=HYPERLINK(\"https://evil.example\")" in {r["reason"] for r in rows}


@pytest.fixture
def events(tenant, other_tenant, staff, other_staff):
    for n, (who, action, tenant_id) in enumerate([
        (staff, "job.approved", tenant.pk), (other_staff, "hold.placed", other_tenant.pk),
        (staff, "audit.verified", None), (other_staff, "job.failed", tenant.pk),
        (staff, "hold.released", other_tenant.pk), (other_staff, "job.created", tenant.pk),
    ]):
        with transaction.atomic():
            audit_record(actor=Actor.for_user(who), action=action, tenant_id=tenant_id,
                         target_type="job", target_id=str(90 - n))
    return list(AuditEvent.objects.order_by("seq"))


class TestAudit:
    def test_a_header_click_sorts_and_the_csv_holds_the_filtered_events(self, page, staff,
                                                                         events, tenant):
        login(page, staff.email)
        events = list(AuditEvent.objects.order_by("seq"))  # with the sign-in's own event
        page.goto("/platform/privacy/audit/")
        expect(page.locator(".list-summary")).to_contain_text(f"{len(events)} events")
        assert row_ids(page, "event") == [e.seq for e in events][::-1]

        click_header(page, "Action", "descending")
        by_action = [e.seq for e in sorted(events, key=lambda e: (e.action, e.seq))]
        assert row_ids(page, "event") == by_action[::-1]
        click_header(page, "Action", "ascending")
        assert row_ids(page, "event") == by_action
        click_header(page, "Target", "descending")
        by_target = [e.seq for e in sorted(events, key=lambda e: (e.target_type, e.target_id,
                                                                   e.seq))]
        assert row_ids(page, "event") == by_target[::-1]
        screenshots_at_widths(page, "audit-sorted-by-target", widths=WIDTHS)

        page.get_by_label("Tenant", exact=True).select_option(str(tenant.pk))
        page.get_by_role("button", name="Apply").click()
        own = [e.seq for e in events if e.tenant_id == tenant.pk]
        expect(page.locator(".list-summary")).to_contain_text(f"{len(own)} events match")
        rows = downloaded_csv(page)
        # The export is itself recorded (audit.exported) before the rows are read.
        expected = list(AuditEvent.objects.filter(tenant_id=tenant.pk).order_by("seq")
                        .values_list("seq", flat=True))
        assert [int(r["seq"]) for r in rows] == expected
        assert set(own) <= set(expected)
        assert {int(r["tenant_id"]) for r in rows} == {tenant.pk}


class TestPeople:
    def test_the_people_table_sorts_by_name_and_counts(self, page, acme, people):
        admin = factories.user_create(tenant=acme, role=Role.ADMIN)
        login(page, admin.email)
        page.goto("/workspace/acme/gdpr/")
        everyone = people.all()
        expect(page.locator(".gdpr-pager")).to_contain_text(
            f"{len(everyone)} people · page 1 of {-(-len(everyone) // 50)}")
        click_header(page, "Data subject", "descending")
        by_name = sorted(everyone, key=lambda p: (p.name.lower(), p.id), reverse=True)
        assert row_ids(page, "subject") == [p.id for p in by_name[:50]]
        screenshots_at_widths(page, "people-sorted-by-name", widths=WIDTHS)
        page.set_viewport_size({"width": 390, "height": 900})  # the phone's first screen
        page.screenshot(path=str(SCREENSHOTS / "people-sorted-by-name-390-top.png"))
        expect(page.get_by_label("Order")).to_have_value("-name")
        page.set_viewport_size({"width": 1366, "height": 900})
        page.get_by_role("link", name="Next page").click()
        assert row_ids(page, "subject") == [p.id for p in by_name[50:100]]
