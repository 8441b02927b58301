"""A German browser gets the German intake form and privacy center, can switch to English
without JavaScript, and its confirmation email arrives in German over real SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORT, screenshot, screenshots_at_widths

MIN_FILL_MS = 3200  # the form drops submissions sent sooner than 3 s after it was shown


@pytest.fixture(autouse=True)
def _setup(settings, live_server, tenant):
    settings.BASE_URL = live_server.url
    tenant.privacy_contact_email = "dpo@acme.example.com"
    tenant.save()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def german_page(browser: Any, live_server: Any, console_errors: list[str]) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="de-DE",
                                  timezone_id="Europe/Berlin")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    yield page
    context.close()
    assert not console_errors, console_errors


def test_german_browser_gets_the_german_form_and_can_switch(german_page):
    page = german_page
    page.goto("/privacy/request/acme/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Datenschutzantrag an Acme Corp stellen")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_label("E-Mail-Adresse")).to_be_visible()
    expect(page.get_by_role("button", name="Antrag absenden")).to_be_visible()
    screenshots_at_widths(page, "languages-form-de")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Make a privacy request to Acme Corp")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()  # the choice is remembered, though the browser still asks for German
    expect(page.get_by_role("button", name="Send request")).to_be_visible()
    page.goto("/privacy/acme/")
    expect(page.get_by_role("heading", name="Sign in with your email")).to_be_visible()
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", name="Mit Ihrer E-Mail-Adresse anmelden")).to_be_visible()
    screenshot(page, "languages-center-de")


def test_german_submission_gets_a_german_email(german_page, mail_to_smtp):
    page = german_page
    page.goto("/privacy/request/acme/")
    page.get_by_label("E-Mail-Adresse").fill("ada@example.com")
    page.get_by_label("Auskunft — Art. 15").check()
    page.get_by_label("Ich bestätige, dass dieser Antrag meine eigenen").check()
    page.wait_for_timeout(MIN_FILL_MS)
    page.get_by_role("button", name="Antrag absenden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Vielen Dank — Ihr Antrag ist eingegangen")
    screenshot(page, "languages-sent-de")
    message = mail_to_smtp.wait_for(lambda m: "Datenschutzantrag" in str(m["Subject"]))
    assert str(message["Subject"]).startswith("Bestätigen Sie Ihren Datenschutzantrag R-")
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert "Bitte bestätigen Sie, dass dies Ihre E-Mail-Adresse ist" in plain.get_content()
    assert "E-Mail-Adresse bestätigen" in html.get_content()
