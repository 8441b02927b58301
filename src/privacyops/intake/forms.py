"""The public intake form (with its bot traps) and the operator's action forms."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django import forms
from django.core import signing
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from privacyops.intake.models import RequestStatus, RequestType
from privacyops.intake.selectors import QUEUE_SORTING

DETAILS_LIMIT = 5000
MIN_FILL_SECONDS = 3.0
# A form older than this is refused like a bot's; spent tokens are remembered as long.
FORM_TOKEN_MAX_AGE = 24 * 3600
STARTED_AT_SALT = "privacyops.intake.form-started"
HONEYPOT_FIELD = "homepage"
STARTED_FIELD = "started"


def form_token(started_at: float | None = None) -> str:
    """A signed timestamp of when the form was shown; a submission sooner than 3 s is a bot."""
    return signing.dumps({"t": time.time() if started_at is None else started_at},
                         salt=STARTED_AT_SALT)


def looks_like_a_bot(data: Any) -> bool:
    """Filled the field humans never see, or came back without (or too soon after, or a day
    after) the form."""
    if str(data.get(HONEYPOT_FIELD, "")).strip():
        return True
    try:
        started = float(signing.loads(str(data.get(STARTED_FIELD, "")), salt=STARTED_AT_SALT,
                                      max_age=FORM_TOKEN_MAX_AGE)["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return True
    return time.time() - started < MIN_FILL_SECONDS


def form_token_spend(token: str) -> bool:
    """Use a form's token for one accepted submission; False when it was used before.

    Without this a bot fetches the form once and replays its token forever. `cache.add` is
    atomic, so two replays racing each other spend it once.
    """
    digest = hashlib.sha256(token.encode()).hexdigest()
    return bool(cache.add(f"intake-form-token:{digest}", 1, timeout=FORM_TOKEN_MAX_AGE + 60))


# The request types as the public form shows them, in the visitor's language.
PUBLIC_REQUEST_TYPE_LABELS: dict[str, Any] = {
    RequestType.ACCESS: _("Access — Art. 15"),
    RequestType.ERASURE: _("Erasure / right to be forgotten — Art. 17"),
    RequestType.CORRECTION: _("Correction — Art. 16"),
    RequestType.PORTABILITY: _("Portability — Art. 20"),
    RequestType.RESTRICTION: _("Restriction — Art. 18"),
}


class IntakeForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        error_messages={"required": _("Enter your email address; we send a confirmation link "
                                      "to it."),
                        "invalid": _("Enter a valid email address, like name@example.com.")},
    )
    name = forms.CharField(max_length=200, required=False,
                           error_messages={"max_length": _("Keep your name under 200 "
                                                           "characters.")})
    request_type = forms.ChoiceField(
        choices=[(value, PUBLIC_REQUEST_TYPE_LABELS.get(value, label))
                 for value, label in RequestType.choices],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose what you are asking for."),
                        "invalid_choice": _("Choose one of the listed request types.")},
    )
    details = forms.CharField(
        max_length=DETAILS_LIMIT, required=False, widget=forms.Textarea,
        error_messages={"max_length": _("Keep the details under 5,000 characters (you wrote "
                                        "%(show_value)d).")},
    )
    own_data = forms.BooleanField(
        error_messages={"required": _("Confirm that this request concerns your own personal "
                                      "data. To act for someone else, write to the privacy "
                                      "contact.")},
    )


class LinkForm(forms.Form):
    subject_id = forms.CharField(
        max_length=200, strip=True,
        error_messages={"required": "Type the name or email of the person this request "
                                    "concerns, and pick them from the suggestions."},
    )


class OutcomeForm(forms.Form):
    outcome = forms.CharField(
        max_length=DETAILS_LIMIT, widget=forms.Textarea,
        error_messages={"required": "Describe what was corrected or restricted."},
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea,
        error_messages={"required": "Give a reason; the submitter receives it by email."},
    )


class ExtendForm(forms.Form):
    new_deadline = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Choose the new deadline date.",
                        "invalid": "Enter the new deadline as a date (YYYY-MM-DD)."},
    )
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea,
        error_messages={"required": "Give a reason; the submitter receives it by email."},
    )


_ANY = ("", "Any")
SORT_CHOICES = [("", "Open first, soonest deadline"), *(
    (key, f"{c.label}, {'descending' if key.startswith('-') else 'ascending'}")
    for c in QUEUE_SORTING.columns for key in (c.key, f"-{c.key}"))]


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[_ANY, ("open", "Open (not closed)"),
                                        *RequestStatus.choices], required=False)
    type = forms.ChoiceField(choices=[_ANY, *RequestType.choices], required=False)
    verified = forms.ChoiceField(choices=[_ANY, ("yes", "Verified"), ("no", "Unverified")],
                                 required=False)
    overdue = forms.ChoiceField(choices=[_ANY, ("yes", "Overdue only")], required=False)
    due = forms.ChoiceField(choices=[_ANY, ("overdue", "Overdue"), ("7d", "Due in 7 days")],
                            required=False)
    tenant = forms.CharField(max_length=63, required=False)
    assignee = forms.RegexField(regex=r"^(|me|none|\d{1,19})$", max_length=20, required=False)
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)


class NoteForm(forms.Form):
    text = forms.CharField(
        max_length=5000, widget=forms.Textarea,
        error_messages={"required": "Type the note.",
                        "max_length": "Keep the note under 5,000 characters."},
    )


class AssignForm(forms.Form):
    assignee = forms.RegexField(regex=r"^(|\d{1,19})$", max_length=20, required=False)


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)


class NewRequestForm(forms.Form):
    """An operator files a request for a person (by phone, letter, in person)."""

    tenant = forms.IntegerField(min_value=1, error_messages={
        "required": "Choose the workspace the request is for."})
    email = forms.EmailField(max_length=254, error_messages={
        "required": "Enter the person's email address.",
        "invalid": "Enter a valid email address, like name@example.com."})
    name = forms.CharField(max_length=200, required=False)
    request_type = forms.ChoiceField(choices=RequestType.choices, widget=forms.RadioSelect,
                                     error_messages={"required": "Choose the request type."})
    details = forms.CharField(max_length=DETAILS_LIMIT, required=False, widget=forms.Textarea)
