"""The whole path of an access request in a real browser, with a real SMTP server and the
real demo datastore: the person files it on the public form, confirms it from the email, a
staff operator fulfils it on the request page, a worker runs the job, the completion email
arrives, and the person downloads the package from the privacy center."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from privacyops.execution.runner import run_job_now
from privacyops.intake.models import IntakeRequest, RequestEvent
from privacyops.jobs.models import Job
from tests.browser.conftest import SmtpServer, login, screenshot
from tests.workspace.demo_store import (  # noqa: F401 - fixtures
    People,
    acme,
    demo_store,
    demo_template,
    must_match,
    people,
)

VERIFY_LINK = re.compile(r"https?://\S+/privacy/request/[-\w]+/verify/[-\w]+/")
MIN_FILL_MS = 3200  # the form drops submissions sent sooner than 3 s after it was shown


@pytest.fixture(autouse=True)
def _links_to_live_server(settings, live_server):
    settings.BASE_URL = live_server.url
    cache.clear()
    yield
    cache.clear()


def body_text(message) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def test_access_request_from_the_form_to_the_downloaded_package(
        page: Page, acme, people: People, staff, mail_to_smtp: SmtpServer,  # noqa: F811
        tmp_path):
    person = people.all()[6]

    # 1. The person files an access request on the public form.
    page.goto(f"/privacy/request/{acme.slug}/")
    page.get_by_label("Email address").fill(person.email)
    page.locator("#id_name").fill(person.name)
    page.get_by_label("Access — Art. 15").check()
    page.get_by_label("I confirm that this request concerns my own personal data.").check()
    page.wait_for_timeout(MIN_FILL_MS)  # the form's minimum fill time (anti-bot), not a wait
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_role("heading", name="Thank you — your request was received")).to_be_visible()
    request = IntakeRequest.objects.get()
    assert (request.channel, request.status) == ("intake", "received")

    # 2. The verification email arrives at the SMTP server; the browser opens its link.
    verify = mail_to_smtp.wait_for(lambda m: person.email in str(m["To"])
                                   and "Confirm your privacy request" in str(m["Subject"]))
    page.goto(VERIFY_LINK.search(body_text(verify)).group(0))
    expect(page.get_by_role("heading", name="Your email is confirmed")).to_be_visible()

    # 3. A staff operator fulfils it on the request page (Platform → Requests).
    page.context.clear_cookies()
    login(page, staff.email)
    page.goto("/platform/requests/")
    page.locator(f'tr[data-request-id="{request.pk}"]').get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/platform/requests/{request.pk}/$"))
    page.get_by_role("button", name="Fulfil with EXPORT job").click()
    expect(page.get_by_role("status")).to_contain_text("Fulfilment started")
    job = Job.objects.get(request=request)
    assert job.identity == {"email": person.email.lower()}  # one job on every system
    screenshot(page, "request-to-download-fulfilled")

    # 4. A worker runs the job; the completion email arrives.
    run_job_now(job.pk)
    done = mail_to_smtp.wait_for(lambda m: person.email in str(m["To"])
                                 and "is complete" in str(m["Subject"]))
    assert request.reference in str(done["Subject"])
    assert "/privacy/" in body_text(done)

    # 5. The person signs in to the privacy center with the emailed code and downloads it.
    page.context.clear_cookies()
    page.goto(f"/privacy/{acme.slug}/")
    page.get_by_label("Your email address").fill(person.email)
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    code_mail = mail_to_smtp.wait_for(lambda m: person.email in str(m["To"])
                                      and "privacy center code" in str(m["Subject"]))
    page.get_by_label("6-digit code").fill(
        must_match(r"\b(\d{6})\b", code_mail.get_content()).group(1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text(f"Signed in as {person.email}")).to_be_visible()
    item = page.locator(f'[data-reference="{request.reference}"]')
    expect(item).to_have_attribute("data-status", "Ready")
    expect(item).to_contain_text("Access to your data")
    screenshot(page, "request-to-download-ready")
    with page.expect_download() as download_info:
        item.get_by_role("link", name="Download your data").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)

    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as package:
        names = package.namelist()
        everything = "\n".join(package.read(name).decode("utf-8", "replace") for name in names)
    assert any(name.endswith(".json") for name in names), names
    assert person.email in everything
    assert person.name in everything
    assert (person.employee_id or person.email) in everything
    assert RequestEvent.objects.filter(request=request, kind="delivered").count() == 1
