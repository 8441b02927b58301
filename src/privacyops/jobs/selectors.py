"""Reading jobs, always scoped to the tenants the viewer may see."""

from __future__ import annotations

import time

from django.db.models import Q, QuerySet, Sum

from privacyops.errors import NotFound, ValidationFailed
from privacyops.jobs import doorbell
from privacyops.jobs.models import Job, JobStatus, JobStatusCount, JobType
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import tenants_visible_to


def jobs_visible_to(viewer: User) -> QuerySet[Job]:
    if viewer.is_authenticated and viewer.is_staff:
        return Job.objects.all()
    return Job.objects.filter(tenant__in=tenants_visible_to(viewer, "job.view"))


WITHDRAWN = "withdrawn"


def jobs_filtered(
    viewer: User, *, search: str = "", status: str = "", job_type: str = "",
    tenant_id: int | None = None, withdrawn: bool | None = None,
) -> QuerySet[Job]:
    """`withdrawn` narrows Rejected jobs to those the data subject withdrew (True) or to the
    refusals (False); the status filter `withdrawn` is the former."""
    jobs = jobs_visible_to(viewer)
    if status == WITHDRAWN:
        status, withdrawn = JobStatus.REJECTED, True
    if withdrawn is not None:
        jobs = jobs.filter(withdrawn_by_subject=withdrawn)
    if status:
        if status not in JobStatus.values:
            raise ValidationFailed(
                f"Unknown status {status!r}; use one of {', '.join(JobStatus.values)}.",
                field="status",
            )
        jobs = jobs.filter(status=status)
    if job_type:
        if job_type.upper() not in JobType.values:
            raise ValidationFailed(
                f"Unknown job type {job_type!r}; use EXPORT, ERASE or PURGE.", field="type"
            )
        jobs = jobs.filter(job_type=job_type.upper())
    if tenant_id is not None:
        jobs = jobs.filter(tenant_id=tenant_id)
    search = search.strip()
    if search:
        match = Q(target_id=search)
        digits = search.lstrip("#")
        if digits.isdigit():
            match |= Q(pk=int(digits))
        # The tenant-name term can't use an index, and OR-ed with the others it makes every
        # search scan the whole jobs table; when no tenant name matches (a target id, a job
        # number) it is false everywhere, so leave it out and let the indexes answer.
        if Tenant.objects.filter(name__icontains=search).exists():
            match = Q(tenant__name__icontains=search) | match
        jobs = jobs.filter(match)
    return jobs.select_related("tenant", "requested_by").order_by("-created_at", "-id")


def job_get(viewer: User, job_id: int) -> Job:
    """A job the viewer may see; another tenant's job is indistinguishable from a missing one."""
    job = (
        jobs_visible_to(viewer)
        .select_related("tenant", "requested_by", "approved_by", "rejected_by", "blocking_hold")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return job


SETTLED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED})
MAX_WAIT_SECONDS = 30.0


def job_get_settled(viewer: User, job_id: int, *, wait: float) -> Job:
    """The job once it is Completed, Failed or Rejected, or as it is after `wait` seconds.

    A long poll: the client learns the outcome when it lands instead of at its next poll. A
    job finished by this process's worker wakes the wait at once; one finished elsewhere is
    seen within 25 ms.
    """
    job = job_get(viewer, job_id)
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
    status = job.status
    while status not in SETTLED_STATUSES and (left := deadline - time.monotonic()) > 0:
        doorbell.wait_settled(min(left, 0.025))
        status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first() or status
    return job if status == job.status else job_get(viewer, job_id)


def job_counts(viewer: User, *, tenant_id: int | None = None) -> dict[str, int]:
    """Total and per-status counts, for the stat cards.

    Read from the trigger-maintained JobStatusCount rows: a handful of rows per tenant, so
    the cards cost the same with a million jobs as with ten.
    """
    rows = JobStatusCount.objects.all()
    if not (viewer.is_authenticated and viewer.is_staff):
        rows = rows.filter(tenant_id__in=tenants_visible_to(viewer, "job.view").values("pk"))
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    counts = dict.fromkeys(JobStatus.values, 0)
    for row in rows.values("status").annotate(n=Sum("n")).order_by():
        counts[row["status"]] = int(row["n"] or 0)
    counts["total"] = sum(counts[s] for s in JobStatus.values)
    withdrawn = jobs_visible_to(viewer).filter(withdrawn_by_subject=True)
    if tenant_id is not None:
        withdrawn = withdrawn.filter(tenant_id=tenant_id)
    # Withdrawals stay Rejected (the six statuses) but are counted apart from refusals.
    counts[WITHDRAWN] = withdrawn.count()
    counts[JobStatus.REJECTED] -= counts[WITHDRAWN]
    return counts
