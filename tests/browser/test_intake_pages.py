"""The public privacy-request form and the operator queue in a real browser, with real SMTP."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.intake.ratelimit import ip_hash
from privacyops.intake.services import intake_submit
from privacyops.jobs.models import Job
from tests import factories
from tests.browser.conftest import login, screenshot, screenshots_at_widths

LINK = re.compile(r"https?://\S+/privacy/request/[-\w]+/verify/[-\w]+/")
MIN_FILL_MS = 3200  # the form drops submissions sent sooner than 3 s after it was shown


@pytest.fixture(autouse=True)
def _intake_setup(settings, live_server, tenant):
    # Emailed links must point at the live server; the limiter's cache table is not flushed.
    settings.BASE_URL = live_server.url
    tenant.privacy_contact_email = "dpo@acme.example.com"
    tenant.save()
    cache.clear()
    yield
    cache.clear()


def fill_form(page, *, email: str = "ada@example.com", request_type: str = "Access — Art. 15"):
    page.goto("/privacy/request/acme/")
    page.get_by_label("Email address").fill(email)
    page.locator("#id_name").fill("Ada Lovelace")
    page.get_by_label(request_type).check()
    page.get_by_label("Details").fill("Customer number 1234.")
    page.get_by_label("I confirm that this request concerns my own personal data.").check()
    page.wait_for_timeout(MIN_FILL_MS)


def send(page):
    page.get_by_role("button", name="Send request").click()
    page.wait_for_load_state()


def drop_expected(console_errors: list[str], status: int) -> None:
    """Chromium logs every 4xx page load as a console error; these ones are the point."""
    console_errors[:] = [e for e in console_errors if f"status of {status}" not in e]


def body_text(message) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


class TestPublicForm:
    def test_submission_confirmation_and_verification_link(self, page, mail_to_smtp,
                                                           console_errors):
        page.goto("/privacy/request/acme/")
        expect(page.get_by_role("heading", name="Make a privacy request to Acme Corp")).to_be_visible()
        screenshots_at_widths(page, "intake-form")
        fill_form(page, request_type="Erasure / right to be forgotten — Art. 17")
        screenshot(page, "intake-form-filled")
        send(page)
        expect(page).to_have_url(re.compile(r"/privacy/request/acme/sent/$"))
        expect(page.get_by_role("heading", name=re.compile("your request was received"))).to_be_visible()
        screenshot(page, "intake-sent")

        request = IntakeRequest.objects.get()
        assert request.request_type == "erasure"
        assert request.ip_hash == ip_hash("127.0.0.1")
        assert "127.0.0.1" not in request.ip_hash
        assert request.deadline_at == request.submitted_at + relativedelta(months=1)

        message = mail_to_smtp.wait_for(lambda m: "Confirm your privacy request" in str(m["Subject"]))
        assert message["To"] == "ada@example.com"
        assert message["Reply-To"] == "dpo@acme.example.com"
        link = LINK.search(body_text(message))
        assert link, body_text(message)
        page.goto(link.group(0))
        expect(page.get_by_role("heading", name="Your email is confirmed")).to_be_visible()
        expect(page.get_by_text(f"request #{request.pk}")).to_be_visible()
        screenshot(page, "intake-verified")
        request.refresh_from_db()
        assert request.verified_at is not None

        page.goto(link.group(0))
        expect(page.get_by_role("heading", name="This link was already used")).to_be_visible()
        screenshot(page, "intake-verify-used")
        drop_expected(console_errors, 410)

    def test_field_errors_are_named(self, page, mail_to_smtp, console_errors):
        page.goto("/privacy/request/acme/")
        page.get_by_label("Email address").fill("not-an-email")
        page.wait_for_timeout(MIN_FILL_MS)
        send(page)
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Please fix 3 problems")
        expect(alert).to_contain_text("Enter a valid email address")
        expect(alert).to_contain_text("Choose what you are asking for.")
        expect(alert).to_contain_text("Confirm that this request concerns your own personal data")
        expect(page.get_by_label("Email address")).to_have_value("not-an-email")
        screenshot(page, "intake-form-errors")
        drop_expected(console_errors, 422)
        assert not IntakeRequest.objects.exists()

    def test_fourth_submission_in_an_hour_is_refused(self, page, mail_to_smtp, console_errors):
        for n in range(3):
            fill_form(page, email=f"person{n}@example.com")
            send(page)
            expect(page).to_have_url(re.compile(r"/sent/$"))
        fill_form(page, email="person4@example.com")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            send(page)
        assert answer.value.status == 429
        expect(page.get_by_role("heading", name="Too many requests from your address")).to_be_visible()
        retry_at = IntakeRequest.objects.order_by("submitted_at").first().submitted_at + timedelta(hours=1)
        expect(page.get_by_role("alert")).to_contain_text(re.compile(
            rf"after \d{{4}}-\d{{2}}-\d{{2}} ({retry_at:%H:%M}|{retry_at + timedelta(minutes=1):%H:%M}) UTC"))
        expect(page.get_by_role("link", name="dpo@acme.example.com")).to_be_visible()
        screenshots_at_widths(page, "intake-rate-limited")
        drop_expected(console_errors, 429)
        assert IntakeRequest.objects.count() == 3
        mail_to_smtp.wait_for(lambda m: "person2@example.com" in str(m["To"]))
        assert len(mail_to_smtp.messages) == 3

    def test_bot_filling_the_honeypot_is_dropped_silently(self, page, mail_to_smtp):
        fill_form(page)
        trap = page.locator("input[name=homepage]")
        expect(trap).to_have_attribute("tabindex", "-1")
        assert page.get_by_label("Leave this empty").count() == 1
        trap.fill("https://spam.invalid", force=True)
        send(page)
        expect(page.get_by_role("heading", name=re.compile("your request was received"))).to_be_visible()
        screenshot(page, "intake-bot-confirmation")
        page.wait_for_timeout(500)
        assert not IntakeRequest.objects.exists()
        assert not mail_to_smtp.messages


def _file(tenant, *, request_type: str, address: str, email: str) -> IntakeRequest:
    return intake_submit(tenant_id=tenant.pk, email=email, name="", request_type=request_type,
                         details="Order 5521.", own_data_confirmed=True, client_address=address)


class TestOperatorQueue:
    def test_deadline_extension_fulfilment_and_rejection(self, page, mail_to_smtp, staff,
                                                         tenant, console_errors):
        access = _file(tenant, request_type="access", address="198.51.100.1",
                       email="ada@example.com")
        spam = _file(tenant, request_type="erasure", address="198.51.100.2",
                     email="grace@example.com")
        overdue = _file(tenant, request_type="correction", address="198.51.100.3",
                        email="alan@example.com")
        IntakeRequest.objects.filter(pk=overdue.pk).update(
            deadline_at=timezone.now() - timedelta(days=2))
        IntakeRequest.objects.filter(pk=spam.pk).update(
            deadline_at=timezone.now() + timedelta(days=5))
        verify = mail_to_smtp.wait_for(lambda m: "ada@example.com" in str(m["To"]))
        page.goto(LINK.search(body_text(verify)).group(0))
        expect(page.get_by_role("heading", name="Your email is confirmed")).to_be_visible()

        login(page, staff.email)
        page.goto("/platform/requests/")
        expect(page.get_by_role("heading", name="Privacy requests")).to_be_visible()
        rows = page.locator("table.intake-queue tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator(f'tr[data-request-id="{overdue.pk}"]')).to_have_class("is-overdue")
        expect(page.locator(f'tr[data-request-id="{overdue.pk}"]')).to_contain_text("Overdue")
        expect(page.locator(f'tr[data-request-id="{spam.pk}"]')).to_have_class("is-due-soon")
        access_row = page.locator(f'tr[data-request-id="{access.pk}"]')
        expect(access_row).to_contain_text(f"{access.deadline_at:%Y-%m-%d}")
        expect(access_row).to_contain_text(
            f"{(access.deadline_at - timezone.now()).days + 1} days")
        expect(access_row).to_contain_text("Verified")
        screenshots_at_widths(page, "intake-queue")

        page.get_by_label("Verification").select_option("no")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"verified=no"))
        expect(rows).to_have_count(2)
        screenshot(page, "intake-queue-filtered")

        page.goto(f"/platform/requests/{access.pk}/")
        expect(page.locator("#deadline")).to_contain_text(f"{access.deadline_at:%Y-%m-%d}")
        screenshot(page, "intake-detail")

        page.get_by_role("button", name="Fulfil with EXPORT job").click()
        expect(page.get_by_role("alert")).to_contain_text(
            "No data subject of this workspace has the email")
        screenshot(page, "intake-detail-fulfil-refused")
        drop_expected(console_errors, 409)

        page.get_by_label("Person", exact=True).fill("42")
        page.get_by_role("button", name="Link").click()
        expect(page.locator("#subject")).to_contain_text("42")

        new_deadline = (access.deadline_at + timedelta(days=20)).date()
        page.get_by_label("New deadline").fill(new_deadline.isoformat())
        page.locator("#extend-reason").fill("Records are spread over three systems.")
        page.get_by_role("button", name="Extend deadline").click()
        expect(page.get_by_role("status")).to_contain_text("Deadline extended")
        expect(page.locator("#deadline")).to_contain_text(f"{new_deadline:%Y-%m-%d}")
        expect(page.locator("#deadline")).to_contain_text("Records are spread over three systems.")
        screenshot(page, "intake-detail-extended")
        extension = mail_to_smtp.wait_for(lambda m: "deadline extended" in str(m["Subject"]))
        assert "Records are spread over three systems." in body_text(extension)
        assert f"{new_deadline:%d %B %Y}" in body_text(extension)

        page.get_by_role("button", name="Fulfil with EXPORT job").click()
        expect(page.get_by_role("status")).to_contain_text("Fulfilment started")
        job = Job.objects.get()
        assert (job.job_type, job.target_type, job.target_id) == ("EXPORT", "subject", "42")
        assert job.reason == f"Privacy request R-{access.pk:06d}"
        assert job.request_id == access.pk
        expect(page.get_by_role("link", name=f"Export job #{job.pk}")).to_be_visible()
        screenshot(page, "intake-detail-fulfilled")

        page.goto(f"/platform/requests/{spam.pk}/")
        page.locator("#reject-reason").fill("We hold no personal data linked to this address.")
        page.get_by_role("button", name="Reject request").click()
        expect(page.get_by_role("status")).to_contain_text("Request rejected")
        screenshot(page, "intake-detail-rejected")
        rejection = mail_to_smtp.wait_for(lambda m: "was rejected" in str(m["Subject"]))
        assert rejection["To"] == "grace@example.com"
        text = body_text(rejection)
        assert "We hold no personal data linked to this address." in text
        assert "lodge a complaint with a supervisory authority" in text
        spam.refresh_from_db()
        assert spam.status == RequestStatus.REJECTED

        page.goto("/platform/requests/?status=open")
        expect(rows).to_have_count(2)  # the access request is in progress until its job completes
        expect(page.locator(f'tr[data-request-id="{spam.pk}"]')).to_have_count(0)
        screenshot(page, "intake-queue-open-only")

    def test_member_is_refused(self, page, tenant, console_errors):
        member = factories.user_create(email="member@example.com", tenant=tenant, role="member")
        login(page, member.email)
        page.goto("/platform/requests/")
        expect(page.get_by_role("alert")).to_contain_text("ask one of them for access")
        screenshot(page, "intake-queue-member-refused")
        drop_expected(console_errors, 403)
