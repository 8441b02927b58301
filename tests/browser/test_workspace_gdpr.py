"""The workspace GDPR screen in a real browser: search, Export JSON, every erase guard, erase."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobStatus
from tests import factories
from tests.browser.conftest import login, screenshot, screenshots_at_widths
from tests.workspace.demo_store import (  # noqa: F401 - fixtures
    People,
    acme,
    demo_store,
    demo_template,
    people,
)

GDPR = "/workspace/acme/gdpr/"


def rows(page: Page):
    return page.locator("tr.gdpr-row")


def search(page: Page, value: str) -> None:
    with page.expect_response(lambda r: "q=" in r.url and r.status == 200):
        page.get_by_label("Search people").fill(value)


def forget_expected_http_errors(console_errors: list[str]) -> None:
    console_errors[:] = [e for e in console_errors if "status of 4" not in e]


def erase_in_dialog(page: Page, person_id: int, confirmation: str, reason: str) -> None:
    row = page.locator(f"#subject-{person_id}")
    row.get_by_role("button", name="Erase").click()
    dialog = page.locator(f"#erase-{person_id}")
    expect(dialog).to_be_visible()
    dialog.get_by_label("to confirm").fill(confirmation)
    dialog.get_by_label("Reason").fill(reason)
    dialog.get_by_role("button", name="Erase data").click()


@pytest.fixture
def owner(acme):  # noqa: F811
    return factories.user_create(email="owner@example.com", tenant=acme, role="super-admin")


def test_list_and_search_by_each_field(page: Page, acme, people: People, owner):  # noqa: F811
    login(page, owner.email)
    page.goto(GDPR)
    expect(page.get_by_role("heading", name="GDPR", exact=True)).to_be_visible()
    for article in ("Article 15", "Article 20", "Article 17"):
        expect(page.get_by_text(article, exact=True)).to_be_visible()
    expect(rows(page)).to_have_count(50)
    screenshots_at_widths(page, "workspace-gdpr-list")
    person = people.all()[70]
    for field in ("email", "name", "employee_id"):
        search(page, getattr(person, field))
        expect(page.locator(f"#subject-{person.id}")).to_be_visible()
        assert rows(page).count() < 5
        assert "q=" in page.url
    row = page.locator(f"#subject-{person.id}")
    expect(row).to_contain_text(person.job_title)
    expect(row).to_contain_text(person.department)
    expect(row).to_contain_text(person.status.title())
    expect(row).to_contain_text(re.compile(r"ago|Never"))
    screenshots_at_widths(page, "workspace-gdpr-search")
    page.get_by_label("Search people").fill("")
    page.goto(GDPR)
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text("Page 2")).to_be_visible()
    expect(page.locator(f"#subject-{people.all()[50].id}")).to_be_visible()


def test_export_json_downloads_the_file(page: Page, acme, people: People, tmp_path):  # noqa: F811
    admin = factories.user_create(email="it@example.com", tenant=acme, role="it-admin")
    login(page, admin.email)
    page.goto(GDPR)
    person = people.first(holds_assets=True)
    search(page, person.email)
    with page.expect_download() as download_info:
        page.locator(f"#subject-{person.id}").get_by_role("button", name="Export JSON").click()
    download = download_info.value
    assert re.fullmatch(rf"gdpr-export-{person.id}-\d{{8}}-\d{{6}}\.json",
                        download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    document = json.loads(saved.read_text())
    assert document["exported_by"] == admin.email
    assert document["data_subject"][0]["email"] == person.email
    for section in ("hardware_assignments", "software_assignments", "asset_requests", "activity"):
        assert section in document
    assert len(document["activity"]) <= 1000
    assert Job.objects.get(job_type="EXPORT").status == JobStatus.COMPLETED
    assert AuditEvent.objects.filter(action="gdpr.export", outcome="success").count() == 1
    screenshot(page, "workspace-gdpr-after-export")


def test_erase_guards(page: Page, acme, people: People, owner, console_errors):  # noqa: F811
    login(page, owner.email)
    page.goto(GDPR)
    target_admin = people.first(role="super-admin")
    busy = people.first(holds_assets=True)
    held, mismatch = people.erasable(2)
    factories.hold_create(tenant=acme, created_by=owner, scope_id=str(held.id),
                          reason="Tribunal case 2026-7")
    cases = [
        (target_admin, target_admin.email, "Demote the account first"),
        (busy, busy.email, "Recover and revoke via offboarding, then retry"),
        (held, held.email, "Tribunal case 2026-7"),
        (mismatch, mismatch.email.upper(), "Retype the person's exact current email"),
    ]
    for person, confirmation, sentence in cases:
        page.goto(f"{GDPR}?q={person.email}")
        erase_in_dialog(page, person.id, confirmation, "Art. 17 request")
        alert = page.locator(f"#erase-error-{person.id}")
        expect(alert).to_contain_text(sentence)
        screenshot(page, f"workspace-gdpr-guard-{sentence[:20]}")
        forget_expected_http_errors(console_errors)
    expect(page.locator(f"#erase-error-{busy.id}")).to_have_count(0)  # another page now
    assert not Job.objects.filter(job_type="ERASE").exists()
    assert AuditEvent.objects.filter(action="gdpr.erase", outcome="failure").count() == 4


def test_erase_needs_super_admin(page: Page, acme, people: People, console_errors):  # noqa: F811
    admin = factories.user_create(email="admin@example.com", tenant=acme, role="admin")
    login(page, admin.email)
    person = people.erasable(1)[0]
    page.goto(f"{GDPR}?q={person.email}")
    erase_in_dialog(page, person.id, person.email, "Art. 17 request")
    expect(page.locator(f"#erase-error-{person.id}")).to_contain_text(
        "Erasure is super-admin only")
    screenshots_at_widths(page, "workspace-gdpr-guard-permission")
    forget_expected_http_errors(console_errors)


def test_erase_refuses_yourself(page: Page, acme, people: People, console_errors):  # noqa: F811
    me = people.erasable(1)[0]
    user = factories.user_create(email=me.email, tenant=acme, role="super-admin")
    login(page, user.email)
    page.goto(f"{GDPR}?q={me.email}")
    erase_in_dialog(page, me.id, me.email, "Testing")
    expect(page.locator(f"#erase-error-{me.id}")).to_contain_text("You can't erase yourself")
    forget_expected_http_errors(console_errors)


def test_successful_erase(page: Page, acme, people: People, owner):  # noqa: F811
    login(page, owner.email)
    person = people.erasable(1)[0]
    page.goto(f"{GDPR}?q={person.email}")
    screenshot(page, "workspace-gdpr-before-erase")
    row = page.locator(f"#subject-{person.id}")
    row.get_by_role("button", name="Erase").click()
    screenshots_at_widths(page, "workspace-gdpr-erase-dialog")
    dialog = page.locator(f"#erase-{person.id}")
    dialog.get_by_label("to confirm").fill(person.email)
    dialog.get_by_label("Reason").fill("Art. 17 request received by post on 7 June")
    dialog.get_by_role("button", name="Erase data").click()
    page.wait_for_url(re.compile(r"q=erased-user-"))
    expect(page.locator(".msg-success")).to_contain_text("was erased")
    row = page.locator(f"#subject-{person.id}")
    expect(row.locator(".badge-erased")).to_have_text("Erased")
    expect(row).to_contain_text(f"erased-user-{person.id}@erased.local")
    expect(row.get_by_role("button", name="Erase")).to_have_count(0)
    expect(row).to_have_class(re.compile("is-erased"))
    screenshots_at_widths(page, "workspace-gdpr-erased")
    job = Job.objects.get(job_type="ERASE")
    assert job.status == JobStatus.COMPLETED
    event = AuditEvent.objects.get(action="gdpr.erase", outcome="success")
    assert event.metadata["reason"] == "Art. 17 request received by post on 7 June"
