"""Platform → Privacy: the overview (stat cards, trends) and the jobs list with its filters,
sortable columns, paging, CSV export, bulk approve / reject, and the person finder of forms."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from privacyops.errors import DomainError, ValidationFailed
from privacyops.execution.people import Person, people_for_jobs, people_matching, person_for_job
from privacyops.intake.trends import request_trends
from privacyops.jobs.forms import JobFilterForm
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.selectors import WITHDRAWN, job_counts, job_get, jobs_filtered
from privacyops.jobs.services import job_approve, job_reject
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import can, tenants_visible_to
from privacyops.tenancy.selectors import systems_drifted
from privacyops.web.csv import neutralise
from privacyops.web.pages import PAGE_SIZE, KeysetPage, keyset_page, privacy_page, viewer_of

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


# Sortable columns of the jobs list: the URL's `sort` (prefix "-" for descending) → fields.
SORTS = {
    "created": ("created_at", "pk"), "updated": ("updated_at", "pk"), "status": ("status", "pk"),
    "type": ("job_type", "pk"), "tenant": ("tenant__name", "pk"), "target": ("target_id", "pk"),
    "requested": ("requested_by_label", "pk"), "approval": ("requires_approval", "pk"),
}
DEFAULT_SORT = "-created"


@dataclass(frozen=True)
class NumberedPage:
    """One page of a list in a chosen order: page X of Y, with the total."""

    items: list[Job]
    number: int
    pages: int
    total: int

    @property
    def prev_number(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def _sort_of(raw: str) -> str:
    return raw if raw.lstrip("-") in SORTS else DEFAULT_SORT


def _numbered_page(jobs: QuerySet[Job], *, sort: str, number_raw: str) -> NumberedPage:
    fields = SORTS[sort.lstrip("-")]
    order = [f"-{f}" for f in fields] if sort.startswith("-") else list(fields)
    total = jobs.count()
    pages = max(1, -(-total // PAGE_SIZE))
    number = int(number_raw) if number_raw.isdigit() and len(number_raw) < 7 else 1
    number = min(max(number, 1), pages)
    start = (number - 1) * PAGE_SIZE
    return NumberedPage(list(jobs.order_by(*order)[start:start + PAGE_SIZE]), number, pages, total)


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
    sort = _sort_of(request.GET.get("sort", ""))
    page: KeysetPage[Job] | NumberedPage = KeysetPage([], None, None)
    jobs: QuerySet[Job] | None = None
    if form.is_valid():
        chosen = form.cleaned_data["status"]
        jobs = jobs_filtered(
            viewer, search=form.cleaned_data["q"], status=chosen,
            job_type=form.cleaned_data["type"],
            # The Rejected card counts refusals; withdrawals have their own card.
            withdrawn=False if chosen == JobStatus.REJECTED else None,
        )
        if sort == DEFAULT_SORT:
            page = keyset_page(
                jobs, after=request.GET.get("after", ""), before=request.GET.get("before", "")
            )
        else:
            page = _numbered_page(jobs, sort=sort, number_raw=request.GET.get("page", ""))
    else:
        status = 422
    people = people_for_jobs(page.items)
    for job in page.items:
        job.person = people.get(job.pk)  # type: ignore[attr-defined]
    counts = job_counts(viewer)
    cards = [
        {"label": label, "status": value, "count": counts[key],
         "active": form.data.get("status", "") == value}
        for label, value, key in _CARDS
    ]
    filtered = any(form.data.get(name) for name in ("q", "status", "type"))
    total = page.total if isinstance(page, NumberedPage) else _listed_total(viewer, counts, form, jobs)
    columns = [
        {"key": key, "label": label,
         "aria": ("descending" if sort == f"-{key}" else "ascending" if sort == key else None),
         "next": (key if sort == f"-{key}" else f"-{key}")}
        for key, label in (("created", "Created"), ("target", "Target"), ("tenant", "Tenant"),
                           ("requested", "Requested by"), ("status", "Status"),
                           ("approval", "Approval"), ("updated", "Updated"), ("type", "Job"))
    ]
    return render(
        request, "jobs/overview.html",
        {"form": form, "page": page, "cards": cards, "filtered": filtered, "tab": "jobs",
         "trends": None if filtered else request_trends(viewer), "sort": sort,
         "columns": {c["key"]: c for c in columns},
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
    """Suggestions for a form that names a person: subjects of the chosen tenant whose name,
    email or id contains what was typed (the option's value is the subject id)."""
    viewer = viewer_of(request)
    typed = (request.GET.get("q") or request.GET.get("target_id") or request.GET.get("scope_id")
             or "").strip()[:100]
    people: list[Person] = []
    raw = request.GET.get("tenant", "")
    tenant = (tenants_visible_to(viewer, "job.view").filter(pk=int(raw)).first()
              if raw.isdigit() and len(raw) < 19 else None)
    if tenant is not None and len(typed) >= 2:
        people = people_matching(tenant, typed)
    return render(request, "jobs/_people_options.html", {"people": people})


# --- CSV export of the filtered list -------------------------------------------------------------

CSV_COLUMNS = ("id", "type", "target_type", "target_id", "tenant", "requested_by", "status",
               "withdrawn_by_subject", "requires_approval", "created_at", "updated_at")


class _Echo:
    def write(self, value: str) -> str:
        return value


@privacy_page("job.view")
@require_GET
def jobs_export_csv(request: HttpRequest) -> HttpResponseBase:
    """The jobs the toolbar's filters select, as CSV (cells escaped against formula injection)."""
    viewer = viewer_of(request)
    form = JobFilterForm(request.GET)
    if not form.is_valid():
        raise ValidationFailed("Fix the filters first: " + "; ".join(
            f"{form.fields[name].label}: {' '.join(str(e) for e in errors)}"
            for name, errors in form.errors.items()))
    chosen = form.cleaned_data["status"]
    jobs = jobs_filtered(viewer, search=form.cleaned_data["q"], status=chosen,
                         job_type=form.cleaned_data["type"],
                         withdrawn=False if chosen == JobStatus.REJECTED else None)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for job in jobs.iterator(chunk_size=500):
            yield writer.writerow([neutralise(v) for v in (
                job.pk, job.job_type, job.target_type, job.target_id, job.tenant.name,
                job.requested_by_label, job.status, job.withdrawn_by_subject,
                job.requires_approval, job.created_at.isoformat(), job.updated_at.isoformat())])

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"jobs-{stamp}.csv") or ""
    response["Cache-Control"] = "no-store"
    return response


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
