"""Forms of Platform → Tenants: they parse input; the services decide what is allowed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from privacyops.tenancy.models import ConnectorType, Role
from privacyops.tenancy.services import APPROVAL_TYPES, RETENTION_DAYS


class _OwnIds(forms.Form):
    """Several forms share the tenant's page: each gets ids of its own (`system_name`)."""

    id_prefix = "id"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class TenantCreateForm(forms.Form):
    slug = forms.CharField(label="Slug", max_length=63,
                           help_text="Lower-case letters, digits and hyphens, e.g. acme.")
    name = forms.CharField(label="Name", max_length=200)


class TenantEditForm(_OwnIds):
    id_prefix = "tenant"
    name = forms.CharField(label="Name", max_length=200)
    approval_required_types = forms.MultipleChoiceField(
        label="Jobs that need approval", required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(t, t) for t in APPROVAL_TYPES])
    super_admins_can_approve = forms.BooleanField(label="Super-admins may approve",
                                                  required=False)
    audit_retention_days = forms.IntegerField(label="Audit retention (days)",
                                              min_value=RETENTION_DAYS[0],
                                              max_value=RETENTION_DAYS[1])
    privacy_contact_email = forms.CharField(
        label="Privacy contact email", max_length=254, required=False,
        help_text="Shown on the public pages and in every email to a data subject.")
    reply_to_email = forms.CharField(
        label="Reply-to email", max_length=254, required=False,
        help_text="Where replies to those emails go; empty: the privacy contact.")
    default_language = forms.ChoiceField(
        label="Default language", choices=lambda: list(settings.LANGUAGES),
        help_text="Of the public pages and emails when the visitor's browser asks for none "
                  "of the offered languages.")


class MemberAddForm(_OwnIds):
    id_prefix = "member"
    email = forms.CharField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices)
    full_name = forms.CharField(label="Full name", max_length=200, required=False)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class SystemAddForm(_OwnIds):
    id_prefix = "system"
    name = forms.CharField(label="Name", max_length=100, help_text="Unique in the tenant.")
    connector_type = forms.ChoiceField(
        label="Connector", choices=ConnectorType.choices,
        help_text="It must match the map's connector: key (sql when the map has none).")
    datamap_name = forms.CharField(label="Data map", max_length=100,
                                   help_text="A file in the data-map folder, without .yaml.")
    datastore_key = forms.CharField(label="Tenant key", max_length=200, required=False,
                                    help_text="The tenant's value of the map's tenant column.")


class StaffCreateForm(_OwnIds):
    id_prefix = "staff"
    email = forms.CharField(label="Email", max_length=254)
    full_name = forms.CharField(label="Full name", max_length=200, required=False)
