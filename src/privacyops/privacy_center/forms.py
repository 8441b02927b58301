from __future__ import annotations

from django import forms

from privacyops.privacy_center.services import REASON_LIMIT


class EmailForm(forms.Form):
    email = forms.CharField(max_length=320, label="Your email address")


class CodeForm(forms.Form):
    code = forms.CharField(max_length=12, label="6-digit code")


class DeletionForm(forms.Form):
    confirmation_email = forms.CharField(max_length=320, required=False,
                                         label="Type your email address to confirm")
    reason = forms.CharField(max_length=REASON_LIMIT + 1000, required=False,
                             label="Reason (optional)")
