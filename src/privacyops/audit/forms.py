"""The audit log's filter form: the same filters drive the list and both exports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

from django import forms

from privacyops.audit.selectors import AuditFilters
from privacyops.tenancy.models import Tenant


class AuditFilterForm(forms.Form):
    """A GET form; `since` and `until` are whole UTC days, both included."""

    tenant = forms.TypedChoiceField(label="Tenant", required=False, coerce=int, empty_value=None)
    actor = forms.CharField(
        label="Actor", required=False, max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Email or actor id"}),
    )
    action = forms.CharField(
        label="Action", required=False, max_length=60,
        widget=forms.TextInput(attrs={"list": "audit-actions", "placeholder": "e.g. job.approved"}),
    )
    target_type = forms.CharField(label="Target type", required=False, max_length=40)
    target_id = forms.CharField(label="Target id", required=False, max_length=200)
    outcome = forms.ChoiceField(
        label="Outcome", required=False,
        choices=[("", "Any outcome"), ("success", "Success"), ("failure", "Failure")],
    )
    since = forms.DateField(label="Since (UTC)", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="Until (UTC)", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, tenants: Iterable[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["tenant"]).choices = [
            ("", "All tenants"), *[(t.pk, t.name) for t in tenants]
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", f"The start of the time range is after its end: “Until” "
                                    f"({until:%Y-%m-%d}) is before “Since” ({since:%Y-%m-%d}); "
                                    "pick an end date on or after the start date.")
        return data

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        since, until = data["since"], data["until"]
        return AuditFilters(
            tenant_id=data["tenant"],
            actor=data["actor"].strip(),
            action=data["action"].strip(),
            target_type=data["target_type"].strip(),
            target_id=data["target_id"].strip(),
            outcome=data["outcome"],
            since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
            until=(datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1)
                   if until else None),
        )

    def described(self) -> dict[str, str]:
        """The filters in use, for the metadata of the `audit.exported` event."""
        return {name: str(value) for name, value in self.cleaned_data.items()
                if value not in (None, "")}

    def first_error(self) -> str:
        for field in self:
            for error in field.errors:
                return f"{field.label}: {error}"
        return "The filters are not valid."
