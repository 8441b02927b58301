"""Platform → Privacy in a real browser: what a privacy operator sees and does."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from privacyops.audit.models import AuditEvent
from privacyops.holds.models import LegalHold
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_claim, job_fail
from tests import factories
from tests.browser.conftest import login, screenshot, screenshots_at_widths


@pytest.fixture
def jobs(tenant, other_tenant, staff):
    make = factories.job_create
    return {
        "pending_erase": make(tenant=tenant, requested_by=staff, target_id="1001",
                              reason="Art. 17 request"),
        "pending_purge": make(tenant=other_tenant, requested_by=staff, job_type="PURGE",
                              target_type="tenant", target_id="globex"),
        "approved_export": make(tenant=tenant, requested_by=staff, job_type="EXPORT",
                                status=JobStatus.APPROVED, requires_approval=False,
                                target_id="1002"),
        "processing_erase": make(tenant=other_tenant, requested_by=staff,
                                 status=JobStatus.PROCESSING, target_id="1003",
                                 progress={"done": 40, "total": 100}),
        "completed_export": make(tenant=tenant, requested_by=staff, job_type="EXPORT",
                                 status=JobStatus.COMPLETED, requires_approval=False,
                                 target_id="1004",
                                 result={"download_url": "/downloads/example-token/",
                                         "expires_at": "2031-01-31T12:00:00+00:00",
                                         "sections": {"profile": 1, "activity": 18},
                                         "sha256": "ab" * 32}),
        "failed_erase": make(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                             target_id="1005", error_code="precondition",
                             error_message="Person 1005 still holds hardware."),
        "rejected_purge": make(tenant=tenant, requested_by=staff, job_type="PURGE",
                               status=JobStatus.REJECTED, target_id="1006"),
    }


# A member whose erasure no data-map precondition refuses (no hardware or software out).
ERASABLE_PERSON = (
    "SELECT p.id FROM people p WHERE p.workspace_id = ? AND p.role = 'member' "
    "AND p.erased_at IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id "
    "AND h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s "
    "WHERE s.person_id = p.id AND s.revoked_at IS NULL) ORDER BY p.id"
)


@pytest.fixture
def demo_tenant(tmp_path, settings):
    """A tenant on the demo datastore and its data map, and one of its people's ids."""
    from privacyops.demo.generate import generate_demo_datastore
    from privacyops.execution.demo import write_demo_datamap

    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    path = tmp_path / "demo.sqlite3"
    summary = generate_demo_datastore(path, people=40, workspaces=1, progress=False)
    write_demo_datamap(path)
    workspace = summary.workspaces[0]
    tenant = factories.tenant_create(slug=f"demo-{workspace.slug}", name=f"{workspace.name} (demo)",
                                     datastore_key=str(workspace.id), datamap_name="demo")
    with sqlite3.connect(path) as conn:
        person = conn.execute(ERASABLE_PERSON, (workspace.id,)).fetchone()[0]
    return tenant, str(person)


def listed_job_ids(page) -> set[int]:
    ids = page.locator("table.jobs tbody tr[id^=job-]").evaluate_all("rows => rows.map(r => r.id)")
    return {int(i.removeprefix("job-")) for i in ids}


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


class TestJobsList:
    def test_stat_cards_equal_the_database(self, page, staff, jobs):
        login(page, staff.email)
        expect(page).to_have_url(re.compile(r"/platform/privacy/$"))
        screenshots_at_widths(page, "overview")
        cards = page.get_by_role("region", name="Jobs by status")
        expect(cards.locator("[data-status=total] .stat-count")).to_have_text(
            str(Job.objects.count()))
        for status in JobStatus.values:
            expect(cards.locator(f"[data-status={status}] .stat-count")).to_have_text(
                str(Job.objects.filter(status=status).count()))

        cards.locator("[data-status=Failed]").click()
        expect(page).to_have_url(re.compile(r"\?status=Failed$"))
        assert listed_job_ids(page) == set(
            Job.objects.filter(status="Failed").values_list("pk", flat=True))
        expect(page.get_by_label("Status", exact=True)).to_have_value("Failed")
        screenshot(page, "overview-failed-card")

    def test_each_filter_and_the_search_narrow_the_list(self, page, staff, jobs):
        login(page, staff.email)

        page.get_by_label("Status", exact=True).select_option("Pending")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"status=Pending"))
        assert listed_job_ids(page) == {jobs["pending_erase"].pk, jobs["pending_purge"].pk}

        page.get_by_label("Type", exact=True).select_option("PURGE")
        page.get_by_role("button", name="Apply").click()
        assert query_of(page)["status"] == ["Pending"]
        assert query_of(page)["type"] == ["PURGE"]
        assert listed_job_ids(page) == {jobs["pending_purge"].pk}
        screenshot(page, "jobs-status-and-type")

        page.goto("/platform/privacy/?type=EXPORT")
        expect(page.get_by_label("Type", exact=True)).to_have_value("EXPORT")
        assert listed_job_ids(page) == set(
            Job.objects.filter(job_type="EXPORT").values_list("pk", flat=True))

        page.goto("/platform/privacy/")
        page.get_by_label("Search", exact=True).fill("Globex")
        page.get_by_label("Search", exact=True).press("Enter")
        expect(page).to_have_url(re.compile(r"q=Globex"))
        assert listed_job_ids(page) == set(
            Job.objects.filter(tenant__name="Globex").values_list("pk", flat=True))

        page.get_by_label("Search", exact=True).fill("1005")
        page.get_by_role("button", name="Apply").click()
        assert listed_job_ids(page) == {jobs["failed_erase"].pk}

        wanted = jobs["rejected_purge"]
        page.get_by_label("Search", exact=True).fill(str(wanted.pk))
        page.get_by_role("button", name="Apply").click()
        assert wanted.pk in listed_job_ids(page)

        # A shared URL reloads to the same filtered view.
        page.goto("/platform/privacy/?q=Acme&status=Failed")
        page.reload()
        expect(page.get_by_label("Search", exact=True)).to_have_value("Acme")
        assert listed_job_ids(page) == {jobs["failed_erase"].pk}
        screenshot(page, "jobs-search")

        page.get_by_label("Search", exact=True).fill("no-such-thing")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("No job matches these filters.")).to_be_visible()

    def test_clicking_a_row_opens_the_job(self, page, staff, jobs):
        job = jobs["completed_export"]
        login(page, staff.email)
        # The whole row is the link: a click on any cell (here the tenant) opens the job.
        page.locator(f"#job-{job.pk} td[data-label=Tenant]").click(force=True)
        expect(page).to_have_url(re.compile(rf"/platform/privacy/jobs/{job.pk}/$"))
        expect(page.get_by_role("heading", name="Job information")).to_be_visible()
        expect(page.get_by_role("heading", name="Context")).to_be_visible()
        result = page.get_by_role("region", name="Result data")
        expect(result.get_by_role("link", name="Download export")).to_have_attribute(
            "href", "/downloads/example-token/")
        expect(result).to_contain_text("Link expires 2031-01-31 12:00")  # the viewer's zone: UTC
        expect(result.get_by_label("Result JSON")).to_contain_text('"activity": 18')
        screenshots_at_widths(page, "job-detail-export")

    def test_processing_row_and_detail_refresh_themselves(self, page, staff, jobs):
        job = jobs["processing_erase"]
        login(page, staff.email)
        row = page.locator(f"#job-{job.pk}")
        expect(row.locator(".badge")).to_have_text("Processing")
        Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, result={"rows": 3})
        expect(row.locator(".badge")).to_have_text("Completed", timeout=6000)
        assert row.get_attribute("hx-trigger") is None  # polling stopped

        other = jobs["pending_erase"]
        Job.objects.filter(pk=other.pk).update(status=JobStatus.PROCESSING,
                                               progress={"done": 1, "total": 4})
        page.goto(f"/platform/privacy/jobs/{other.pk}/")
        expect(page.get_by_label("Progress")).to_have_attribute("value", "25")
        screenshot(page, "job-detail-processing")
        Job.objects.filter(pk=other.pk).update(status=JobStatus.COMPLETED,
                                               result={"tables": {"people": 1}})
        expect(page.locator("h1 .badge")).to_have_text("Completed", timeout=6000)
        expect(page.get_by_label("Result JSON")).to_contain_text('"people": 1')


class TestDecisions:
    def test_approve_one_and_reject_one_with_an_email(self, page, staff, other_staff, jobs,
                                                      mail_to_smtp):
        login(page, other_staff.email)
        approve = jobs["pending_erase"]
        page.goto(f"/platform/privacy/jobs/{approve.pk}/")
        screenshots_at_widths(page, "job-detail-pending")
        page.get_by_label("cannot be undone").check()  # an ERASE: the approval is confirmed
        page.get_by_role("button", name="Approve erase").click()
        expect(page.locator(".msg-success")).to_contain_text(f"Job #{approve.pk} approved")
        expect(page.locator("h1 .badge")).to_have_text("Approved")
        expect(page.get_by_text("Approved by")).to_be_visible()
        assert Job.objects.get(pk=approve.pk).status == JobStatus.APPROVED

        reject = jobs["pending_purge"]
        page.goto(f"/platform/privacy/jobs/{reject.pk}/")
        page.get_by_label("Reason for rejection").fill("Tenant purge needs a signed order.")
        screenshot(page, "job-reject-form")
        page.get_by_role("button", name="Reject job").click()
        expect(page.locator("h1 .badge")).to_have_text("Rejected")
        expect(page.get_by_role("region", name="Context")).to_contain_text(
            "Tenant purge needs a signed order.")
        screenshot(page, "job-rejected")

        message = mail_to_smtp.wait_for(lambda m: f"#{reject.pk}" in str(m["Subject"]))
        assert message["To"] == staff.email
        assert "rejected" in str(message["Subject"])
        assert "Tenant purge needs a signed order." in message.get_content()

    def test_requester_cannot_decide_their_own_job(self, page, staff, jobs):
        login(page, staff.email)
        page.goto(f"/platform/privacy/jobs/{jobs['pending_erase'].pk}/")
        expect(page.get_by_text("You requested this job")).to_be_visible()
        expect(page.get_by_role("button", name="Approve erase")).to_have_count(0)


class TestHoldsAndRetry:
    def test_place_a_hold_release_it_and_retry_a_failed_job(self, page, staff, tenant, jobs):
        login(page, staff.email)
        page.get_by_role("link", name="Legal holds").click()
        expect(page).to_have_url(re.compile(r"/platform/privacy/holds/$"))
        page.get_by_text("Place a legal hold").click()
        form = page.locator("details.place-hold form")
        form.get_by_label("Tenant", exact=True).select_option(label="Acme Corp")
        form.get_by_label("Scope type", exact=True).fill("subject")
        form.get_by_label("Scope id", exact=True).fill("1005")
        form.get_by_label("Reason", exact=True).fill("Litigation 2024-17, preserve everything")
        screenshot(page, "hold-place-form")
        form.get_by_role("button", name="Place hold").click()
        hold = LegalHold.objects.get()
        expect(page.get_by_role("status")).to_contain_text(f"Legal hold #{hold.pk} placed")
        row = page.locator(f"#hold-{hold.pk}")
        expect(row.locator(".badge")).to_have_text("Active")
        expect(row).to_contain_text("Litigation 2024-17")
        screenshots_at_widths(page, "holds")

        row.get_by_text("Release…").click()
        row.get_by_label("Reason for release").fill("Case settled")
        row.get_by_role("button", name=f"Release hold #{hold.pk}").click()
        expect(page.get_by_role("status")).to_contain_text(f"Legal hold #{hold.pk} released")
        expect(page.locator("h1 .badge")).to_have_text("Released")
        hold.refresh_from_db()
        assert not hold.active
        assert hold.release_reason == "Case settled"

        page.goto("/platform/privacy/holds/?state=released")
        expect(page.locator(f"#hold-{hold.pk}")).to_be_visible()
        page.goto("/platform/privacy/holds/?state=active")
        expect(page.locator(f"#hold-{hold.pk}")).to_have_count(0)

        failed = jobs["failed_erase"]
        page.goto(f"/platform/privacy/jobs/{failed.pk}/")
        expect(page.get_by_role("region", name="Why it failed")).to_contain_text(
            "still holds hardware")
        screenshot(page, "job-failed")
        page.get_by_role("button", name="Retry").click()
        expect(page.locator("h1 .badge")).to_have_text("Approved")
        assert Job.objects.get(pk=failed.pk).status == JobStatus.APPROVED

    def test_a_hold_blocks_a_new_erase_which_fails_with_a_link_to_it(
        self, page, staff, other_staff, tenant, demo_tenant
    ):
        demo, person = demo_tenant
        hold = factories.hold_create(tenant=demo, created_by=staff, scope_id=person,
                                     reason="Regulator inquiry")
        login(page, staff.email)
        page.goto("/platform/privacy/jobs/new/")
        page.get_by_label("Tenant", exact=True).select_option(label=demo.name)
        page.get_by_label("Job type", exact=True).select_option("ERASE")
        page.get_by_label("Target type", exact=True).select_option("subject")
        page.get_by_label("Target id", exact=True).fill(person)
        page.get_by_label("Reason", exact=True).fill("Art. 17 request by email")
        preview = page.locator("#preview")
        expect(preview).to_contain_text("would change")
        expect(preview).to_contain_text(f"This job would be refused: Blocked by legal hold #{hold.pk}")
        expect(preview.locator("table")).to_contain_text("people")
        screenshots_at_widths(page, "job-new-preview")
        page.get_by_role("button", name="Create job").click()
        job = Job.objects.get(target_id=person)
        expect(page).to_have_url(re.compile(rf"/platform/privacy/jobs/{job.pk}/$"))
        expect(page.locator("h1 .badge")).to_have_text("Pending")

        # The worker's side: approved by someone else, claimed, refused by the hold.
        job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert job_claim(job_id=job.pk, worker_id="worker-1") is not None
        assert job_fail(job_id=job.pk, worker_id="worker-1", code="legal_hold",
                        message=f"Blocked by {hold.describe()}.", hold_id=hold.pk)

        page.reload()
        failure = page.get_by_role("region", name="Why it failed")
        expect(failure).to_contain_text("legal_hold")
        screenshot(page, "job-blocked-by-hold")
        failure.get_by_role("link", name=re.compile(f"legal hold #{hold.pk}")).click()
        expect(page).to_have_url(re.compile(rf"/platform/privacy/holds/{hold.pk}/$"))
        expect(page.get_by_role("region", name="Jobs it blocked")).to_contain_text(
            f"#{job.pk} ERASE")
        screenshot(page, "hold-detail")


class TestAuditLog:
    def test_filter_export_and_verify(self, page, staff, other_staff, tenant, jobs, tmp_path):
        job_approve(job_id=jobs["pending_erase"].pk, actor=factories.actor(other_staff))
        login(page, staff.email)
        page.get_by_role("link", name="Audit log").click()
        expect(page.locator("table.audit")).to_contain_text("Job approved")
        screenshots_at_widths(page, "audit")

        page.get_by_label("Action", exact=True).fill("job.approved")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"action=job.approved"))
        rows = page.locator("table.audit tbody tr[id^=event-]")
        expect(rows).to_have_count(AuditEvent.objects.filter(action="job.approved").count())

        with page.expect_download() as info:
            page.get_by_role("link", name="Export CSV").click()
        download = info.value
        assert re.fullmatch(r"audit-events-\d{8}T\d{6}Z\.csv", download.suggested_filename)
        path = tmp_path / "events.csv"
        download.save_as(path)
        with path.open(newline="") as handle:
            exported = list(csv.DictReader(handle))
        assert exported, "the CSV has rows"
        assert {r["action"] for r in exported} == {"job.approved"}
        assert [int(r["seq"]) for r in exported] == list(
            AuditEvent.objects.filter(action="job.approved").order_by("seq")
            .values_list("seq", flat=True))

        with page.expect_download() as info:
            page.get_by_role("link", name="Export JSON lines").click()
        path = tmp_path / "events.jsonl"
        info.value.save_as(path)
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert {r["action"] for r in records} == {"job.approved"}
        assert AuditEvent.objects.filter(action="audit.exported").count() == 2

        page.goto("/platform/privacy/audit/?action=audit.exported")
        newest = page.locator("table.audit tbody tr").first
        newest.get_by_text("Metadata").click()
        expect(newest.locator("pre.json")).to_contain_text('"format": "jsonl"')
        expect(newest.locator("pre.json")).to_contain_text('"action": "job.approved"')
        screenshot(page, "audit-metadata")

        page.get_by_role("button", name="Verify chain").click()
        expect(page.locator("#verify-result")).to_contain_text("OK")
        expect(page.locator("#verify-result")).to_contain_text("chain intact")
        screenshot(page, "audit-verified")


class TestPhoneWidth:
    def test_pages_fit_a_phone_screen(self, page, staff, jobs, tenant):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        login(page, staff.email)
        page.set_viewport_size({"width": 390, "height": 844})
        for name, path in [
            ("phone-overview", "/platform/privacy/"),
            ("phone-job", f"/platform/privacy/jobs/{jobs['completed_export'].pk}/"),
            ("phone-job-failed", f"/platform/privacy/jobs/{jobs['failed_erase'].pk}/"),
            ("phone-new-job", "/platform/privacy/jobs/new/"),
            ("phone-holds", "/platform/privacy/holds/"),
            ("phone-hold", f"/platform/privacy/holds/{hold.pk}/"),
            ("phone-audit", "/platform/privacy/audit/"),
        ]:
            page.goto(path)
            screenshot(page, name)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 390, f"{path} is {overflow}px wide on a 390px screen"
