"""Platform → Privacy: the overview (stat cards, trends) and the jobs list with its filters,
sortable columns, paging, CSV export, bulk approve / reject, and the person finder of forms."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from privacyops.errors import DomainError
from privacyops.execution.people import Person, jobs_with_people, people_matching, person_for_job
from privacyops.intake.trends import request_trends
from privacyops.jobs.forms import JobFilterForm
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.selectors import WITHDRAWN, job_counts, job_get, jobs_filtered
from privacyops.jobs.services import job_approve, job_reject
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import can, tenants_visible_to
from privacyops.tenancy.selectors import systems_drifted
from privacyops.web.lists import (
    Column,
    NumberedPage,
    Sorting,
    csv_response,
    numbered_page,
    require_valid,
)
from privacyops.web.pages import KeysetPage, keyset_page, privacy_page, viewer_of

# --- overview and jobs list -------------------------------------------------------------------

_CARDS = (
    ("Total", "", "total"),
    ("Pending", JobStatus.PENDING, JobStatus.PENDING),
    ("Approved", JobStatus.APPROVED, JobStatus.APPROVED),
    ("Processing", JobStatus.PROCESSING, JobStatus.PROCESSING),
    ("Completed", JobStatus.COMPLETED, JobStatus.COMPLETED),
    ("Failed", JobStatus.FAILED, JobStatus.FAILED),
    ("Rejected", JobStatus.REJECTED, JobStatus.REJECTED),
    ("Withdrawn", WITHDRAWN, WITHDRAWN),
)


# Sortable columns of the jobs list, in the order of the table's headers.
SORTING = Sorting((
    Column("type", "Job", ("job_type", "pk")), Column("target", "Target", ("target_id", "pk")),
    Column("tenant", "Tenant", ("tenant__name", "pk")),
    Column("requested", "Requested by", ("requested_by_label", "pk")),
    Column("status", "Status", ("status", "pk")),
    Column("approval", "Approval", ("requires_approval", "pk")),
    Column("created", "Created", ("created_at", "pk")),
    Column("updated", "Updated", ("updated_at", "pk")),
), default="-created")


def _listed_total(viewer: User, counts: dict[str, int], form: JobFilterForm,
                  jobs: QuerySet[Job] | None) -> int | None:
    """How many jobs the filters select: from the stat counts when only a status is chosen
    (free at any size), else counted."""
    if jobs is None:
        return None
    data = form.cleaned_data
    if not data["q"] and not data["type"]:
        return counts[data["status"] or "total"] if (data["status"] or "total") in counts else None
    return jobs.count()


@privacy_page("job.view")
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Stat cards, trends and the jobs tab: search, status and type filters, sortable columns
    (newest first by default, paged by cursor; any other order is paged by number)."""
    viewer = viewer_of(request)
    form = JobFilterForm(request.GET)
    status = 200
    sort = SORTING.chosen(request.GET.get("sort", ""))
    page: KeysetPage[Job] | NumberedPage[Job] = KeysetPage([], None, None)
    jobs: QuerySet[Job] | None = None
    if form.is_valid():
        chosen = form.cleaned_data["status"]
        jobs = jobs_filtered(
            viewer, search=form.cleaned_data["q"], status=chosen,
            job_type=form.cleaned_data["type"],
            # The Rejected card counts refusals; withdrawals have their own card.
            withdrawn=False if chosen == JobStatus.REJECTED else None,
        )
        if sort == SORTING.default:
            page = keyset_page(
                jobs, after=request.GET.get("after", ""), before=request.GET.get("before", "")
            )
        else:
            page = numbered_page(jobs, order=SORTING.order(sort),
                                 number_raw=request.GET.get("page", ""))
    else:
        status = 422
    jobs_with_people(page.items)
    counts = job_counts(viewer)
    cards = [
        {"label": label, "status": value, "count": counts[key],
         "active": form.data.get("status", "") == value}
        for label, value, key in _CARDS
    ]
    filtered = any(form.data.get(name) for name in ("q", "status", "type"))
    total = page.total if isinstance(page, NumberedPage) else _listed_total(viewer, counts, form, jobs)
    return render(
        request, "jobs/overview.html",
        {"form": form, "page": page, "cards": cards, "filtered": filtered, "tab": "jobs",
         "trends": None if filtered else request_trends(viewer), "sort": sort,
         "columns": SORTING.headers(sort),
         "total": total, "numbered": isinstance(page, NumberedPage),
         "drifted_systems": systems_drifted(viewer).count(),
         "may_bulk": any(j.status == JobStatus.PENDING for j in page.items)
         and (viewer.is_staff or tenants_visible_to(viewer, "job.approve").exists())},
        status=status,
    )


@privacy_page("job.view")
@require_GET
def job_row(request: HttpRequest, job_id: int) -> HttpResponse:
    """One row of the jobs list; a Processing row polls this until its status changes."""
    viewer = viewer_of(request)
    job = job_get(viewer, job_id)
    job.person = person_for_job(job)  # type: ignore[attr-defined]
    may_bulk = viewer.is_staff or can(viewer, "job.approve", job.tenant)
    return render(request, "jobs/_job_row.html", {"job": job, "may_bulk": may_bulk})




# --- finding a person by name or email ----------------------------------------------------------

@privacy_page("job.view")
@require_GET
def people_search(request: HttpRequest) -> HttpResponse:
    """Suggestions for a form that names a person: people of the chosen tenant, in any of its
    SQL systems, whose name, email or id contains what was typed. The option's value is the
    subject id in the job system; on the new-job form (which takes an email as well), the email
    of someone only other systems hold."""
    viewer = viewer_of(request)
    typed = (request.GET.get("q") or request.GET.get("target_id") or request.GET.get("scope_id")
             or request.GET.get("subject_id") or "").strip()[:100]
    people: list[Person] = []
    raw = request.GET.get("tenant", "")
    tenant = (tenants_visible_to(viewer, "job.view").filter(pk=int(raw)).first()
              if raw.isdigit() and len(raw) < 19 else None)
    if tenant is not None and len(typed) >= 2:
        people = people_matching(tenant, typed)
    return render(request, "jobs/_people_options.html",
                  {"people": people, "by_email": "target_id" in request.GET})


# --- CSV export of the filtered list -------------------------------------------------------------

CSV_COLUMNS = ("id", "type", "target_type", "target_id", "tenant", "requested_by", "status",
               "withdrawn_by_subject", "requires_approval", "created_at", "updated_at")


@privacy_page("job.view")
@require_GET
def jobs_export_csv(request: HttpRequest) -> HttpResponseBase:
    """The jobs the toolbar's filters select, as CSV (cells escaped against formula injection)."""
    viewer = viewer_of(request)
    form = JobFilterForm(request.GET)
    require_valid(form)
    chosen = form.cleaned_data["status"]
    jobs = jobs_filtered(viewer, search=form.cleaned_data["q"], status=chosen,
                         job_type=form.cleaned_data["type"],
                         withdrawn=False if chosen == JobStatus.REJECTED else None)
    return csv_response("jobs", CSV_COLUMNS, (
        (job.pk, job.job_type, job.target_type, job.target_id, job.tenant.name,
         job.requested_by_label, job.status, job.withdrawn_by_subject, job.requires_approval,
         job.created_at.isoformat(), job.updated_at.isoformat())
        for job in jobs.iterator(chunk_size=500)))


# --- bulk approve / reject of selected Pending jobs -------------------------------------------

BULK_LIMIT = 100


@privacy_page("job.view")
@require_POST
def jobs_bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject the ticked jobs, each through the same service as one at a time (so
    the four-eyes rule and the permission checks hold); a destructive approval needs the same
    confirmation as on the job page, and a rejection its reason."""
    viewer = viewer_of(request)
    action = request.POST.get("action", "")
    raw_ids = request.POST.getlist("job")[:BULK_LIMIT + 1]
    ids = [int(v) for v in raw_ids if v.isdigit() and len(v) < 19]
    back = request.POST.get("back", "")
    target = back if back.startswith("/platform/privacy/") and "\n" not in back else "/platform/privacy/"
    if action not in {"approve", "reject"} or not ids or len(raw_ids) > BULK_LIMIT:
        messages.error(request, f"Tick between 1 and {BULK_LIMIT} jobs, then choose Approve or Reject.")
        return redirect(target)
    jobs = [job_get(viewer, job_id) for job_id in ids]
    reason = request.POST.get("reason", "").strip()
    if action == "approve" and any(j.is_destructive for j in jobs) and request.POST.get("confirm") != "yes":
        messages.error(request, "The selection holds ERASE or PURGE jobs, which cannot be undone: "
                                "tick the confirmation, then approve again.")
        return redirect(target)
    if action == "reject" and not reason:
        messages.error(request, "Give a reason for the rejection; it is emailed to each requester.")
        return redirect(target)
    done: list[int] = []
    refused: list[str] = []
    actor = Actor.for_user(viewer)
    for job in jobs:
        try:
            if action == "approve":
                job_approve(job_id=job.pk, actor=actor)
            else:
                job_reject(job_id=job.pk, reason=reason, actor=actor)
            done.append(job.pk)
        except DomainError as error:
            refused.append(f"#{job.pk}: {error.message}")
    verb = "approved" if action == "approve" else "rejected"
    if done:
        messages.success(request, f"{len(done)} job{'s' if len(done) != 1 else ''} {verb}: "
                                  + ", ".join(f"#{pk}" for pk in done) + ".")
    if refused:
        messages.error(request, f"{len(refused)} not {verb}. " + " ".join(refused))
    return redirect(target)
