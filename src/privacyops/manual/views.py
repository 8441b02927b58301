"""The owner's page (public, reached by the emailed link) and the operator's resend action.

The owner's page needs no account: the signed link is the credential. Uploads stream through
a size-limit handler installed before anything reads the body, so the page is CSRF-exempt on
the outside and CSRF-protected inside (Django's documented pattern for upload handlers).
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from privacyops.errors import DomainError, RateLimited
from privacyops.manual.forms import EraseForm, ExportForm
from privacyops.manual.models import ManualTask, TaskKind
from privacyops.manual.services import (
    Confirmation,
    confirm_slot_take,
    manual_confirm,
    manual_resend,
    task_for_token,
)
from privacyops.manual.uploads import SizeLimitHandler
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.web.client_ip import client_ip
from privacyops.web.pages import privacy_page, viewer_of

LINK_PROBLEMS = {"link_invalid", "link_used", "link_expired", "link_replaced", "link_closed"}


def _no_store(response: HttpResponse) -> HttpResponse:
    # The page is about a person's request. (The site's Referrer-Policy, same-origin, keeps
    # the token in the URL from leaving the site; no-referrer would make browsers send
    # `Origin: null` with the form, which CSRF protection rightly refuses.)
    response["Cache-Control"] = "no-store"
    return response


def _problem(request: HttpRequest, problem: DomainError) -> HttpResponse:
    return _no_store(render(request, "manual/link_problem.html", {"problem": problem},
                            status=problem.status))


def _form_class(task: ManualTask) -> type[EraseForm] | type[ExportForm]:
    return ExportForm if task.kind == TaskKind.EXPORT else EraseForm


def _page(request: HttpRequest, task: ManualTask, form: Any, *, status: int = 200,
          error: DomainError | None = None) -> HttpResponse:
    return _no_store(render(request, "manual/owner.html", {
        "task": task, "tenant": task.job.tenant, "form": form, "error": error,
        "max_mb": settings.MANUAL_UPLOAD_MAX_MB,
    }, status=status))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def owner_page(request: HttpRequest, token: str) -> HttpResponse:
    limit = settings.MANUAL_UPLOAD_MAX_MB * 1024 * 1024
    handler = SizeLimitHandler(limit, request)
    if request.method == "POST":
        request.upload_handlers = [handler, *request.upload_handlers]
    return _owner_page(request, token, handler)


@csrf_protect
def _owner_page(request: HttpRequest, token: str, handler: SizeLimitHandler) -> HttpResponse:
    try:
        if request.method == "POST":
            confirm_slot_take(client_address=client_ip(request))
        task = task_for_token(token)
    except RateLimited as refused:
        return _problem(request, refused)
    except DomainError as problem:
        if problem.code in LINK_PROBLEMS:
            return _problem(request, problem)
        raise
    form_class = _form_class(task)
    if request.method != "POST":
        user = cast(User, request.user)
        initial = {"confirmed_by": user.email if user.is_authenticated else task.owner_email}
        return _page(request, task, form_class(initial=initial))
    form = form_class(request.POST, request.FILES)
    if handler.exceeded:
        form.is_valid()
        form.add_error("upload" if task.kind == TaskKind.EXPORT else None,
                       f"The file is larger than {settings.MANUAL_UPLOAD_MAX_MB} MB; split it "
                       "or ask the privacy team for another way to send it.")
        return _page(request, task, form, status=413)
    if not form.is_valid():
        return _page(request, task, form, status=422)
    data = form.cleaned_data
    upload = data.get("upload")
    answer = Confirmation(confirmed_by=data["confirmed_by"], rows=data.get("rows"),
                          note=data.get("note", ""), upload=upload,
                          upload_name=getattr(upload, "name", "") or "")
    user = cast(User, request.user)
    try:
        done = manual_confirm(token=token, answer=answer,
                              user=user if user.is_authenticated else None)
    except DomainError as problem:
        if problem.code in LINK_PROBLEMS:
            return _problem(request, problem)
        form.add_error(problem.details.get("field"), problem.message)
        return _page(request, task, form, status=problem.status)
    return _no_store(render(request, "manual/done.html",
                            {"task": done, "tenant": done.job.tenant}))


@privacy_page("job.view")
@require_POST
def resend_view(request: HttpRequest, task_id: int) -> HttpResponse:
    task = manual_resend(task_id=task_id, actor=Actor.for_user(viewer_of(request)))
    messages.success(request, f"The email to the owner of {task.system_name} was sent again "
                              "with a new link; the earlier link no longer works.")
    return redirect("platform:job-detail", job_id=task.job_id)
