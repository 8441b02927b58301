"""RECTIFY and RESTRICT on the pages, in a real browser: the new-job page shows each type's own
field, and the job page shows what a rectification changed, old → new."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from django.conf import settings
from playwright.sync_api import expect

from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from tests.browser.conftest import login, screenshot
from tests.browser.test_accessibility import axe_violations, context
from tests.browser.test_platform_pages import demo_tenant

# The accessibility tests' browser context (it lets axe-core's script in past the CSP).
__all__ = ["context", "demo_tenant"]


def _datastore() -> Path:
    return Path(settings.DATAMAP_DIR).parent / "demo.sqlite3"


def test_rectify_from_the_new_job_page_and_see_old_and_new_values(page, staff, demo_tenant):
    demo, person = demo_tenant
    with sqlite3.connect(_datastore()) as conn:
        (old_title,) = conn.execute("SELECT job_title FROM people WHERE id = ?",
                                    (person,)).fetchone()
    login(page, staff.email)
    page.goto("/platform/privacy/jobs/new/")
    page.get_by_label("Tenant", exact=True).select_option(label=demo.name)
    changes = page.get_by_label("Changes (RECTIFY)")
    lift = page.get_by_label("Lift the restriction (RESTRICT)")

    page.get_by_label("Job type", exact=True).select_option("ERASE")
    expect(changes).to_be_hidden()
    expect(lift).to_be_hidden()
    page.get_by_label("Job type", exact=True).select_option("RESTRICT")
    expect(lift).to_be_visible()
    expect(changes).to_be_hidden()
    page.get_by_label("Job type", exact=True).select_option("RECTIFY")
    expect(changes).to_be_visible()
    expect(lift).to_be_hidden()
    expect(page.locator("#changes-hint")).to_contain_text("job_title")
    assert axe_violations(page) == []  # with the RECTIFY field shown

    page.get_by_label("Target type", exact=True).select_option("subject")
    page.get_by_label("Target id", exact=True).fill(person)
    changes.fill("job_title: Head of Quokkas")
    page.get_by_role("button", name="Create job").click()
    job = Job.objects.get(target_id=person)
    expect(page).to_have_url(re.compile(rf"/platform/privacy/jobs/{job.pk}/$"))
    section = page.get_by_role("region", name="Rectification")
    expect(section).to_contain_text("Head of Quokkas")  # requested, before it runs

    run_job_now(job.pk)
    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    page.reload()
    row = section.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("job_title")
    expect(row).to_contain_text(old_title)
    expect(row).to_contain_text("Head of Quokkas")
    screenshot(page, "job-rectified")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page) == [], scheme
    with sqlite3.connect(_datastore()) as conn:
        assert conn.execute("SELECT job_title FROM people WHERE id = ?",
                            (person,)).fetchone() == ("Head of Quokkas",)


def _request_for(tenant, person: str, request_type: str):
    from django.db import transaction

    from privacyops.intake.lifecycle import request_record
    from privacyops.tenancy.actors import Actor

    with sqlite3.connect(_datastore()) as conn:
        (email,) = conn.execute("SELECT email FROM people WHERE id = ?", (person,)).fetchone()
    with transaction.atomic():
        return request_record(tenant=tenant, email=email, request_type=request_type,
                              channel="operator", actor=Actor.system("test"), verified=True)


def test_a_correction_request_is_fulfilled_from_its_page(page, staff, demo_tenant,
                                                         console_errors):
    demo, person = demo_tenant
    request = _request_for(demo, person, "correction")
    login(page, staff.email)
    page.goto(f"/platform/requests/{request.pk}/")
    form = page.get_by_role("region", name="Correct in demo (RECTIFY)")
    expect(form.get_by_label("job_title", exact=True)).to_be_visible()
    expect(form.get_by_label("id", exact=True)).to_have_count(0)  # keys are not offered
    assert axe_violations(page) == []

    form.get_by_role("button", name="Create RECTIFY job in demo").click()  # nothing filled in
    expect(page.locator("#action-error")).to_contain_text("at least one change")
    assert not Job.objects.filter(request=request).exists()
    console_errors[:] = [e for e in console_errors if "422" not in e]  # the refusal, on purpose

    form = page.get_by_role("region", name="Correct in demo (RECTIFY)")
    form.get_by_label("job_title", exact=True).fill("Keeper of Quokkas")
    form.get_by_role("button", name="Create RECTIFY job in demo").click()
    expect(page.get_by_text("Fulfilment started")).to_be_visible()
    job = Job.objects.get(request=request)
    run_job_now(job.pk)
    page.reload()
    expect(page.locator("h1 .badge").first).to_have_text("Completed")
    screenshot(page, "request-correction-completed")
    with sqlite3.connect(_datastore()) as conn:
        assert conn.execute("SELECT job_title FROM people WHERE id = ?",
                            (person,)).fetchone() == ("Keeper of Quokkas",)


def test_a_restriction_request_chooses_set_or_lift(page, staff, demo_tenant):
    demo, person = demo_tenant
    with sqlite3.connect(_datastore()) as conn:
        conn.execute("UPDATE people SET processing_restricted_at = '2026-01-05T10:00:00' "
                     "WHERE id = ?", (person,))
    request = _request_for(demo, person, "restriction")
    login(page, staff.email)
    page.goto(f"/platform/requests/{request.pk}/")
    section = page.get_by_role("region", name="Fulfil with a RESTRICT job")
    expect(section.get_by_label("Restrict processing (set the marker)")).to_be_checked()
    section.get_by_label("Lift the restriction (clear the marker)").check()
    assert axe_violations(page) == []
    section.get_by_role("button", name="Create RESTRICT job").click()
    expect(page.get_by_text("Fulfilment started")).to_be_visible()
    job = Job.objects.get(request=request)
    assert job.params["lift"] is True
    run_job_now(job.pk)
    with sqlite3.connect(_datastore()) as conn:
        assert conn.execute("SELECT processing_restricted_at FROM people WHERE id = ?",
                            (person,)).fetchone() == (None,)
