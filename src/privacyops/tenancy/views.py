"""Platform → Tenants: tenants, their members and systems, each system's health.

Staff see every tenant and the forms; a tenant admin sees their own tenant, read-only.
Each POST calls one service; a DomainError is shown on the page with its status.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from privacyops.errors import DomainError, PermissionDenied
from privacyops.execution.selectors import system_health
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.forms import (
    MemberAddForm,
    MemberRoleForm,
    StaffCreateForm,
    SystemAddForm,
    TenantCreateForm,
    TenantEditForm,
)
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import can, tenants_visible_to
from privacyops.tenancy.selectors import (
    members_of,
    staff_accounts,
    system_visible,
    systems_drifted,
    systems_of,
    tenant_visible,
)
from privacyops.tenancy.services import (
    member_add,
    member_remove,
    member_role_set,
    staff_create,
    staff_deactivate,
    system_add,
    system_remove,
    tenant_activate,
    tenant_create,
    tenant_deactivate,
    tenant_update,
)

View = Callable[..., HttpResponseBase]


def _viewer(request: HttpRequest) -> User:
    return cast(User, request.user)


def tenants_page(view: View) -> View:
    """Sign-in required; then platform staff, or an admin of at least one tenant."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        viewer = _viewer(request)
        if not (viewer.is_staff or tenants_visible_to(viewer, "system.view").exists()):
            raise PermissionDenied("Platform → Tenants is for platform staff and tenant admins; "
                                   "ask an admin of your workspace for access.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


@tenants_page
def tenant_list(request: HttpRequest) -> HttpResponse:
    """Every tenant the viewer may see; staff also create tenants here (a POST)."""
    viewer = _viewer(request)
    may_manage = can(viewer, "tenant.manage", None)
    form = TenantCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                tenant = tenant_create(slug=form.cleaned_data["slug"],
                                       name=form.cleaned_data["name"],
                                       actor=Actor.for_user(viewer))
            except DomainError as error:
                form.add_error(error.details.get("field") if error.details.get("field")
                               in form.fields else None, error.message)
                status = error.status
            else:
                messages.success(request, f"Tenant {tenant.slug} created. Add its systems and "
                                          "members below.")
                return redirect("tenants:detail", tenant_id=tenant.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    tenants = list(tenants_visible_to(viewer, "system.view")
                   .annotate(member_count=Count("memberships", distinct=True),
                             system_count=Count("systems", distinct=True))
                   .order_by("name"))
    drifted: dict[int, int] = {}
    for tenant_id in systems_drifted(viewer).values_list("tenant_id", flat=True):
        drifted[tenant_id] = drifted.get(tenant_id, 0) + 1
    for tenant in tenants:
        tenant.drifted_systems = drifted.get(tenant.pk, 0)  # type: ignore[attr-defined]
    return render(request, "tenancy/list.html",
                  {"tenants": tenants, "form": form, "may_manage": may_manage,
                   "create_open": request.method == "POST",
                   "staff_accounts": staff_accounts() if may_manage else [],
                   "staff_form": StaffCreateForm()}, status=status)


def _staff_only(request: HttpRequest) -> User:
    viewer = _viewer(request)
    if not can(viewer, "tenant.manage", None):
        raise PermissionDenied("Only platform staff manage platform staff accounts.")
    return viewer


@tenants_page
@require_POST
def staff_create_view(request: HttpRequest) -> HttpResponse:
    """A new platform staff account; its generated first password is shown once."""
    viewer = _staff_only(request)
    form = StaffCreateForm(request.POST)
    if form.is_valid():
        try:
            created = staff_create(email=form.cleaned_data["email"],
                                   full_name=form.cleaned_data["full_name"],
                                   actor=Actor.for_user(viewer))
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Platform staff account {created.user.email} created. "
                                      f"Its first password, shown only now: "
                                      f"{created.initial_password}")
    else:
        messages.error(request, "Give the new staff member's email.")
    return redirect("tenants:list")


@tenants_page
@require_POST
def staff_deactivate_view(request: HttpRequest, user_id: int) -> HttpResponse:
    viewer = _staff_only(request)
    try:
        user = staff_deactivate(user_id=user_id, actor=Actor.for_user(viewer))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{user.email} can no longer sign in.")
    return redirect("tenants:list")


def _render_detail(request: HttpRequest, tenant_id: int, *, status: int = 200,
                   error: str = "", **forms: Any) -> HttpResponse:
    viewer = _viewer(request)
    tenant = tenant_visible(viewer, tenant_id)
    context = {
        "tenant": tenant,
        "members": members_of(viewer, tenant.pk),
        "systems": systems_of(viewer, tenant.pk),
        "may_manage": can(viewer, "tenant.manage", None),
        "error": error,
        "edit_form": forms.get("edit_form") or TenantEditForm(initial={
            "name": tenant.name, "approval_required_types": tenant.approval_required_types,
            "super_admins_can_approve": tenant.super_admins_can_approve,
            "audit_retention_days": tenant.audit_retention_days,
            "privacy_contact_email": tenant.privacy_contact_email,
            "reply_to_email": tenant.reply_to_email,
            "default_language": tenant.default_language}),
        "member_form": forms.get("member_form") or MemberAddForm(),
        "system_form": forms.get("system_form") or SystemAddForm(),
        "role_form": MemberRoleForm(),
    }
    return render(request, "tenancy/detail.html", context, status=status)


@tenants_page
@require_GET
def tenant_detail(request: HttpRequest, tenant_id: int) -> HttpResponse:
    return _render_detail(request, tenant_id)


def _act(request: HttpRequest, tenant_id: int, call: Callable[[Actor], Any], done: str,
         **forms: Any) -> HttpResponse:
    """Run one service for the tenant's page; back to the page, with its error if refused."""
    viewer = _viewer(request)
    tenant_visible(viewer, tenant_id)  # another tenant looks missing
    try:
        call(Actor.for_user(viewer))
    except DomainError as error:
        return _render_detail(request, tenant_id, status=error.status, error=error.message,
                              **forms)
    messages.success(request, done)
    return redirect("tenants:detail", tenant_id=tenant_id)


def _invalid(request: HttpRequest, tenant_id: int, **forms: Any) -> HttpResponse:
    return _render_detail(request, tenant_id, status=422,
                          error="Some fields need attention; see below.", **forms)


@tenants_page
@require_POST
def tenant_edit(request: HttpRequest, tenant_id: int) -> HttpResponse:
    form = TenantEditForm(request.POST)
    if not form.is_valid():
        return _invalid(request, tenant_id, edit_form=form)
    data = form.cleaned_data
    return _act(request, tenant_id, lambda actor: tenant_update(
        tenant_id=tenant_id, name=data["name"],
        approval_required_types=data["approval_required_types"],
        super_admins_can_approve=data["super_admins_can_approve"],
        audit_retention_days=data["audit_retention_days"],
        privacy_contact_email=data["privacy_contact_email"],
        reply_to_email=data["reply_to_email"], default_language=data["default_language"],
        actor=actor),
        "Tenant updated.", edit_form=form)


@tenants_page
@require_POST
def tenant_active(request: HttpRequest, tenant_id: int, active: bool) -> HttpResponse:
    service = tenant_activate if active else tenant_deactivate
    done = ("Tenant reactivated; it takes new jobs again." if active else
            "Tenant deactivated: it takes no new jobs; its history stays.")
    return _act(request, tenant_id, lambda actor: service(tenant_id=tenant_id, actor=actor), done)


@tenants_page
@require_POST
def member_add_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _invalid(request, tenant_id, member_form=form)
    data = form.cleaned_data
    added: list[str | None] = []

    def call(actor: Actor) -> None:
        result = member_add(tenant_id=tenant_id, email=data["email"], role=data["role"],
                            full_name=data["full_name"], actor=actor)
        added.append(result.initial_password)

    response = _act(request, tenant_id, call, "Member added.", member_form=form)
    if added and added[0]:
        messages.info(request, "A new account was created. Its first password, shown only now: "
                               f"{added[0]}")
    return response


@tenants_page
@require_POST
def member_role_view(request: HttpRequest, tenant_id: int, user_id: int) -> HttpResponse:
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _invalid(request, tenant_id)
    return _act(request, tenant_id, lambda actor: member_role_set(
        tenant_id=tenant_id, user_id=user_id, role=form.cleaned_data["role"], actor=actor),
        "Role changed.")


@tenants_page
@require_POST
def member_remove_view(request: HttpRequest, tenant_id: int, user_id: int) -> HttpResponse:
    return _act(request, tenant_id, lambda actor: member_remove(
        tenant_id=tenant_id, user_id=user_id, actor=actor),
        "Member removed; the account itself remains.")


@tenants_page
@require_POST
def system_add_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    form = SystemAddForm(request.POST)
    if not form.is_valid():
        return _invalid(request, tenant_id, system_form=form)
    data = form.cleaned_data
    return _act(request, tenant_id, lambda actor: system_add(
        tenant_id=tenant_id, name=data["name"], connector_type=data["connector_type"],
        datamap_name=data["datamap_name"].strip(), datastore_key=data["datastore_key"],
        actor=actor), "System added; its health is checked below.", system_form=form)


@tenants_page
@require_POST
def system_remove_view(request: HttpRequest, tenant_id: int, system_id: int) -> HttpResponse:
    return _act(request, tenant_id, lambda actor: system_remove(
        tenant_id=tenant_id, system_id=system_id, actor=actor),
        "System removed; its datastore and data-map file are untouched.")


@tenants_page
@require_GET
def system_health_view(request: HttpRequest, tenant_id: int, system_id: int) -> HttpResponse:
    """The checks of `privacyops system test`, loaded into the tenant's page by htmx."""
    system = system_visible(_viewer(request), tenant_id, system_id)
    return render(request, "tenancy/_system_health.html",
                  {"system": system, "health": system_health(system)})


