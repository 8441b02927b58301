"""A tenant's privacy contact, reply-to address and default language: set from the tenant page,
the CLI and the API, checked, and audited without the addresses."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from privacyops.audit.models import AuditEvent
from privacyops.errors import ValidationFailed
from privacyops.tenancy.management.cli import CLI
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.services import tenant_update
from tests.api.conftest import api_as

pytestmark = pytest.mark.django_db


def test_new_tenants_speak_english_and_reply_to_the_contact(tenant):
    assert tenant.default_language == "en"
    assert tenant.reply_to_email == ""


def test_service_sets_and_checks_the_fields(tenant):
    tenant_update(tenant_id=tenant.pk, reply_to_email=" Requests@Acme.example ",
                  default_language="DE", privacy_contact_email="dpo@acme.example", actor=CLI)
    tenant.refresh_from_db()
    assert tenant.default_language == "de"
    assert tenant.reply_to_email.lower() == "requests@acme.example"
    event = AuditEvent.objects.filter(action="tenant.updated").latest("seq")
    changes = event.metadata["changes"]
    assert changes["default_language"] == ["en", "de"]
    assert changes["reply_to_email"] == ["…", "…"]  # no address in the audit log
    assert "acme.example" not in str(event.metadata)
    with pytest.raises(ValidationFailed, match="Unknown language 'fr'; choose one of en, de"):
        tenant_update(tenant_id=tenant.pk, default_language="fr", actor=CLI)
    with pytest.raises(ValidationFailed):
        tenant_update(tenant_id=tenant.pk, reply_to_email="not an address", actor=CLI)


def test_cli_edit(tenant, capsys):
    call_command("tenant", "edit", "acme", "--language", "de", "--reply-to",
                 "requests@acme.example")
    assert "Tenant acme updated." in capsys.readouterr().out
    tenant.refresh_from_db()
    assert (tenant.default_language, tenant.reply_to_email) == ("de", "requests@acme.example")
    with pytest.raises(CommandError, match="Unknown language"):
        call_command("tenant", "edit", "acme", "--language", "xx")


def test_tenant_page_edit_form(staff, tenant):
    client = Client()
    client.force_login(staff)
    page = client.get(f"/platform/tenants/{tenant.pk}/").content.decode()
    assert "Reply-to email" in page
    assert "Default language" in page
    response = client.post(f"/platform/tenants/{tenant.pk}/edit/", {
        "name": "Acme Corp", "audit_retention_days": "3650",
        "approval_required_types": ["ERASE", "PURGE"],
        "privacy_contact_email": "dpo@acme.example", "reply_to_email": "requests@acme.example",
        "default_language": "de"})
    assert response.status_code == 302
    tenant = Tenant.objects.get(pk=tenant.pk)
    assert tenant.default_language == "de"
    assert tenant.reply_to_email == "requests@acme.example"
    assert tenant.privacy_contact_email == "dpo@acme.example"
    # The staff page itself stays English.
    assert "Default language" in client.get(f"/platform/tenants/{tenant.pk}/",
                                            HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_api_patch_and_read(staff, tenant):
    staff_api = api_as(staff)
    response = staff_api.patch(f"/tenants/{tenant.pk}",
                               {"default_language": "de", "reply_to_email": "r@acme.example"})
    assert response.status_code == 200, response.content
    assert response.json()["default_language"] == "de"
    assert response.json()["reply_to_email"] == "r@acme.example"
    refused = staff_api.patch(f"/tenants/{tenant.pk}", {"default_language": "klingon"})
    assert refused.status_code == 422
