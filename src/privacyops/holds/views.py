"""Platform → Privacy → Legal holds: list and filter holds, place one, release one."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Case, Count, QuerySet, Value, When, prefetch_related_objects
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
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
from privacyops.web.lists import (
    Column,
    NumberedPage,
    Sorting,
    csv_response,
    numbered_page,
    require_valid,
)
from privacyops.web.pages import KeysetPage, keyset_page, privacy_page, viewer_of

# Sortable columns, in the order of the table's headers. `state_name` and `blocked` are
# annotations (see `_sortable`): the state's label, and the number of jobs the hold blocked.
SORTING = Sorting((
    Column("hold", "Hold", ("created_at", "pk")),
    Column("scope", "Scope", ("scope_type", "scope_id", "pk")),
    Column("tenant", "Tenant", ("tenant__name", "pk")),
    Column("reason", "Reason", ("reason", "pk")),
    Column("created_by", "Created by", ("created_by__email", "pk")),
    Column("state", "Active", ("state_name", "pk")),
    Column("expires", "Expires at", ("expires_at", "pk")),
    Column("blocked", "Blocked jobs", ("blocked", "pk")),
), default="-hold")

CSV_COLUMNS = ("id", "tenant", "scope_type", "scope_id", "reason", "state", "created_by",
               "created_at", "expires_at", "released_by", "released_at", "release_reason",
               "blocked_jobs")


def _sortable(holds: QuerySet[LegalHold], sort: str) -> QuerySet[LegalHold]:
    """The annotations the chosen order reads, and only those."""
    if SORTING.uses(sort, "state_name"):
        holds = holds.annotate(state_name=Case(
            When(active=False, then=Value("released")),
            When(expires_at__lte=timezone.now(), then=Value("expired")),
            default=Value("active")))
    if SORTING.uses(sort, "blocked"):
        holds = holds.annotate(blocked=Count("blocked_jobs"))
    return holds


def _filtered(request: HttpRequest, form: HoldFilterForm) -> QuerySet[LegalHold]:
    return holds_filtered(
        viewer_of(request), state=form.cleaned_data["state"],
        scope_type=form.cleaned_data["scope_type"].strip(), tenant_id=form.cleaned_data["tenant"],
    )


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
        "list": "people-options", "autocomplete": "off", "aria-describedby": "id_scope_id-hint",
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
    sort = SORTING.chosen(request.GET.get("sort", ""))
    page: KeysetPage[LegalHold] | NumberedPage[LegalHold] = KeysetPage([], None, None)
    total: int | None = None
    if filter_form.is_valid():
        holds = _filtered(request, filter_form)
        total = holds.count()
        holds = _sortable(holds, sort).prefetch_related("blocked_jobs")
        if sort == SORTING.default:
            page = keyset_page(
                holds, after=request.GET.get("after", ""), before=request.GET.get("before", "")
            )
        else:
            page = numbered_page(holds, order=SORTING.order(sort),
                                 number_raw=request.GET.get("page", ""), total=total)
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
        "sort": sort, "columns": SORTING.headers(sort), "total": total,
        "numbered": isinstance(page, NumberedPage),
    }
    return render(request, "holds/list.html", context, status=status)


@privacy_page("hold.view")
@require_GET
def holds_export_csv(request: HttpRequest) -> HttpResponseBase:
    """The holds the filters select, as CSV (cells escaped against formula injection)."""
    tenants = list(tenants_visible_to(viewer_of(request), "hold.view"))
    form = HoldFilterForm(request.GET, tenants=tenants)
    require_valid(form)
    holds = (_filtered(request, form).select_related("tenant", "created_by", "released_by")
             .annotate(blocked=Count("blocked_jobs")).order_by("-created_at", "-pk"))
    return csv_response("legal-holds", CSV_COLUMNS, (
        (h.pk, h.tenant.name, h.scope_type, h.scope_id, h.reason, h.state, h.created_by.email,
         h.created_at.isoformat(), h.expires_at.isoformat() if h.expires_at else "",
         h.released_by.email if h.released_by else "",
         h.released_at.isoformat() if h.released_at else "", h.release_reason,
         h.blocked)  # type: ignore[attr-defined]
        for h in holds.iterator(chunk_size=500)))


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
