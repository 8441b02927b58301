"""Every page, checked by axe-core in the real browser: no serious or critical violation, in light
and dark mode; and a screenshot of each at 1366 px and 390 px in test-artifacts/screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacyops.jobs.models import JobStatus
from tests import factories
from tests.browser.conftest import VIEWPORT, login, screenshots_at_widths


@pytest.fixture
def context(browser, live_server):
    """As conftest's, but lets the test inject axe-core past the page's CSP (the pages
    themselves keep it: no inline script of theirs runs)."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB",
                                  timezone_id="UTC", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_violations(page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in tests/browser/axe (scripts/test does).")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in result["violations"] if v["impact"] in BLOCKING
    ]


@pytest.fixture
def populated(tenant, staff, other_staff):
    make = factories.job_create
    jobs = {
        "pending": make(tenant=tenant, requested_by=other_staff, target_id="101"),
        "failed": make(tenant=tenant, requested_by=staff, status=JobStatus.FAILED, target_id="102",
                       error_code="precondition", error_message="The person still holds hardware."),
        "completed": make(tenant=tenant, requested_by=staff, job_type="EXPORT",
                          status=JobStatus.COMPLETED, requires_approval=False, target_id="103",
                          result={"sections": {"profile": 1}}),
    }
    hold = factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                                 scope_id=tenant.slug)
    return jobs, hold


def _privacy_requests(failed_job, staff):
    """A request in progress with a failed job and a note, and a duplicate of it."""
    from django.db import transaction

    from privacyops.intake.lifecycle import event_add, request_record
    from privacyops.tenancy.actors import Actor

    with transaction.atomic():
        request = request_record(tenant=failed_job.tenant, email="ada@example.com",
                                 name="Ada Lovelace", request_type="access", channel="intake",
                                 actor=Actor.system("intake-form"), verified=True)
        failed_job.request = request
        failed_job.save()
        request.status = "in_progress"
        request.save()
        event_add(request, "note", Actor.for_user(staff), text="Called back to confirm.")
        duplicate = request_record(tenant=failed_job.tenant, email="ADA@example.com",
                                   request_type="access", channel="api",
                                   actor=Actor.for_user(staff), verified=True)
    return request, duplicate


STAFF_PAGES = [
    ("overview", "/platform/privacy/"),
    ("jobs-sorted", "/platform/privacy/?sort=status"),
    ("new-job", "/platform/privacy/jobs/new/"),
    ("holds", "/platform/privacy/holds/"),
    ("audit", "/platform/privacy/audit/"),
    ("requests", "/platform/requests/"),
    ("retention", "/platform/privacy/retention/"),
    ("ropa", "/platform/privacy/ropa/"),
    ("tenants", "/platform/tenants/"),
    ("account", "/account/"),
    ("tokens", "/account/tokens/"),
]
PUBLIC_PAGES = [
    ("intake-choose", "/privacy/request"),
    ("intake-form", "/privacy/request?workspace=acme"),
    ("privacy-center", "/privacy/acme/"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_staff_pages_have_no_serious_accessibility_violations(page, staff, populated, scheme):
    jobs, hold = populated
    request, duplicate = _privacy_requests(populated[0]["failed"], staff)
    page.emulate_media(color_scheme=scheme)
    login(page, staff.email)
    pages = [*STAFF_PAGES, ("request-new", "/platform/requests/new/"),
             ("request", f"/platform/requests/{request.pk}/"),
             ("request-duplicate", f"/platform/requests/{duplicate.pk}/"),
             ("job-pending", f"/platform/privacy/jobs/{jobs['pending'].pk}/"),
             ("job-failed", f"/platform/privacy/jobs/{jobs['failed'].pk}/"),
             ("job-completed", f"/platform/privacy/jobs/{jobs['completed'].pk}/"),
             ("hold", f"/platform/privacy/holds/{hold.pk}/")]
    found: dict[str, list[str]] = {}
    for name, url in pages:
        page.goto(url)
        screenshots_at_widths(page, f"page-{name}-{scheme}", widths=(1366, 390))
        problems = axe_violations(page)
        if problems:
            found[url] = problems
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(
        f"{url}: {p}" for url, problems in found.items() for p in problems)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_public_pages_have_no_serious_accessibility_violations(page, tenant, scheme):
    page.emulate_media(color_scheme=scheme)
    found: dict[str, list[str]] = {}
    for name, url in PUBLIC_PAGES:
        page.goto(url)
        screenshots_at_widths(page, f"page-{name}-{scheme}", widths=(1366, 390))
        problems = axe_violations(page)
        if problems:
            found[url] = problems
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(
        f"{url}: {p}" for url, problems in found.items() for p in problems)


def test_the_checker_itself_finds_a_violation(page, tenant):
    """The oracle works: a page with an unlabelled input and unreadable text is reported."""
    page.goto("/privacy/request")
    page.evaluate("""() => {
        const input = document.createElement('input');
        document.querySelector('main').appendChild(input);
        const p = document.createElement('p');
        p.textContent = 'barely visible'; p.style.color = '#fefefe'; p.style.background = '#ffffff';
        document.querySelector('main').appendChild(p);
    }""")
    problems = axe_violations(page)
    assert any(p.startswith(("label", "color-contrast")) for p in problems), problems
