"""Platform → Privacy → Legal holds: list and filter holds, place one, release one."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from privacyops.errors import DomainError, NotFound
from privacyops.execution.registry import target_types_for
from privacyops.holds.forms import HoldFilterForm, HoldPlaceForm
from privacyops.holds.models import LegalHold
from privacyops.holds.selectors import (
    NO_DATA_TODAY,
    hold_matches_data,
    holds_filtered,
    holds_visible_to,
)
from privacyops.holds.services import hold_place, hold_release
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import can, require, tenants_visible_to
from privacyops.web.pages import KeysetPage, keyset_page, privacy_page, viewer_of


def _scope_types(tenants: list[Tenant]) -> list[str]:
    known = {"tenant", "subject", "identity"}  # identity: a person by email
    for tenant in tenants:
        try:
            known.update(target_types_for(tenant))
        except DomainError:  # a tenant whose data map is broken still lists its holds
            continue
    return sorted(known)


@privacy_page("hold.view")
def hold_list(request: HttpRequest) -> HttpResponse:
    """The holds tab. Staff also see the form that places a hold (a POST to this page)."""
    viewer = viewer_of(request)
    tenants = list(tenants_visible_to(viewer, "hold.view").prefetch_related("systems"))
    may_place = can(viewer, "hold.place", None)
    place_form = HoldPlaceForm(
        request.POST if request.method == "POST" else None, tenants=tenants
    )
    # Naming a person: typing a name or an email suggests subjects (value: the subject id).
    place_form.fields["scope_id"].widget.attrs.update({
        "list": "people-options", "autocomplete": "off",
        "hx-get": reverse("platform:people-search"), "hx-trigger": "input changed delay:300ms",
        "hx-include": "#id_tenant", "hx-target": "#people-options", "hx-swap": "innerHTML",
    })
    status = 200
    if request.method == "POST":
        require(viewer, "hold.place", None)
        status = 422
        if place_form.is_valid():
            data = place_form.cleaned_data
            try:
                hold = hold_place(
                    tenant_id=data["tenant"], scope_type=data["scope_type"],
                    scope_id=data["scope_id"], reason=data["reason"],
                    expires_at=data["expires_at"], actor=Actor.for_user(viewer),
                )
            except DomainError as error:
                field = error.details.get("field", "").replace(" ", "_")
                place_form.add_error(field if field in place_form.fields else None, error.message)
                status = error.status
            else:
                note = (f" It {NO_DATA_TODAY}: check the id if you meant existing data."
                        if hold_matches_data(hold) is False else "")
                messages.success(request, f"Legal hold #{hold.pk} placed on {hold.scope_type} "
                                          f"{hold.scope_id}; erase and purge jobs it covers now "
                                          f"fail.{note}")
                return redirect("platform:holds")
    elif request.method != "GET":
        return HttpResponse(status=405)

    # Its own id prefix: the place form on the same page has fields of the same names.
    filter_form = HoldFilterForm(request.GET, tenants=tenants, auto_id="filter_%s")
    page: KeysetPage[LegalHold] = KeysetPage([], None, None)
    if filter_form.is_valid():
        holds = holds_filtered(
            viewer, state=filter_form.cleaned_data["state"],
            scope_type=filter_form.cleaned_data["scope_type"].strip(),
            tenant_id=filter_form.cleaned_data["tenant"],
        ).prefetch_related("blocked_jobs")
        page = keyset_page(
            holds, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
        # The holds' tenants' systems in one query, not one per hold.
        prefetch_related_objects([hold.tenant for hold in page.items], "systems")
        for hold in page.items:
            hold.matches_data = hold_matches_data(hold)  # type: ignore[attr-defined]
    elif status == 200:
        status = 422
    context: dict[str, Any] = {
        "tab": "holds", "filter_form": filter_form, "place_form": place_form,
        "may_place": may_place, "page": page, "scope_types": _scope_types(tenants),
        "filtered": any(request.GET.get(n) for n in ("state", "scope_type", "tenant")),
        "place_open": request.method == "POST",
    }
    return render(request, "holds/list.html", context, status=status)


def _visible_hold(request: HttpRequest, hold_id: int) -> LegalHold:
    hold = (
        holds_visible_to(viewer_of(request)).prefetch_related("blocked_jobs")
        .filter(pk=hold_id).first()
    )
    if hold is None:
        raise NotFound(f"Legal hold {hold_id} does not exist.")
    return hold


def _render_detail(request: HttpRequest, hold: LegalHold, *, status: int = 200,
                   **extra: Any) -> HttpResponse:
    hold.matches_data = hold_matches_data(hold)  # type: ignore[attr-defined]
    context = {"tab": "holds", "hold": hold,
               "may_release": hold.active and can(viewer_of(request), "hold.release", hold.tenant),
               **extra}
    return render(request, "holds/detail.html", context, status=status)


@privacy_page("hold.view")
@require_GET
def hold_detail(request: HttpRequest, hold_id: int) -> HttpResponse:
    """One hold, the jobs it blocked and, for staff, its release form."""
    return _render_detail(request, _visible_hold(request, hold_id))


@privacy_page("hold.view")
@require_POST
def hold_release_view(request: HttpRequest, hold_id: int) -> HttpResponse:
    viewer = viewer_of(request)
    hold = _visible_hold(request, hold_id)
    reason = request.POST.get("reason", "")
    try:
        hold = hold_release(hold_id=hold.pk, reason=reason, actor=Actor.for_user(viewer))
    except DomainError as error:
        return _render_detail(request, _visible_hold(request, hold_id), status=error.status,
                              release_error=error.message, release_reason=reason)
    messages.success(request, f"Legal hold #{hold.pk} released. Jobs it blocked can be retried.")
    return redirect("platform:hold-detail", hold_id=hold.pk)
