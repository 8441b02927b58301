"""Platform → Tenants in a real browser: an operator onboards a clinic."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from privacyops.tenancy.models import Membership, System
from tests import factories
from tests.browser.conftest import login, screenshot
from tests.tenancy.clinic import build_clinic


def test_staff_create_a_tenant_add_a_member_and_a_system_and_see_it_healthy(
        page, staff, tmp_path, settings, monkeypatch):
    build_clinic(tmp_path, settings, monkeypatch)
    login(page, staff.email)
    page.get_by_role("link", name="Tenants").click()
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()

    page.get_by_text("Create a tenant").click()
    create_form = page.locator("form[action='/platform/tenants/']")
    create_form.get_by_label("Slug").fill("nord")
    create_form.get_by_label("Name").fill("Clinique du Nord")
    create_form.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("heading", name=re.compile("Clinique du Nord"))).to_be_visible()
    screenshot(page, "tenants-new")

    page.get_by_text("Add a member…").click()
    member_form = page.locator("form[action$='/members/']")
    member_form.get_by_label("Email").fill("dr.ana@example.com")
    member_form.get_by_label("Role").select_option("super-admin")
    member_form.get_by_label("Full name").fill("Ana Médecin")
    member_form.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("first password, shown only now")).to_be_visible()
    expect(page.locator("table.members")).to_contain_text("dr.ana@example.com")

    page.get_by_text("Add a system…").click()
    system_form = page.locator("form[action$='/systems/']")
    system_form.get_by_label("Name").fill("clinic-app")
    system_form.get_by_label("Data map").fill("clinic")
    system_form.get_by_label("Tenant key").fill("1")
    system_form.get_by_role("button", name="Add system").click()
    health = page.locator("table.systems .health")
    expect(health).to_contain_text("Healthy")
    expect(health).to_contain_text("2 patients rows for tenant key 1")
    screenshot(page, "tenants-detail")

    assert Membership.objects.get(user__email="dr.ana@example.com").role == "super-admin"
    assert System.objects.get(name="clinic-app").datastore_key == "1"


def test_a_tenant_admin_sees_their_tenant_read_only(page, tenant, other_tenant):
    admin = factories.user_create(email="admin@acme.example.com", tenant=tenant, role="admin")
    login(page, admin.email)
    page.goto("/platform/tenants/")
    expect(page.locator("table.tenants")).to_contain_text("Acme Corp")
    expect(page.locator("table.tenants")).not_to_contain_text("Globex")
    page.get_by_role("link", name="Acme Corp", exact=True).click()
    expect(page.get_by_text("No systems yet")).to_be_visible()
    expect(page.get_by_text("Add a system…")).to_have_count(0)


def test_a_drifted_system_shows_its_badge_and_unmapped_columns(
        page, staff, tenant, tmp_path, settings, monkeypatch):
    import sqlite3

    from django.core.management import call_command

    path = build_clinic(tmp_path, settings, monkeypatch)
    call_command("system", "add", "--tenant", tenant.slug, "--name", "clinic-app", "--datamap",
                 "clinic", "--key", "1")
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE patients ADD COLUMN mobile_phone TEXT")
    conn.close()
    call_command("system", "test", "clinic-app")

    login(page, staff.email)
    expect(page.locator(".drift-notice")).to_contain_text(
        "1 system has unmapped personal-looking columns")
    page.locator(".drift-notice").get_by_role("link", name="Tenants").click()
    page.locator("table.tenants .drift-badge").click()
    expect(page.locator("table.systems")).to_contain_text("Schema drift")
    expect(page.locator("tr.drift")).to_contain_text("patients.mobile_phone")
    expect(page.locator("table.systems .health")).to_contain_text("1 unmapped object looks personal")
    screenshot(page, "tenants-drift")
