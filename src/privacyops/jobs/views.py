"""Platform → Privacy: the overview with its stat cards, the jobs list, job detail and actions.

Views are thin: they parse input, call one selector or service and render. A DomainError from
a service is shown in words on the page it came from, with the error's HTTP status; anything
else that escapes is rendered by DomainErrorMiddleware.

`privacy_page` and `keyset_page` are shared by the holds and audit pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, Generic, TypeVar, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from privacyops.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from privacyops.execution.registry import target_types_for
from privacyops.jobs.forms import JobCreateForm, JobFilterForm
from privacyops.jobs.models import Job, JobStatus, JobType
from privacyops.jobs.selectors import job_counts, job_get, jobs_filtered
from privacyops.jobs.services import job_approve, job_create, job_reject, job_retry
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import can, tenants_visible_to

View = Callable[..., HttpResponseBase]
M = TypeVar("M", bound=Model)

PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def viewer_of(request: HttpRequest) -> User:
    return cast(User, request.user)


def privacy_page(action: str) -> Callable[[View], View]:
    """Sign-in required (else the login page); then 403 unless the viewer is platform staff
    or holds `action` in at least one tenant. What each page shows is scoped by its selector."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            viewer = viewer_of(request)
            if not (viewer.is_staff or tenants_visible_to(viewer, action).exists()):
                raise PermissionDenied(
                    "Platform → Privacy is for platform staff and tenant admins; your role "
                    "does not include it. Ask an admin of your workspace for access."
                )
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


# --- keyset paging ----------------------------------------------------------------------------

@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    """One page of rows newest first, with opaque cursors to the pages before and after it."""

    items: list[M]
    next_cursor: str | None
    prev_cursor: str | None


def _cursor(row: Model) -> str:
    created = cast(datetime, row.created_at)  # type: ignore[attr-defined]
    delta = created - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}-{row.pk}"


def _parse_cursor(value: str) -> tuple[datetime, int]:
    try:
        micros, pk = value.split("-", 1)
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        raise ValidationFailed(
            "This page link is damaged; go back to the first page of the list.", field="cursor"
        ) from None


def keyset_page(
    rows: QuerySet[M], *, after: str = "", before: str = "", limit: int = PAGE_SIZE
) -> KeysetPage[M]:
    """Page by (created_at, id): as fast on the millionth row as on the first, with no COUNT."""
    if before:
        created, pk = _parse_cursor(before)
        newer = rows.filter(Q(created_at__gt=created) | Q(created_at=created, pk__gt=pk))
        found = list(newer.order_by("created_at", "pk")[: limit + 1])
        more_newer = len(found) > limit
        items = found[:limit][::-1]
        return KeysetPage(
            items,
            next_cursor=_cursor(items[-1]) if items else None,
            prev_cursor=_cursor(items[0]) if items and more_newer else None,
        )
    if after:
        created, pk = _parse_cursor(after)
        rows = rows.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    found = list(rows.order_by("-created_at", "-pk")[: limit + 1])
    items = found[:limit]
    return KeysetPage(
        items,
        next_cursor=_cursor(items[-1]) if len(found) > limit else None,
        prev_cursor=_cursor(items[0]) if after and items else None,
    )


# --- overview and jobs list -------------------------------------------------------------------

_CARDS = (
    ("Total", "", "total"),
    ("Pending", JobStatus.PENDING, JobStatus.PENDING),
    ("Approved", JobStatus.APPROVED, JobStatus.APPROVED),
    ("Processing", JobStatus.PROCESSING, JobStatus.PROCESSING),
    ("Completed", JobStatus.COMPLETED, JobStatus.COMPLETED),
    ("Failed", JobStatus.FAILED, JobStatus.FAILED),
    ("Rejected", JobStatus.REJECTED, JobStatus.REJECTED),
)


@privacy_page("job.view")
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Stat cards and the jobs tab: search, status and type filters, keyset paging."""
    viewer = viewer_of(request)
    form = JobFilterForm(request.GET)
    status = 200
    page: KeysetPage[Job] = KeysetPage([], None, None)
    if form.is_valid():
        jobs = jobs_filtered(
            viewer, search=form.cleaned_data["q"], status=form.cleaned_data["status"],
            job_type=form.cleaned_data["type"],
        )
        page = keyset_page(
            jobs, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
    else:
        status = 422
    counts = job_counts(viewer)
    cards = [
        {"label": label, "status": value, "count": counts[key],
         "active": form.data.get("status", "") == value}
        for label, value, key in _CARDS
    ]
    filtered = any(form.data.get(name) for name in ("q", "status", "type"))
    return render(
        request, "jobs/overview.html",
        {"form": form, "page": page, "cards": cards, "filtered": filtered, "tab": "jobs"},
        status=status,
    )


@privacy_page("job.view")
@require_GET
def job_row(request: HttpRequest, job_id: int) -> HttpResponse:
    """One row of the jobs list; a Processing row polls this until its status changes."""
    return render(request, "jobs/_job_row.html", {"job": job_get(viewer_of(request), job_id)})


# --- job detail and its actions ---------------------------------------------------------------

def _expiry(value: object) -> datetime | str | None:
    if not value:
        return None
    parsed = parse_datetime(str(value))
    return parsed or str(value)


def _render_detail(
    request: HttpRequest, job: Job, *, status: int = 200, **extra: Any
) -> HttpResponse:
    viewer = viewer_of(request)
    result = job.result if isinstance(job.result, dict) else {}
    may_decide = can(viewer, "job.approve", job.tenant)
    context = {
        "job": job,
        "tab": "jobs",
        "awaiting_decision": job.requires_approval and job.status == JobStatus.PENDING,
        "can_decide": (
            job.requires_approval and job.status == JobStatus.PENDING and may_decide
            and job.requested_by_id != viewer.pk
        ),
        "own_request": job.requested_by_id == viewer.pk,
        "may_decide": may_decide,
        "can_retry": job.status == JobStatus.FAILED and can(viewer, "job.retry", job.tenant),
        "result_json": (
            json.dumps(job.result, indent=2, sort_keys=True, ensure_ascii=False)
            if job.result is not None else ""
        ),
        "download_url": result.get("download_url") if job.job_type == JobType.EXPORT else None,
        "download_expires": _expiry(result.get("expires_at")),
        "special_categories": _special_categories(result.get("special_categories")),
        **extra,
    }
    return render(request, "jobs/detail.html", context, status=status)


def _special_categories(raw: Any) -> list[str]:
    """GDPR Art. 9/10 categories a job's result names (a list, or per table)."""
    if isinstance(raw, dict):
        return sorted({c for cats in raw.values() for c in cats})
    return sorted(raw) if isinstance(raw, list) else []


@privacy_page("job.view")
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    return _render_detail(request, job_get(viewer_of(request), job_id))


@privacy_page("job.view")
@require_GET
def job_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress bar of a Processing job; once it has finished, the whole page reloads."""
    job = job_get(viewer_of(request), job_id)
    if job.status != JobStatus.PROCESSING:
        return HttpResponseClientRefresh()
    return render(request, "jobs/_progress.html", {"job": job})


def _act(
    request: HttpRequest, job_id: int, act: Callable[[Actor], Job], done: Callable[[Job], str],
    **error_context: Any,
) -> HttpResponse:
    viewer = viewer_of(request)
    job = job_get(viewer, job_id)  # another tenant's job is a 404, before any permission check
    try:
        job = act(Actor.for_user(viewer))
    except DomainError as error:
        return _render_detail(
            request, job_get(viewer, job_id), status=error.status, action_error=error,
            **error_context,
        )
    messages.success(request, done(job))
    return redirect("platform:job-detail", job_id=job.pk)


@privacy_page("job.view")
@require_POST
def job_approve_view(request: HttpRequest, job_id: int) -> HttpResponse:
    return _act(
        request, job_id, lambda actor: job_approve(job_id=job_id, actor=actor),
        lambda job: f"Job #{job.pk} approved; it is queued for processing.",
    )


@privacy_page("job.view")
@require_POST
def job_reject_view(request: HttpRequest, job_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request, job_id, lambda actor: job_reject(job_id=job_id, reason=reason, actor=actor),
        lambda job: f"Job #{job.pk} rejected; the requester is notified by email.",
        reject_open=True, reject_reason=reason,
    )


@privacy_page("job.view")
@require_POST
def job_retry_view(request: HttpRequest, job_id: int) -> HttpResponse:
    return _act(
        request, job_id, lambda actor: job_retry(job_id=job_id, actor=actor),
        lambda job: f"Job #{job.pk} sent back to Approved; a worker picks it up shortly.",
    )


# --- new job and its dry-run preview ----------------------------------------------------------

def _pick_tenant(tenants: list[Tenant], raw: str | None) -> Tenant | None:
    by_id = {str(t.pk): t for t in tenants}
    return by_id.get(raw or "") or (tenants[0] if tenants else None)


@privacy_page("job.create.EXPORT")
def job_new(request: HttpRequest) -> HttpResponse:
    """Create a job. Choosing a tenant reloads the target types its data map declares."""
    viewer = viewer_of(request)
    tenants = list(tenants_visible_to(viewer, "job.create.EXPORT"))
    source = request.POST if request.method == "POST" else request.GET
    tenant = _pick_tenant(tenants, source.get("tenant"))
    initial = {
        "tenant": tenant.pk if tenant else None,
        "job_type": request.GET.get("type", JobType.ERASE),
        "target_type": request.GET.get("target_type", ""),
        "target_id": request.GET.get("target_id", ""),
    }
    target_types: tuple[str, ...] = ()
    datamap_error: DomainError | None = None
    if tenant is not None:
        try:
            target_types = target_types_for(tenant)
        except DomainError as error:  # the tenant's data map is missing or invalid
            datamap_error = error
    form = JobCreateForm(
        request.POST if request.method == "POST" else None, initial=initial, tenants=tenants,
        target_types=target_types,
    )
    if datamap_error is not None:
        form.add_error(None, datamap_error.message)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = job_create(
                    tenant_id=data["tenant"], job_type=data["job_type"],
                    target_type=data["target_type"], target_id=data["target_id"],
                    reason=data["reason"], actor=Actor.for_user(viewer),
                )
            except DomainError as error:
                field = error.details.get("field")
                form.add_error(field if field in form.fields else None, error.message)
                status = error.status
            else:
                messages.success(request, f"Job #{job.pk} created ({job.status}).")
                return redirect("platform:job-detail", job_id=job.pk)
    return render(request, "jobs/new.html", {"form": form, "tab": "jobs"}, status=status)


@privacy_page("job.view")
@require_GET
def job_preview(request: HttpRequest) -> HttpResponse:
    """What an ERASE or PURGE would change, table by table, without changing anything."""
    viewer = viewer_of(request)
    params = request.GET
    job_type = (params.get("type") or params.get("job_type") or "").upper()
    target_type = params.get("target_type", "").strip()
    target_id = params.get("target_id", "").strip()
    context: dict[str, Any] = {"job_type": job_type, "target_type": target_type,
                               "target_id": target_id}
    status = 200
    if job_type not in {JobType.ERASE, JobType.PURGE}:
        context["note"] = "An export changes no data, so there is nothing to preview."
    elif not target_type or not target_id:
        context["note"] = "Choose a target type and enter a target id to preview the change."
    else:
        try:
            tenant = _previewable_tenant(viewer, params.get("tenant", ""))
            preview = _dry_run(tenant, job_type, target_type, target_id)
        except DomainError as error:
            context["error"] = error.message
            status = error.status
        else:
            if preview is None:
                context["note"] = ("The dry-run preview is not available in this installation "
                                   "yet; the job itself can still be created.")
            else:
                tables = list(preview.tables)
                context["tables"] = tables
                context["total_rows"] = sum(t.rows for t in tables)
                context["special_categories"] = getattr(preview, "special_categories", [])
                # Why the job would be refused: for the whole job, or per table.
                context["blocked"] = getattr(preview, "blocked", None)
                context["blocked_tables"] = [t for t in tables if getattr(t, "blocked", None)]
    return render(request, "jobs/_preview.html", context, status=status)


def _previewable_tenant(viewer: User, raw: str) -> Tenant:
    tenant = (
        tenants_visible_to(viewer, "job.view").filter(pk=int(raw)).first()
        if raw.isdigit() else None
    )
    if tenant is None:
        raise NotFound("Choose a tenant you can see to preview this job.")
    return tenant


def _dry_run(tenant: Tenant, job_type: str, target_type: str, target_id: str) -> Any:
    try:
        from privacyops.execution.preview import dry_run_preview
    except ImportError:
        return None
    return dry_run_preview(
        tenant=tenant, job_type=job_type, target_type=target_type, target_id=target_id
    )
