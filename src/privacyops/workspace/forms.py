from __future__ import annotations

from django import forms

from privacyops.workspace.services import REASON_LIMIT


class EraseForm(forms.Form):
    """The erase dialog; the service, not the form, decides whether the email matches."""

    confirmation_email = forms.CharField(max_length=320, required=False)
    reason = forms.CharField(max_length=REASON_LIMIT + 1000, required=False)
