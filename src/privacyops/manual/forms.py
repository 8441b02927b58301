"""The owner's form: who answers, and either the exported file or what was erased."""

from __future__ import annotations

from django import forms

from privacyops.manual.services import NOTE_MAX


class ConfirmForm(forms.Form):
    confirmed_by = forms.EmailField(
        label="Your email", max_length=254,
        help_text="Recorded with your answer, so the privacy team knows who did the work.")
    note = forms.CharField(
        label="Note (optional)", required=False, max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Anything the privacy team should know (where you looked, what you kept and "
                  "why). Please do not name the person here.")


class EraseForm(ConfirmForm):
    rows = forms.IntegerField(
        label="Records erased", min_value=0, max_value=10**12,
        help_text="How many records (files, entries, sheets) you erased; 0 if there were none.")
    done = forms.BooleanField(label="I have erased this person's data as described above.")


class ExportForm(ConfirmForm):
    upload = forms.FileField(label="Exported file", allow_empty_file=True,
                             help_text="The person's data from this system, as one file.")
