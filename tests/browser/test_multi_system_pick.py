"""Picking, on the job page, the person an identity job acts on when several match in one
system: the candidates by name and email, the pick, and the job resuming to the end."""

from __future__ import annotations

from playwright.sync_api import expect

from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from tests.browser.conftest import login, screenshot, screenshots_at_widths
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]


def test_an_operator_picks_the_helpdesk_account_and_the_erase_completes(
        page, live_server, multi_store, staff, other_staff, console_errors):
    job, requester, email = multi_store.ambiguous_erase(staff, other_staff)
    (name,) = multi_store.desk("SELECT name FROM requesters WHERE id = ?", requester)[0]

    login(page, staff.email)
    page.goto(f"/platform/privacy/jobs/{job.pk}/")
    pick = page.get_by_role("group", name="Who is this person in helpdesk?")
    expect(pick).to_be_visible()
    expect(pick.get_by_role("radio")).to_have_count(2)
    # Each candidate as the people list shows them: name, email, subject id.
    expect(pick.get_by_label(f"{name} <{email}> · subject id {requester}")).to_be_visible()
    expect(pick.get_by_label(f"Second Account <{email.upper()}> · subject id 99999")
           ).to_be_visible()
    screenshots_at_widths(page, "job-step-pick")
    pick.get_by_label("Second Account").check()
    pick.get_by_role("button", name="Pick this subject").click()
    expect(page.get_by_text("Subject 99999 picked on system helpdesk")).to_be_visible()
    expect(page.get_by_role("group", name="Who is this person in helpdesk?")).to_have_count(0)
    assert Job.objects.get(pk=job.pk).status == JobStatus.APPROVED

    run_job_now(job.pk)
    page.reload()
    expect(page.locator('tr[data-system="helpdesk"]')).to_have_attribute("data-status",
                                                                        "completed")
    expect(page.get_by_text("Picked key 99999 of 2 matches")).to_be_visible()
    screenshot(page, "job-step-pick-done")
    assert multi_store.desk("SELECT name FROM requesters WHERE id = 99999") == [
        ("Erased requester",)]
    assert multi_store.desk("SELECT email FROM requesters WHERE id = ?", requester) == [(email,)]
