"""The operator's experience in a real browser: pages that stay current, name people, ask before
an irreversible approval, and fit a phone."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from playwright.sync_api import expect

from privacyops.holds.services import hold_place
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_cancel, job_claim, job_fail
from privacyops.tenancy.actors import Actor
from tests import factories
from tests.browser.conftest import login, screenshots_at_widths
from tests.browser.test_platform_pages import demo_tenant  # noqa: F401 — a shared fixture


def _display_of(datastore: str, subject_id: str) -> tuple[str, str]:
    with sqlite3.connect(datastore) as conn:
        row = conn.execute("SELECT name, email FROM people WHERE id = ?", (subject_id,)).fetchone()
    return str(row[0]), str(row[1])


class TestLiveUpdates:
    def test_job_page_follows_a_job_to_completed_without_a_reload(
        self, page, staff, demo_tenant  # noqa: F811
    ):
        tenant, person = demo_tenant
        job = factories.job_create(tenant=tenant, requested_by=staff, job_type="EXPORT",
                                   status=JobStatus.APPROVED, requires_approval=False,
                                   target_id=person)
        login(page, staff.email)
        page.goto(f"/platform/privacy/jobs/{job.pk}/")
        expect(page.locator("h1 .badge")).to_have_text("Approved")
        page.evaluate("window.__notReloaded = true")

        from privacyops.execution.runner import run_job_now

        worker = threading.Thread(target=run_job_now, args=(job.pk,))
        worker.start()
        worker.join(timeout=30)
        expect(page.locator("h1 .badge")).to_have_text("Completed", timeout=15_000)
        expect(page.get_by_role("link", name="Download export")).to_be_visible()
        # The same document: the page swapped its content, nobody reloaded it.
        assert page.evaluate("window.__notReloaded") is True

    def test_a_job_row_in_the_list_changes_when_its_job_fails(self, page, staff, tenant):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED,
                                   target_id="4242")
        login(page, staff.email)
        page.goto("/platform/privacy/")
        row = page.locator(f"#job-{job.pk}")
        expect(row.locator(".badge")).to_have_text("Approved")
        claimed = job_claim(job_id=job.pk, worker_id="test-worker")
        assert claimed is not None
        job_fail(job_id=job.pk, worker_id="test-worker", code="precondition",
                 message="The person still holds hardware.")
        expect(row.locator(".badge")).to_have_text("Failed", timeout=10_000)


class TestPeopleNotIds:
    def test_job_list_and_detail_name_the_person(self, page, staff, demo_tenant, settings):  # noqa: F811
        tenant, person = demo_tenant
        datastore = settings.DATAMAP_DIR.replace("datamaps", "demo.sqlite3")
        name, email = _display_of(datastore, person)
        job = factories.job_create(tenant=tenant, requested_by=staff, target_id=person)
        login(page, staff.email)
        page.goto("/platform/privacy/")
        row = page.locator(f"#job-{job.pk}")
        expect(row).to_contain_text(name)
        expect(row).to_contain_text(email)
        page.goto(f"/platform/privacy/jobs/{job.pk}/")
        expect(page.locator("dl.facts").first).to_contain_text(name)

    def test_new_job_form_finds_a_person_by_name(self, page, staff, demo_tenant, settings,  # noqa: F811
                                                  console_errors):
        tenant, person = demo_tenant
        datastore = settings.DATAMAP_DIR.replace("datamaps", "demo.sqlite3")
        name, _email = _display_of(datastore, person)
        login(page, staff.email)
        page.goto("/platform/privacy/jobs/new/")
        page.get_by_label("Tenant").select_option(str(tenant.pk))
        page.get_by_label("Target id").press_sequentially(name.split()[0][:5], delay=30)
        options = page.locator("#people-options option")
        expect(options.filter(has_text=name).first).to_be_attached(timeout=10_000)
        values = options.evaluate_all("os => os.map(o => o.value)")
        assert person in values
        # While a name is typed, the dry-run preview answers that it is not an id (a 4xx);
        # wait for its last answer before dropping those.
        page.wait_for_load_state("networkidle")
        console_errors[:] = [e for e in console_errors if "/jobs/preview/" not in e]


    def test_a_legal_hold_finds_a_person_by_name(self, page, staff, demo_tenant, settings):  # noqa: F811
        tenant, person = demo_tenant
        datastore = settings.DATAMAP_DIR.replace("datamaps", "demo.sqlite3")
        name, _email = _display_of(datastore, person)
        login(page, staff.email)
        page.goto("/platform/privacy/holds/")
        page.get_by_text("Place a legal hold").click()
        expect(page.get_by_label("Scope id")).to_have_accessible_description(
            "For a subject, type a name or an email and pick the person; the id is filled in.")
        page.locator("#id_tenant").select_option(str(tenant.pk))  # the place form's
        page.locator("#id_scope_type").fill("subject")
        page.locator("#id_scope_id").press_sequentially(name.split()[-1][:6], delay=30)
        options = page.locator("#people-options option")
        expect(options.filter(has_text=name).first).to_be_attached(timeout=10_000)
        assert person in options.evaluate_all("os => os.map(o => o.value)")

    def test_a_request_is_linked_by_finding_the_person(self, page, staff, demo_tenant,  # noqa: F811
                                                       settings, console_errors):
        from django.db import transaction

        from privacyops.intake.lifecycle import request_record

        tenant, person = demo_tenant
        datastore = settings.DATAMAP_DIR.replace("datamaps", "demo.sqlite3")
        name, email = _display_of(datastore, person)
        with transaction.atomic():  # asked under another address, so not found by email
            request = request_record(tenant=tenant, email="old.address@example.org",
                                     request_type="access", channel="operator",
                                     actor=Actor.system("test"), verified=True)
        login(page, staff.email)
        page.goto(f"/platform/requests/{request.pk}/")
        field = page.get_by_label("Person", exact=True)
        # A name typed without picking anyone is refused, and nothing is linked.
        field.fill(name)
        page.get_by_role("button", name="Link", exact=True).click()
        expect(page.locator("#action-error")).to_contain_text("pick them from the suggestions")
        console_errors[:] = [e for e in console_errors if "422" not in e]
        request.refresh_from_db()
        assert request.subject_id == ""

        field = page.get_by_label("Person", exact=True)
        field.fill("")
        field.press_sequentially(name.split()[0][:5], delay=30)
        options = page.locator("#link-people-options option")
        suggestion = options.filter(has_text=name).first
        expect(suggestion).to_be_attached(timeout=10_000)
        assert suggestion.get_attribute("value") == person
        field.fill(person)  # what picking the suggestion puts in the field
        page.get_by_role("button", name="Link", exact=True).click()
        expect(page.locator("#subject")).to_contain_text(name)
        expect(page.locator("#subject")).to_contain_text(email)
        request.refresh_from_db()
        assert request.subject_id == person
        screenshots_at_widths(page, "request-linked-by-person")


class TestDecisions:
    def test_a_destructive_approval_shows_the_changes_and_needs_a_confirmation(
        self, page, staff, other_staff, demo_tenant  # noqa: F811
    ):
        tenant, person = demo_tenant
        job = factories.job_create(tenant=tenant, requested_by=other_staff, job_type="ERASE",
                                   target_id=person)
        login(page, staff.email)
        page.goto(f"/platform/privacy/jobs/{job.pk}/")
        decide = page.locator("section.decide")
        # Approve and Reject sit together, and the approval lists what it will change.
        expect(decide.get_by_role("button", name="Approve erase")).to_be_visible()
        expect(decide.get_by_role("button", name="Reject job")).to_be_visible()
        expect(decide.locator("table.preview tbody")).to_contain_text("people")
        screenshots_at_widths(page, "job-destructive-approval")
        decide.get_by_role("button", name="Approve erase").click()
        # The browser refuses the unticked confirmation: nothing was approved.
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING
        decide.get_by_label("cannot be undone").check()
        decide.get_by_role("button", name="Approve erase").click()
        expect(page.locator(".msg-success")).to_contain_text(f"Job #{job.pk} approved")
        job.refresh_from_db()
        assert job.status != JobStatus.PENDING

    def test_retry_is_disabled_while_the_blocking_hold_is_active(self, page, staff, tenant):
        hold = hold_place(tenant_id=tenant.pk, scope_type="tenant", scope_id=tenant.slug,
                          reason="Litigation 2026-17", actor=Actor.for_user(staff))
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   target_id="77", error_code="legal_hold",
                                   error_message="Blocked by a legal hold.")
        Job.objects.filter(pk=job.pk).update(blocking_hold=hold)
        login(page, staff.email)
        page.goto(f"/platform/privacy/jobs/{job.pk}/")
        retry = page.get_by_role("button", name="Retry")
        expect(retry).to_be_disabled()
        expect(page.locator("#retry-why")).to_contain_text(f"legal hold #{hold.pk}")


class TestWithdrawal:
    def test_a_withdrawal_is_labelled_and_counted_apart_from_rejections(self, page, staff, tenant):
        withdrawn = factories.job_create(tenant=tenant, requested_by=staff, target_id="88",
                                         source="privacy_center")
        job_cancel(job_id=withdrawn.pk, actor=Actor.system(), reason="")
        login(page, staff.email)
        page.goto("/platform/privacy/")
        expect(page.locator(".stat[data-status=withdrawn] .stat-count")).to_have_text("1")
        expect(page.locator(".stat[data-status=Rejected] .stat-count")).to_have_text("0")
        expect(page.locator(f"#job-{withdrawn.pk} .badge")).to_have_text("Withdrawn")
        page.goto(f"/platform/privacy/jobs/{withdrawn.pk}/")
        facts = page.locator("dl.facts").nth(1)
        expect(facts).to_contain_text("Withdrawn by")
        expect(facts).to_contain_text("the data subject")
        expect(page.locator("#result-h + p, #result-h ~ p")).to_contain_text("withdrew")


class TestNavigation:
    def test_a_plain_member_lands_on_a_page_that_says_what_they_can_do(self, page, tenant):
        member = factories.user_create(email="member@example.com", tenant=tenant, role="member")
        login(page, member.email)
        expect(page.get_by_role("heading", name="What you can do here")).to_be_visible()
        own_data = f"See, download or delete your own data at {tenant.name}"
        expect(page.get_by_role("link", name=own_data)).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("Not allowed")

    def test_one_requests_entry_and_a_privacy_center_link(self, page, staff, tenant):
        login(page, staff.email)
        page.goto("/platform/requests/")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Requests")).to_have_count(1)
        expect(nav.get_by_role("link", name="Privacy requests")).to_have_count(0)
        page.goto("/platform/privacy/")
        expect(page.locator(".see-also").get_by_role("link", name="Privacy center")).to_be_visible()

    def test_the_phone_header_collapses_behind_a_menu_button(self, page, staff, tenant):
        login(page, staff.email)
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto("/platform/privacy/")
        header = page.locator("header.topbar")
        assert header.bounding_box()["height"] < 80
        nav = page.get_by_role("navigation", name="Main")
        expect(nav).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(nav).to_be_visible()
        expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
        screenshots_at_widths(page, "header-menu-open", widths=(390,))

    def test_the_tabs_are_three_tab_presses_from_the_top(self, page, staff, tenant):
        login(page, staff.email)
        page.goto("/platform/privacy/holds/")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Skip to the tabs")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        expect(focused).to_have_text("Jobs")


class TestFilterErrors:
    def test_a_bad_audit_date_range_is_shown_beside_the_field_and_keeps_the_filters(
        self, page, staff, tenant, console_errors
    ):
        login(page, staff.email)
        page.goto("/platform/privacy/audit/?actor=staff&since=2026-05-10&until=2026-05-01")
        expect(page.locator("#id_until-error")).to_contain_text("before")
        expect(page.get_by_label("Actor")).to_have_value("staff")
        expect(page.get_by_role("heading", name="Privacy administration")).to_be_visible()
        console_errors[:] = [e for e in console_errors if "422" not in e]  # the page's status


class TestPublicForm:
    def test_the_workspace_picker_takes_the_display_name(self, page, tenant, other_tenant):
        page.goto("/privacy/request")
        page.get_by_label("Workspace").fill(tenant.name.upper())
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name=f"Make a privacy request to {tenant.name}")).to_be_visible()
        trap = page.locator(".intake-trap")
        expect(trap).to_have_attribute("aria-hidden", "true")

    def test_an_unknown_workspace_says_so_beside_the_field(self, page, tenant, console_errors):
        page.goto("/privacy/request?workspace=Nobody+Here")
        expect(page.locator("#workspace-error")).to_contain_text("Nobody Here")
        expect(page.get_by_label("Workspace")).to_have_value("Nobody Here")
        console_errors[:] = [e for e in console_errors if "404" not in e]  # the page's status

    def test_radio_buttons_line_up_with_their_labels(self, page, tenant):
        page.goto(f"/privacy/request?workspace={tenant.slug}")
        choice = page.locator("fieldset.intake-types label.choice").first
        radio = choice.locator("input[type=radio]")
        box, label = radio.bounding_box(), choice.bounding_box()
        assert abs((box["y"] + box["height"] / 2) - (label["y"] + label["height"] / 2)) < 4


def test_withdrawn_rejected_filter_pair(staff, tenant, client):
    """The Rejected card lists refusals only; the Withdrawn card lists withdrawals only."""
    refused = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.REJECTED,
                                   target_id="5")
    withdrawn = factories.job_create(tenant=tenant, requested_by=staff, target_id="6")
    job_cancel(job_id=withdrawn.pk, actor=Actor.system())
    client.force_login(staff)
    rejected_page = client.get("/platform/privacy/?status=Rejected").content.decode()
    withdrawn_page = client.get("/platform/privacy/?status=withdrawn").content.decode()
    assert f'id="job-{refused.pk}"' in rejected_page
    assert f'id="job-{withdrawn.pk}"' not in rejected_page
    assert f'id="job-{withdrawn.pk}"' in withdrawn_page
    assert f'id="job-{refused.pk}"' not in withdrawn_page


pytestmark = pytest.mark.django_db(transaction=True)


class TestTimes:
    def test_times_follow_the_users_time_zone_with_the_full_moment_on_hover(
        self, page, staff, tenant
    ):
        from datetime import UTC, datetime

        job = factories.job_create(tenant=tenant, requested_by=staff, target_id="9")
        Job.objects.filter(pk=job.pk).update(created_at=datetime(2026, 7, 1, 22, 30, tzinfo=UTC))
        login(page, staff.email)
        page.goto(f"/platform/privacy/jobs/{job.pk}/")
        created = page.locator("dl.facts time").first
        expect(created).to_have_text("2026-07-01 22:30")
        page.goto("/account/")
        page.get_by_role("combobox", name="Time zone").select_option("Europe/Berlin")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".msg-success")).to_contain_text("Europe/Berlin")
        page.goto(f"/platform/privacy/jobs/{job.pk}/")
        # 22:30 UTC is 00:30 the next day in Berlin (summer time, UTC+2).
        expect(created).to_have_text("2026-07-02 00:30")
        expect(created).to_have_attribute("title", "Thursday 2 July 2026, 00:30:00 CEST")
        expect(created).to_have_attribute("datetime", "2026-07-01T22:30:00+00:00")

    def test_an_unknown_time_zone_is_refused_and_changes_nothing(self, staff, client):
        client.force_login(staff)
        response = client.post("/account/", {"time_zone": "Mars/Olympus"})
        assert response.status_code == 422
        assert "Pick a time zone from the list" in response.content.decode()
        staff.refresh_from_db()
        assert staff.time_zone == "UTC"
