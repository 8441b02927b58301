"""The signed-in user's own API tokens: see them (with their last use), create, revoke."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.tenancy.selectors import api_tokens_of, token_status
from privacyops.tenancy.services import MAX_TOKEN_DAYS, api_token_create, api_token_revoke


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="What it is for",
                           widget=forms.TextInput(attrs={"placeholder": "nightly export script"}))
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=MAX_TOKEN_DAYS, required=False, label="Expires after (days)",
        help_text="Leave empty for a token that works until you revoke it.")


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = TokenCreateForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, raw = api_token_create(user=user, name=form.cleaned_data["name"],
                                      actor=Actor.for_user(user),
                                      expires_in_days=form.cleaned_data["expires_in_days"])
        created = {"token": token, "raw": raw}
        form = TokenCreateForm()
    tokens = [(token, token_status(token)) for token in api_tokens_of(user)]
    response = render(request, "web/tokens.html",
                      {"form": form, "tokens": tokens, "created": created},
                      status=422 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the page may show a new token once
    return response


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = api_token_revoke(token_id=token_id, actor=Actor.for_user(cast(User, request.user)))
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked; it answers "
                              "401 from now on.")
    return redirect("account-tokens")
