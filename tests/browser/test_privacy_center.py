"""The privacy center in a real browser, with the code mailed through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from privacyops.execution.models import Artifact
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from tests.browser.conftest import SmtpServer, screenshot, screenshots_at_widths
from tests.workspace.demo_store import (  # noqa: F401 - fixtures
    People,
    acme,
    demo_store,
    demo_template,
    must_match,
    people,
)

CENTER = "/privacy/acme/"


def sign_in(page: Page, smtp: SmtpServer, email: str) -> None:
    page.goto(CENTER)
    screenshots_at_widths(page, "privacy-center-start")
    page.get_by_label("Your email address").fill(email)
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    screenshots_at_widths(page, "privacy-center-code")
    message = smtp.wait_for(lambda m: email in str(m["To"]))
    code = must_match(r"\b(\d{6})\b", message.get_content()).group(1)
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def test_code_export_download_and_expiry(page: Page, acme, people: People,  # noqa: F811
                                         mail_to_smtp: SmtpServer, tmp_path):
    person = people.all()[6]
    sign_in(page, mail_to_smtp, person.email)
    screenshots_at_widths(page, "privacy-center-signed-in")
    page.get_by_role("button", name="Request an export").click()
    expect(page.get_by_text("Export requested.")).to_be_visible()
    expect(page.locator("[data-status='In progress']")).to_be_visible()
    job = Job.objects.get(job_type="EXPORT")
    run_job_now(job.pk)
    page.reload()
    downloads = page.locator("section[aria-labelledby=pc-downloads]")
    link = downloads.get_by_role("link")
    expect(link).to_have_count(1)
    expect(page.locator("[data-status='Ready']")).to_be_visible()
    screenshots_at_widths(page, "privacy-center-download-ready")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"
    Artifact.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    page.reload()
    expect(page.locator("[data-status='Expired']")).to_be_visible()
    expect(downloads).to_contain_text("Nothing to download right now.")
    screenshot(page, "privacy-center-expired")


def test_deletion_request_and_cancel(page: Page, acme, people: People,  # noqa: F811
                                     mail_to_smtp: SmtpServer):
    person = people.erasable(1)[0]
    sign_in(page, mail_to_smtp, person.email)
    page.get_by_label("Type your email address to confirm").fill(person.email)
    page.get_by_label("Reason (optional)").fill("I left the company")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Deletion scheduled.")).to_be_visible()
    expect(page.locator("[data-status='Scheduled']")).to_be_visible()
    screenshots_at_widths(page, "privacy-center-deletion-scheduled")
    job = Job.objects.get(job_type="ERASE")
    assert job.not_before is not None
    assert job.not_before > timezone.now() + timedelta(hours=acme.deletion_grace_hours - 1)
    page.get_by_role("button", name="Cancel deletion").click()
    expect(page.get_by_text("Deletion cancelled.")).to_be_visible()
    expect(page.locator("[data-status='Cancelled']")).to_be_visible()
    screenshots_at_widths(page, "privacy-center-deletion-cancelled")
    job.refresh_from_db()
    assert job.status == JobStatus.REJECTED
    assert people.get(person.id).email == person.email


def test_wrong_code_is_explained(page: Page, acme, people: People,  # noqa: F811
                                 mail_to_smtp: SmtpServer, console_errors):
    person = people.all()[4]
    page.goto(CENTER)
    page.get_by_label("Your email address").fill(person.email)
    page.get_by_role("button", name="Send me a code").click()
    message = mail_to_smtp.wait_for(lambda m: person.email in str(m["To"]))
    code = must_match(r"\b(\d{6})\b", message.get_content()).group(1)
    wrong = "000000" if code != "000000" else "111111"
    page.get_by_label("6-digit code").fill(wrong)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("4 attempts left")
    screenshots_at_widths(page, "privacy-center-wrong-code")
    console_errors[:] = [e for e in console_errors if "status of 422" not in e]
