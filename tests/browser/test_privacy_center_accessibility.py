"""axe-core on the signed-in privacy center's request list, in English and in German, light
and dark: requests of every channel and state, a download, a scheduled deletion to cancel."""

from __future__ import annotations

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect

from privacyops.execution.runner import run_job_now
from privacyops.intake.lifecycle import request_record
from privacyops.jobs.models import Job
from privacyops.tenancy.actors import Actor
from tests.browser.conftest import SmtpServer, screenshots_at_widths
from tests.browser.test_accessibility import axe_violations, context
from tests.browser.test_privacy_center import sign_in
from tests.workspace.demo_store import (  # noqa: F401 - fixtures
    People,
    acme,
    demo_store,
    demo_template,
    people,
)

# The accessibility tests' browser context (it lets axe-core's script in past the CSP).
__all__ = ["context"]

HEADINGS = {"en": "Your requests", "de": "Ihre Anträge"}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_signed_in_request_list_has_no_serious_violations(
        page: Page, acme, people: People, mail_to_smtp: SmtpServer,  # noqa: F811
        language: str):
    person = people.erasable(1)[0]
    for channel, kind, verified in (("intake", "access", False), ("api", "correction", True),
                                    ("operator", "objection", True)):
        with transaction.atomic():
            request_record(tenant=acme, email=person.email, request_type=kind,
                           channel=channel, actor=Actor.system("test"), verified=verified)
    sign_in(page, mail_to_smtp, person.email)
    page.get_by_role("button", name="Request an export").click()
    run_job_now(Job.objects.get(job_type="EXPORT").pk)  # a download to offer
    page.get_by_label("Type your email address to confirm").fill(person.email)
    page.get_by_role("button", name="Delete my account").click()  # scheduled: can be cancelled
    expect(page.locator("[data-status='Scheduled']")).to_be_visible()
    if language == "de":
        page.get_by_role("button", name="Deutsch").click()  # a form post that reloads the page
        expect(page.locator("html")).to_have_attribute("lang", "de")
        page.wait_for_load_state("load")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", language)
    requests = page.get_by_role("heading", name=HEADINGS[language])
    expect(requests).to_be_visible()
    expect(page.locator("[data-reference]")).to_have_count(5)
    expect(page.locator("[data-status='Ready']")).to_be_visible()

    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        screenshots_at_widths(page, f"privacy-center-requests-{language}-{scheme}",
                              widths=(1366, 390))
        assert axe_violations(page) == [], (language, scheme)
