"""Admin → GDPR: the people list, Export JSON and Erase. Thin: parse, call, render."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from privacyops.errors import DomainError
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import can
from privacyops.workspace.forms import EraseForm
from privacyops.workspace.selectors import SUBJECT_SORTING, gdpr_tenant_for, subjects_page
from privacyops.workspace.services import gdpr_erase, gdpr_export


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _htmx_target(request: HttpRequest) -> str | None:
    """The element an htmx request swaps (None: not an htmx request)."""
    if request.headers.get("HX-Request") != "true":
        return None
    return request.headers.get("HX-Target", "")


@login_required
def gdpr_screen(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = gdpr_tenant_for(viewer=_user(request), slug=slug)
    sort = SUBJECT_SORTING.chosen(request.GET.get("sort", ""))
    page = subjects_page(tenant=tenant, search=request.GET.get("q", ""),
                         after=request.GET.get("after", ""), sort=sort,
                         page=request.GET.get("page", ""))
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    if page.number is not None:
        page_number = page.number
    next_query = (
        urlencode({k: v for k, v in {"q": page.search, "after": page.next_after,
                                     "page": page_number + 1}.items() if v})
        if page.next_after else ""
    )
    context = {
        "tenant": tenant, "page": page, "page_number": page_number, "next_query": next_query,
        "first_query": urlencode({"q": page.search}) if page.search else "",
        "can_erase": can(_user(request), "gdpr.erase", tenant),
        "sort": sort, "columns": SUBJECT_SORTING.headers(sort),
    }
    template = "workspace/_subjects.html" if _htmx_target(request) == "subjects" \
        else "workspace/gdpr.html"
    return render(request, template, context)


@login_required
@require_POST
def gdpr_export_view(request: HttpRequest, slug: str, subject_id: str) -> FileResponse:
    user = _user(request)
    tenant = gdpr_tenant_for(viewer=user, slug=slug)
    export = gdpr_export(tenant=tenant, subject_id=subject_id, actor=Actor.for_user(user))
    response = FileResponse(export.content, as_attachment=True, filename=export.file_name,
                            content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def gdpr_erase_view(request: HttpRequest, slug: str, subject_id: str) -> HttpResponse:
    user = _user(request)
    tenant = gdpr_tenant_for(viewer=user, slug=slug)
    form = EraseForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    back = reverse("workspace:gdpr", kwargs={"slug": tenant.slug})
    try:
        erasure = gdpr_erase(
            tenant=tenant, subject_id=subject_id,
            confirmation_email=data.get("confirmation_email", ""),
            reason=data.get("reason", ""), actor=Actor.for_user(user),
        )
    except DomainError as error:
        if _htmx_target(request) is not None:
            return render(request, "workspace/_erase_error.html", {"error": error},
                          status=error.status)
        messages.error(request, error.message)
        return HttpResponseRedirect(back, status=303)
    email = erasure.subject.email if erasure.subject else ""
    messages.success(
        request,
        f"Data subject {subject_id} was erased (job #{erasure.job.pk}); the email now reads "
        f"{email}.",
    )
    target = f"{back}?{urlencode({'q': email})}" if email else back
    if _htmx_target(request) is not None:
        response = HttpResponse(status=200)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target, status=303)
