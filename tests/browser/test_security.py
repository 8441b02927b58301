"""Under the Content-Security-Policy the pages still work: htmx swaps, the API docs render.

Chromium reports every blocked script or style as a console error, which fails the test
(see `console_errors` in conftest), so these also prove nothing on the pages is blocked.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_htmx_verifies_the_audit_chain_in_place_under_the_policy(page, staff):
    login(page, staff.email)
    response = page.goto("/platform/privacy/audit/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]

    page.get_by_role("button", name="Verify chain").click()

    result = page.locator("#verify-slot #verify-result")
    expect(result).to_contain_text("Chain verification")
    assert page.url.endswith("/platform/privacy/audit/")  # swapped in place, no navigation
    screenshot(page, "csp-htmx-verify")


def test_the_api_docs_render_under_the_policy(page, staff):
    login(page, staff.email)
    response = page.goto("/api/v1/docs")
    assert response is not None
    assert "content-security-policy" in response.headers
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("PrivacyOps API")
    expect(page.get_by_text("/api/v1/tokens/{token_id}").first).to_be_visible()
    screenshot(page, "csp-api-docs")


def test_the_api_docs_send_an_anonymous_visitor_to_sign_in(page):
    page.goto("/api/v1/docs")
    expect(page).to_have_url("/login/?next=/api/v1/docs")


def test_a_user_creates_sees_and_revokes_their_own_token(page, staff):
    login(page, staff.email)
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="Your API tokens")).to_be_visible()
    page.get_by_text("Create a token").click()
    page.get_by_label("What it is for").fill("nightly export")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()
    raw = page.locator("code.new-token").inner_text()
    assert raw.startswith("po_")
    row = page.locator("tr", has_text="nightly export")
    expect(row).to_contain_text("Never")  # not used yet
    expect(row).to_contain_text("Active")
    screenshot(page, "tokens-created")

    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").first).to_contain_text("is revoked")
    expect(page.locator("tr", has_text="nightly export")).to_contain_text("Revoked")
    expect(page.locator("code.new-token")).to_have_count(0)
    screenshot(page, "tokens-revoked")
