"""A manual system's owner in a real browser: the link from a real email, the page, the
confirmation of an erasure and the upload of an export; the operator sees the answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from privacyops.execution.models import Artifact, StepStatus
from privacyops.execution.storage import artifact_chunks
from privacyops.jobs.models import Job, JobStatus
from tests import factories
from tests.browser.conftest import login, screenshot, screenshots_at_widths
from tests.manual.conftest import (  # noqa: F401 — fixtures
    OWNER,
    datamap_dir,
    link_in,
    manual_setup,
    task_of,
    waiting_step,
)


@pytest.fixture
def owner_link_base(settings, live_server, manual_setup):  # noqa: F811
    settings.BASE_URL = live_server.url  # emailed links point at the live server
    return manual_setup


def drop_expected(console_errors: list[str], status: int) -> None:
    console_errors[:] = [e for e in console_errors if f"status of {status}" not in e]


def link_of(message, live_server) -> str:
    match = re.search(rf"{re.escape(live_server.url)}/manual/[^\s/]+/", str(
        message.get_body(preferencelist=("plain",)).get_content()))
    assert match
    return match.group(0)


def test_the_owner_confirms_an_erasure_and_the_operator_sees_it(
        page, owner_link_base, mail_to_smtp, live_server, console_errors):
    step = waiting_step(owner_link_base)
    link = link_of(mail_to_smtp.wait_for(), live_server)
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm the erasure for paper-archive")).to_be_visible()
    expect(page.get_by_text("Shred the person's folder in cabinet B.")).to_be_visible()
    expect(page.get_by_label("Your email")).to_have_value(OWNER)
    screenshots_at_widths(page, "manual-owner-erase")
    page.get_by_label("Records erased").fill("4")
    page.get_by_label("Note (optional)").fill("Folder 17 and two index cards shredded.")
    page.get_by_label("I have erased this person's data as described above.").check()
    page.get_by_role("button", name="Confirm the erasure").click()
    expect(page.get_by_role("heading", name="Thank you, your answer is recorded")).to_be_visible()
    expect(page.get_by_text("4 records in paper-archive were erased")).to_be_visible()
    screenshot(page, "manual-owner-erase-done")

    step.refresh_from_db()
    assert step.status == StepStatus.COMPLETED
    assert step.rows == 4
    assert Job.objects.get(pk=step.job_id).status == JobStatus.COMPLETED

    # The link is single use: opening it again says so.
    page.goto(link)
    expect(page.get_by_role("heading", name="This request was already answered")).to_be_visible()
    drop_expected(console_errors, 409)
    screenshot(page, "manual-owner-used")

    # The operator sees who answered, when and what, on the job page.
    staff = factories.user_create(email="ops@example.com", is_staff=True)
    login(page, staff.email)
    page.goto(f"/platform/privacy/jobs/{step.job_id}/")
    section = page.locator("section", has=page.get_by_role("heading", name="Manual systems"))
    expect(section).to_contain_text(OWNER)
    expect(section).to_contain_text("Confirmed")
    expect(section).to_contain_text("4 records")
    expect(section.get_by_role("button", name="Resend email")).to_have_count(0)
    screenshot(page, "manual-job-page-confirmed")


def test_the_owner_uploads_an_export(page, owner_link_base, mail_to_smtp, live_server,
                                     tmp_path: Path):
    step = waiting_step(owner_link_base, job_type="EXPORT")
    link = link_of(mail_to_smtp.wait_for(), live_server)
    page.goto(link)
    expect(page.get_by_role("heading", name="Upload the export for paper-archive")).to_be_visible()
    scanned = tmp_path / "folder-17.pdf"
    scanned.write_bytes(b"%PDF-1.4 scanned folder of the person\n" * 200)
    page.get_by_label("Exported file").set_input_files(str(scanned))
    screenshot(page, "manual-owner-upload")
    page.get_by_role("button", name="Upload and confirm").click()
    expect(page.get_by_role("heading", name="Thank you, your answer is recorded")).to_be_visible()
    expect(page.get_by_text("folder-17.pdf")).to_be_visible()
    screenshot(page, "manual-owner-upload-done")

    step.refresh_from_db()
    artifact = Artifact.objects.get(pk=step.result["artifact_id"])
    assert b"".join(artifact_chunks(artifact)) == scanned.read_bytes()
    assert task_of(step).confirmed_by == OWNER


def test_the_operator_resends_while_the_step_waits(page, owner_link_base, mail_to_smtp,
                                                   live_server):
    step = waiting_step(owner_link_base)
    first = link_of(mail_to_smtp.wait_for(), live_server)
    staff = factories.user_create(email="ops@example.com", is_staff=True)
    login(page, staff.email)
    page.goto(f"/platform/privacy/jobs/{step.job_id}/")
    section = page.locator("section", has=page.get_by_role("heading", name="Manual systems"))
    expect(section).to_contain_text("Waiting for the owner")
    screenshot(page, "manual-job-page-waiting")
    section.get_by_role("button", name="Resend email").click()
    expect(page.get_by_text("was sent again with a new link")).to_be_visible()
    second = mail_to_smtp.wait_for(lambda m: link_of(m, live_server) != first)
    assert link_in  # the same link format as the emails of the service tests
    assert link_of(second, live_server) != first


@pytest.fixture
def axe_context(browser, live_server):
    """Lets the test inject axe-core past the page's CSP, as the accessibility tests do."""
    from tests.browser.conftest import VIEWPORT

    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB",
                                  timezone_id="UTC", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_owner_pages_have_no_serious_accessibility_violations(
        axe_context, owner_link_base, mail_to_smtp, live_server, scheme):
    from tests.browser.test_accessibility import axe_violations

    page = axe_context.new_page()
    page.emulate_media(color_scheme=scheme)
    erase = waiting_step(owner_link_base)
    export = waiting_step(owner_link_base, job_type="EXPORT")
    links = [link_of(m, live_server) for m in (
        mail_to_smtp.wait_for(lambda m: f"#{erase.job_id} " in str(m["Subject"])),
        mail_to_smtp.wait_for(lambda m: f"#{export.job_id} " in str(m["Subject"])))]
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        problems = axe_violations(page)
        if problems:
            found[name] = problems

    for name, link in [("erase", links[0]), ("export", links[1])]:
        page.goto(link)
        check(name)
    # The form with its errors shown, and a link problem page.
    page.goto(links[0])
    page.get_by_role("button", name="Confirm the erasure").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("errors")
    page.goto(f"{live_server.url}/manual/not-a-token/")
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    check("problem")
    screenshot(page, f"manual-link-invalid-{scheme}")
    page.close()
    assert not found, found
