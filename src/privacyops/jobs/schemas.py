"""The JSON shapes of jobs in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from privacyops.api_auth import NO_NUL, NOT_BLANK, Id
from privacyops.jobs.models import Job

JobTypeName = Literal["EXPORT", "ERASE", "PURGE"]
JobStatusName = Literal["Pending", "Approved", "Processing", "Completed", "Failed", "Rejected"]


class JobCreateIn(Schema):
    tenant_id: Id
    type: JobTypeName = Field(description="EXPORT, ERASE or PURGE.")
    target_type: str = Field(min_length=1, max_length=40, pattern=NO_NUL,
                             description="A scope of the tenant's data map: subject, tenant, …")
    target_id: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    reason: str = Field("", max_length=1000, pattern=NO_NUL)


class JobRejectIn(Schema):
    reason: str = Field(max_length=1000, pattern=NOT_BLANK,
                        description="Why; the requester is emailed this sentence.")


class JobOut(Schema):
    id: int
    tenant_id: int
    tenant_name: str
    type: JobTypeName
    target_type: str
    target_id: str
    status: JobStatusName
    requires_approval: bool
    reason: str
    source: str
    requested_by: str
    approved_by: str | None
    approved_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    rejection_reason: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    not_before: datetime | None
    attempts: int
    progress: dict[str, Any]
    progress_percent: int
    result: dict[str, Any] | None
    error_code: str
    error_message: str
    blocking_hold_id: int | None
    withdrawn_by_subject: bool

    @staticmethod
    def resolve_tenant_name(job: Job) -> str:
        return job.tenant.name

    @staticmethod
    def resolve_type(job: Job) -> str:
        return job.job_type

    @staticmethod
    def resolve_requested_by(job: Job) -> str:
        return job.requested_by_label

    @staticmethod
    def resolve_approved_by(job: Job) -> str | None:
        return job.approved_by.email if job.approved_by_id and job.approved_by else None

    @staticmethod
    def resolve_rejected_by(job: Job) -> str | None:
        return job.rejected_by.email if job.rejected_by_id and job.rejected_by else None


class JobPage(Schema):
    items: list[JobOut]
    count: int = Field(description="How many jobs match the filters, over all pages.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class JobCounts(Schema):
    total: int
    by_status: dict[JobStatusName, int]
    withdrawn: int = Field(description="Rejected jobs the data subject withdrew (counted in Rejected).")
