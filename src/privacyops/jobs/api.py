"""Jobs in the JSON API: create, list, read, approve, reject, retry, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from privacyops.api_auth import MAX_ID, NO_NUL, caller, error_responses, tenant_in_reach
from privacyops.jobs.models import Job, JobSource, JobStatus
from privacyops.jobs.schemas import (
    JobCounts,
    JobCreateIn,
    JobOut,
    JobPage,
    JobRejectIn,
    JobStatusName,
    JobTypeName,
    StepPickIn,
)
from privacyops.jobs.selectors import (
    MAX_WAIT_SECONDS,
    WITHDRAWN,
    job_counts,
    job_get,
    job_get_settled,
    jobs_filtered,
)
from privacyops.jobs.services import job_approve, job_create, job_reject, job_retry

router = Router(tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's id.")]


# A cursor is `<created_at in microseconds since the epoch>-<id>` of the last job of a page;
# every string of that shape is a position in the list, so the schema describes all of them.
CURSOR_PATTERN = r"^(\d{1,20}-\d{1,19})?$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor_for(job: Job) -> str:
    micros = (job.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{job.pk}"


def _after_cursor(jobs: QuerySet[Job], cursor: str) -> QuerySet[Job]:
    """Jobs after the cursor in the list's order (newest first, then highest id)."""
    micros, _, pk = cursor.partition("-")
    try:
        created_at = _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        created_at = datetime.max.replace(tzinfo=UTC)
    job_id = min(int(pk), MAX_ID)
    return jobs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=job_id))


def _page(jobs: QuerySet[Job], *, limit: int, cursor: str, offset: int) -> dict[str, object]:
    count = jobs.count()
    if cursor:
        jobs = _after_cursor(jobs, cursor)
    rows = list(jobs[offset : offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "count": count,
            "next_cursor": _cursor_for(rows[-1]) if more and rows else None}


@router.post("/jobs", response={201: JobOut, **error_responses(403, 404, 409, 503)},
             summary="Create a job")
def create_job(request: HttpRequest, payload: JobCreateIn) -> Status[Job]:
    """Starts Pending when the tenant's policy requires approval for the type, else Approved."""
    who = caller(request)
    tenant_in_reach(who.user, payload.tenant_id)
    job = job_create(
        tenant_id=payload.tenant_id, job_type=payload.type, target_type=payload.target_type,
        target_id=payload.target_id, reason=payload.reason, actor=who.actor,
        source=JobSource.API, identity=payload.identity, systems=payload.systems,
        picks=payload.picks,
    )
    return Status(201, job)


@router.get("/jobs", response={200: JobPage, **error_responses()}, summary="List jobs")
def list_jobs(
    request: HttpRequest,
    status: JobStatusName | None = None,
    job_type: Annotated[JobTypeName | None, Query(alias="type")] = None,
    search: Annotated[str, Query(
        max_length=200, pattern=NO_NUL,
        description="Tenant name (part of), job id (#12 or 12) or exact target id.")] = "",
    tenant_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str, Query(max_length=40, pattern=CURSOR_PATTERN,
                                 description="next_cursor of the previous page.")] = "",
    offset: Annotated[int, Query(
        ge=0, le=1_000_000,
        description="Jobs to skip (after the cursor, when both are given).")] = 0,
) -> dict[str, object]:
    """Newest first, only in tenants the caller may see. Page with `cursor` (or `offset`)."""
    jobs = jobs_filtered(caller(request).user, search=search, status=status or "",
                         job_type=job_type or "", tenant_id=tenant_id)
    # JobOut names the approver and the rejecter: fetch them with the page, not per row.
    jobs = jobs.select_related("approved_by", "rejected_by").prefetch_related("steps")
    return _page(jobs, limit=limit, cursor=cursor, offset=offset)


@router.get("/jobs/counts", response={200: JobCounts, **error_responses()},
            summary="Count jobs by status")
def count_jobs(
    request: HttpRequest, tenant_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> dict[str, object]:
    counts = job_counts(caller(request).user, tenant_id=tenant_id)
    total, withdrawn = counts.pop("total"), counts.pop(WITHDRAWN)
    counts[JobStatus.REJECTED] += withdrawn  # by_status counts statuses, withdrawals included
    return {"total": total, "by_status": counts, "withdrawn": withdrawn}


@router.get("/jobs/{job_id}", response={200: JobOut, **error_responses(404)}, summary="Get a job")
def get_job(
    request: HttpRequest, job_id: JobId,
    wait: Annotated[float, Query(
        ge=0, le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the job to be Completed, Failed or Rejected before "
        "answering (a long poll; 0, the default, answers at once).",
    )] = 0,
) -> Job:
    if wait:
        return job_get_settled(caller(request).user, job_id, wait=wait)
    return job_get(caller(request).user, job_id)


@router.get("/jobs/{job_id}/receipt",
            response={200: dict[str, Any], **error_responses(404)},
            summary="Get the signed erasure receipt of a completed ERASE or PURGE job")
def get_job_receipt(request: HttpRequest, job_id: JobId) -> dict[str, Any]:
    """The receipt JSON, signed with the installation's Ed25519 key (see
    `/.well-known/privacyops/receipt-key`); 404 for a job the caller may not see or one
    without a receipt."""
    from privacyops.execution.receipts import receipt_for_job

    return receipt_for_job(job_get(caller(request).user, job_id))


@router.post("/jobs/{job_id}/approve", response={200: JobOut, **error_responses(403, 404, 409)},
             summary="Approve a pending job")
def approve_job(request: HttpRequest, job_id: JobId) -> Job:
    who = caller(request)
    job_get(who.user, job_id)  # another tenant's job answers 404, not 403
    return job_approve(job_id=job_id, actor=who.actor)


@router.post("/jobs/{job_id}/reject", response={200: JobOut, **error_responses(403, 404, 409)},
             summary="Reject a pending job")
def reject_job(request: HttpRequest, payload: JobRejectIn, job_id: JobId) -> Job:
    who = caller(request)
    job_get(who.user, job_id)
    return job_reject(job_id=job_id, reason=payload.reason, actor=who.actor)


@router.post("/jobs/{job_id}/retry", response={200: JobOut, **error_responses(403, 404, 409)},
             summary="Retry a failed job")
def retry_job(request: HttpRequest, job_id: JobId) -> Job:
    who = caller(request)
    job_get(who.user, job_id)
    return job_retry(job_id=job_id, actor=who.actor)



@router.post("/jobs/{job_id}/steps/{system}/pick",
             response={200: JobOut, **error_responses(403, 404, 409)},
             summary="Pick the subject a step acts on when several match its identity")
def pick_step(request: HttpRequest, payload: StepPickIn, job_id: JobId,
              system: Annotated[str, Path(max_length=100, pattern=NO_NUL)]) -> Job:
    """For an identity job whose identity matches several subjects in one system: the primary
    key to act on there. Then retry the job (a Failed job) or approve it (a Pending one)."""
    from privacyops.jobs.services import job_step_pick

    who = caller(request)
    job_get(who.user, job_id)
    return job_step_pick(job_id=job_id, system=system, target_id=payload.target_id,
                         actor=who.actor)
