"""Forms of the Platform → Privacy job pages: the list toolbar, a new job, a rejection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms

from privacyops.jobs.models import JobStatus, JobType
from privacyops.tenancy.models import Tenant


class JobFilterForm(forms.Form):
    """The jobs toolbar. A GET form: every filter lives in the URL, so a view can be shared."""

    q = forms.CharField(
        label="Search", required=False, max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Tenant name, job id or target id"}),
    )
    status = forms.ChoiceField(
        label="Status", required=False,
        choices=[("", "All statuses"), *JobStatus.choices, ("withdrawn", "Withdrawn by the data subject")],
    )
    type = forms.ChoiceField(
        label="Type", required=False, choices=[("", "All types"), *JobType.choices]
    )


def target_or_email(target_type: str, target_id: str, email: str) -> tuple[str, str]:
    """(target id, email) of the new-job form: a subject "id" with an @ is the email the person
    search fills in for someone only other systems hold, so the job goes by identity."""
    if target_type == "subject" and "@" in target_id and not email:
        return "", target_id
    return target_id, email


class JobCreateForm(forms.Form):
    """A new job. Target types come from the chosen tenant's data map."""

    tenant = forms.TypedChoiceField(label="Tenant", coerce=int)
    job_type = forms.ChoiceField(label="Job type", choices=JobType.choices)
    target_type = forms.ChoiceField(label="Target type")
    target_id = forms.CharField(label="Target id", max_length=200, required=False)
    email = forms.CharField(
        label="Or the person's email", max_length=254, required=False,
        help_text="A subject by email: every system of the tenant finds its own rows for it.")
    reason = forms.CharField(
        label="Reason", required=False, max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why this job is needed (ticket, article)"}),
    )
    changes = forms.CharField(
        label="Changes (RECTIFY)", required=False, max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "name: Ana Lopez\nphone: +1-555-0100",
                                     "aria-describedby": "changes-hint"}),
    )
    lift = forms.BooleanField(label="Lift the restriction (RESTRICT)", required=False)
    system = forms.CharField(
        label="System (RECTIFY, RESTRICT)", max_length=100, required=False,
        help_text="The SQL system whose row to change, by name; empty: the tenant's first.")

    def clean_changes(self) -> dict[str, str]:
        """One `field: value` per line (the value may be empty, and may hold colons)."""
        changes: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("changes", "").splitlines(), 1):
            if not line.strip():
                continue
            field, colon, value = line.partition(":")
            if not colon or not field.strip():
                raise forms.ValidationError(
                    f"Line {number} is not `field: value`; write one field per line, its name, "
                    "a colon and the corrected value.")
            if field.strip() in changes:
                raise forms.ValidationError(f"Field {field.strip()} is given twice; keep one line.")
            changes[field.strip()] = value.strip()
        return changes

    def job_params(self) -> dict[str, object]:
        """The `params` of job_create for the chosen job type."""
        job_type = self.cleaned_data["job_type"]
        system = (self.cleaned_data.get("system") or "").strip()
        named = {"system": system} if system else {}
        if job_type == JobType.RECTIFY:
            return {"changes": self.cleaned_data["changes"], **named}
        if job_type == JobType.RESTRICT:
            return {"lift": self.cleaned_data["lift"], **named}
        return {}

    def __init__(
        self, *args: Any, tenants: Iterable[Tenant], target_types: Iterable[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["tenant"]).choices = [
            (t.pk, t.name) for t in tenants
        ]
        cast(forms.ChoiceField, self.fields["target_type"]).choices = [(t, t) for t in target_types]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        target_id = (data.get("target_id") or "").strip()
        target_id, email = target_or_email(data.get("target_type") or "", target_id,
                                           (data.get("email") or "").strip())
        data["target_id"], data["email"] = target_id, email
        if not target_id and not email:
            self.add_error("target_id", "Type the target id, or the person's email below.")
        elif target_id and email:
            self.add_error("email", "Give the target id or the email, not both.")
        return data

