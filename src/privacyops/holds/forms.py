"""Forms of the legal holds tab: its filters, placing a hold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms

from privacyops.tenancy.models import Tenant

HOLD_STATES = [("", "Any state"), ("active", "Active"), ("expired", "Expired"),
               ("released", "Released")]


def _tenant_choices(tenants: Iterable[Tenant]) -> list[tuple[int | str, str]]:
    return [(t.pk, t.name) for t in tenants]


class HoldFilterForm(forms.Form):
    """A GET form: the filters stay in the URL."""

    state = forms.ChoiceField(label="State", required=False, choices=HOLD_STATES)
    scope_type = forms.CharField(
        label="Scope type", required=False, max_length=40,
        widget=forms.TextInput(attrs={"list": "scope-types", "placeholder": "Any"}),
    )
    tenant = forms.TypedChoiceField(label="Tenant", required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, tenants: Iterable[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["tenant"]).choices = [
            ("", "All tenants"), *_tenant_choices(tenants)
        ]


class HoldPlaceForm(forms.Form):
    tenant = forms.TypedChoiceField(label="Tenant", coerce=int)
    scope_type = forms.CharField(
        label="Scope type", max_length=40,
        widget=forms.TextInput(attrs={"list": "scope-types", "placeholder": "subject, tenant, identity…"}),
    )
    scope_id = forms.CharField(
        label="Scope id", max_length=200,
        help_text="For a subject, type a name or an email and pick the person; the id is "
                  "filled in.")
    reason = forms.CharField(
        label="Reason", max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Litigation, investigation or audit reference"}
        ),
    )
    expires_at = forms.DateTimeField(
        label="Expires at (UTC, optional)", required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, tenants: Iterable[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["tenant"]).choices = _tenant_choices(tenants)
