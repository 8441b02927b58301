"""Sign-in (throttled), sign-out and the landing redirect."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from privacyops.errors import DomainError
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.identity import login_identity
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import has_any_admin_role, tenants_visible_to
from privacyops.tenancy.ratelimit import signin_slot_take, signin_succeeded
from privacyops.tenancy.services import (
    login_failure_record,
    login_failure_windows_close_due,
    login_record,
    user_time_zone_set,
)
from privacyops.web.client_ip import client_ip
from privacyops.web.timezones import time_zone_names

REFUSALS = {
    "account": "Too many failed sign-ins for this account from your address. "
               "Wait 15 minutes, then try again.",
    "address": "Too many failed sign-ins from your address. Wait 15 minutes, then try again.",
}


def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
        next_url = ""
    form = AuthenticationForm(request, data=request.POST or None)
    status = 200
    refusal = ""
    if request.method == "POST":
        identity = login_identity(request.POST.get("username", ""))
        ip = client_ip(request)
        ticket = signin_slot_take(identity=identity, ip=ip)
        login_failure_windows_close_due()  # windows that are over become audit events first
        if ticket.refused:
            # An unbound form: validating the bound one would check the password after all.
            form = AuthenticationForm(request, initial={"username": request.POST.get("username")})
            refusal = REFUSALS[ticket.refused]
            login_failure_record(identity=identity, ip=ip, refused=True)
            status = 429
        elif form.is_valid():
            user = form.get_user()
            auth.login(request, user)
            signin_succeeded(ticket)
            login_record(user=cast(User, user))
            return HttpResponseRedirect(next_url or settings.LOGIN_REDIRECT_URL)
        else:
            login_failure_record(identity=identity, ip=ip)
            status = 401
    return render(request, "web/login.html", {"form": form, "next": next_url, "refusal": refusal},
                  status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return redirect("login")


def home(request: HttpRequest) -> HttpResponse:
    """Each role lands where it can work: staff and tenant admins on Platform → Privacy, GDPR
    screen users on their workspace, a plain member on a page that says what is here for them."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return redirect("login")
    if user.is_staff or has_any_admin_role(user):
        return redirect("platform:overview")
    gdpr = tenants_visible_to(user, "gdpr.view").order_by("name").first()
    if gdpr is not None:
        return redirect("workspace:gdpr", slug=gdpr.slug)
    memberships = list(Tenant.objects.filter(memberships__user=user).order_by("name"))
    return render(request, "web/member_home.html", {"tenants": memberships})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own settings: the time zone their pages show times in."""
    user = cast(User, request.user)
    status, error = 200, None
    if request.method == "POST":
        try:
            user_time_zone_set(user=user, time_zone=request.POST.get("time_zone", ""),
                               actor=Actor.for_user(user))
        except DomainError as failure:
            status, error = failure.status, failure
        else:
            messages.success(request, f"Times are now shown in {user.time_zone}.")
            return redirect("account")
    return render(request, "web/account.html",
                  {"zones": time_zone_names(), "error": error}, status=status)
