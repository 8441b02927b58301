"""Platform → Privacy: job detail and its actions (approve, reject, retry), a new job and its
dry-run preview. The list, its exports and bulk actions are in `list_views`.

Views are thin: they parse input, call one selector or service and render. A DomainError from
a service is shown in words on the page it came from, with the error's HTTP status; anything
else that escapes is rendered by DomainErrorMiddleware.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from privacyops.errors import DomainError, NotFound, ValidationFailed
from privacyops.execution.people import person_for_job, step_candidates
from privacyops.execution.rectify import (
    rectifiable_fields_for,
    rectification_shown,
    requested_changes_shown,
)
from privacyops.execution.registry import sql_systems, target_types_for
from privacyops.jobs.forms import JobCreateForm, target_or_email
from privacyops.jobs.list_views import job_row, jobs_bulk, jobs_export_csv, overview, people_search
from privacyops.jobs.models import Job, JobStatus, JobType
from privacyops.jobs.selectors import job_get
from privacyops.jobs.services import (
    PICK_CODES,
    job_approve,
    job_create,
    job_reject,
    job_retry,
    job_step_pick,
)
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import can, tenants_visible_to
from privacyops.web.pages import KeysetPage, keyset_page, privacy_page, viewer_of

# The list views live in list_views; holds and audit import the page machinery from here too.
__all__ = ["KeysetPage", "job_row", "jobs_bulk", "jobs_export_csv", "keyset_page", "overview",
           "people_search", "privacy_page", "viewer_of"]


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
    can_decide = (
        job.requires_approval and job.status == JobStatus.PENDING and may_decide
        and job.requested_by_id != viewer.pk
    )
    steps = _steps_of(job)
    can_pick = can(viewer, "job.retry", job.tenant) and job.status not in (
        JobStatus.COMPLETED, JobStatus.REJECTED)
    for step in steps:  # a step waiting for a pick lists who matched, to those who may pick
        step.candidates = step_candidates(step) if can_pick and _awaits_pick(step) else []
    context = {
        "job": job,
        "person": person_for_job(job) if not job.identity else None,
        "steps": steps,
        "tab": "jobs",
        "awaiting_decision": job.requires_approval and job.status == JobStatus.PENDING,
        "can_decide": can_decide,
        "approval_preview": _approval_preview(job) if can_decide and job.is_destructive else None,
        "own_request": job.requested_by_id == viewer.pk,
        "may_decide": may_decide,
        "can_retry": job.status == JobStatus.FAILED and can(viewer, "job.retry", job.tenant),
        "retry_blocked_by": _active_blocking_hold(job),
        "result_json": (
            json.dumps(_shown_result(job.result), indent=2, sort_keys=True, ensure_ascii=False)
            if job.result is not None else ""
        ),
        # Job viewers see what a RECTIFY asked for and what it changed (sealed elsewhere).
        "requested_changes": requested_changes_shown(job),
        "rectified": rectification_shown(job),
        "download_url": result.get("download_url") if job.job_type == JobType.EXPORT else None,
        "download_expires": _expiry(result.get("expires_at")),
        "special_categories": _special_categories(result.get("special_categories")),
        **extra,
    }
    return render(request, "jobs/detail.html", context, status=status)


def _awaits_pick(step: Any) -> bool:
    from privacyops.execution.models import StepStatus

    return bool(step.status == StepStatus.BLOCKED and step.error_code in PICK_CODES
                and len(step.keys) > 1)


def _shown_result(result: Any) -> Any:
    """The result JSON as the page prints it: sealed values are shown in their own table."""
    if isinstance(result, dict) and "changes_sealed" in result:
        return {**result, "changes_sealed": "(encrypted; old and new values are shown above)"}
    return result


def _special_categories(raw: Any) -> list[str]:
    """GDPR Art. 9/10 categories a job's result names (a list, or per table)."""
    if isinstance(raw, dict):
        return sorted({c for cats in raw.values() for c in cats})
    return sorted(raw) if isinstance(raw, list) else []


def _approval_preview(job: Job) -> Any:
    """What approving this ERASE or PURGE will change, shown beside the confirmation."""
    try:
        return _dry_run(job.tenant, job.job_type, job.target_type, job.target_id) or {
            "error": "The dry run is not available; check the target before approving."}
    except DomainError as error:
        return {"error": error.message}


def _active_blocking_hold(job: Job) -> Any:
    """The hold that failed this job, while it is still in force: a retry can only fail again."""
    hold = job.blocking_hold
    if job.status == JobStatus.FAILED and hold is not None and hold.in_force:
        return hold
    return None


@privacy_page("job.view")
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job page. Its own poll (`?seen=<status>`, while unfinished) gets 204 while nothing a
    reader would notice has changed, and the page again once it has."""
    job = job_get(viewer_of(request), job_id)
    seen = request.GET.get("seen")
    if seen is not None and seen == job.status and job.status != JobStatus.PROCESSING:
        return HttpResponse(status=204)
    return _render_detail(request, job)


@privacy_page("job.view")
@require_GET
def job_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """Polled by a job page while the job is unfinished: the progress bar of a Processing job,
    nothing (204) while the status is still the one the page shows (`seen`), and a reload of
    the whole page once it has changed."""
    job = job_get(viewer_of(request), job_id)
    seen = request.GET.get("seen", JobStatus.PROCESSING)
    if job.status != seen:
        return HttpResponseClientRefresh()
    if job.status != JobStatus.PROCESSING:
        return HttpResponse(status=204)
    return render(request, "jobs/_progress.html", {"job": job, "steps": _steps_of(job)})


def _steps_of(job: Job) -> list[Any]:
    """The job's steps, kept on the job so its progress counts the settled ones."""
    prefetch_related_objects([job], "steps")
    return list(job.steps.all())  # type: ignore[attr-defined]


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
    viewer = viewer_of(request)
    job = job_get(viewer, job_id)
    would_go_ahead = (job.status == JobStatus.PENDING and job.requested_by_id != viewer.pk
                      and can(viewer, "job.approve", job.tenant))
    # Only an approval that would otherwise go ahead needs the confirmation; a refused one
    # gets its own answer (403, 409) from the service.
    if would_go_ahead and job.is_destructive and request.POST.get("confirm") != "yes":
        return _render_detail(request, job, status=422, action_error=ValidationFailed(
            f"Approving this {job.job_type} cannot be undone: tick the confirmation under the "
            "list of changes, then approve again.", field="confirm"))
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


@privacy_page("job.view")
@require_POST
def job_step_pick_view(request: HttpRequest, job_id: int, system: str) -> HttpResponse:
    """The subject chosen for one system's step (several matched the identity); the job is
    retried at once when no other step still waits for a pick."""
    target_id = request.POST.get("target_id", "")

    def done(job: Job) -> str:
        if job.status == JobStatus.APPROVED:
            return (f"Subject {target_id} picked on system {system}; job #{job.pk} is sent "
                    "back to Approved and a worker picks it up shortly.")
        return f"Subject {target_id} picked on system {system}."

    return _act(
        request, job_id,
        lambda actor: job_step_pick(job_id=job_id, system=system, target_id=target_id,
                                    actor=actor, resume=True),
        done,
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
    rectifiable: list[str] = []
    system_names: list[str] = []
    if tenant is not None and datamap_error is None:
        try:
            rectifiable = rectifiable_fields_for(tenant)
        except DomainError:
            rectifiable = []
        system_names = [system.name for system in sql_systems(tenant)]
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                email = data.get("email") or ""
                job = job_create(
                    tenant_id=data["tenant"], job_type=data["job_type"],
                    target_type=data["target_type"],
                    target_id="" if email else data["target_id"],
                    reason=data["reason"], actor=Actor.for_user(viewer),
                    params=form.job_params(), identity={"email": email} if email else None,
                )
            except DomainError as error:
                field = error.details.get("field")
                form.add_error(field if field in form.fields else None, error.message)
                status = error.status
            else:
                messages.success(request, f"Job #{job.pk} created ({job.status}).")
                return redirect("platform:job-detail", job_id=job.pk)
    return render(request, "jobs/new.html",
                  {"form": form, "tab": "jobs", "rectifiable_fields": rectifiable,
                   "sql_systems": system_names}, status=status)


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
    target_id, email = target_or_email(target_type, target_id, params.get("email", "").strip())
    if job_type == JobType.ERASE and email and not target_id:
        from privacyops.execution.preview import dry_run_identity

        try:
            tenant = _previewable_tenant(viewer, params.get("tenant", ""))
            context["systems"] = dry_run_identity(tenant=tenant, identity={"email": email})
            context["email"] = email
        except DomainError as error:
            context["error"] = error.message
            status = error.status
        return render(request, "jobs/_preview.html", context, status=status)
    if job_type == JobType.RECTIFY:
        context["note"] = ("A rectification changes only the fields you list, on the subject's "
                           "row; the job page shows the old and new values once it ran.")
    elif job_type == JobType.RESTRICT:
        context["note"] = ("A restriction sets (or lifts) one marker column on the subject's "
                           "row; no data is erased.")
    elif job_type not in {JobType.ERASE, JobType.PURGE}:
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
