"""The JSON shapes of jobs in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ValidationInfo, field_validator

from privacyops.api_auth import NO_NUL, NOT_BLANK, Id
from privacyops.jobs.models import Job

JobTypeName = Literal["EXPORT", "ERASE", "PURGE", "RECTIFY", "RESTRICT"]
ChangeValue = str | int | float | bool | None
JobStatusName = Literal["Pending", "Approved", "Processing", "Completed", "Failed", "Rejected"]


class JobCreateIn(Schema):
    tenant_id: Id
    type: JobTypeName = Field(description="EXPORT, ERASE, PURGE, RECTIFY (GDPR Art. 16) or "
                              "RESTRICT (Art. 18).")
    target_type: str = Field(min_length=1, max_length=40, pattern=NO_NUL,
                             description="A scope of the tenant's data map: subject, tenant, …")
    identity: dict[str, str] | None = Field(
        None, description='A subject by identity instead of target_id, e.g. {"email": '
        '"ada@example.com"}: each system of the tenant resolves it to its own rows.')
    target_id: str = Field("", max_length=200, pattern=NO_NUL, validate_default=True,
                           description="The target's primary key; or give `identity` instead.")
    systems: list[str] | None = Field(
        None, max_length=50, description="Only these systems (names); default: all of them.")
    picks: dict[str, str] | None = Field(
        None, description="For an identity several subjects of a system match: "
        "{system name: the primary key to act on}.")
    reason: str = Field("", max_length=1000, pattern=NO_NUL)
    changes: dict[str, ChangeValue] | None = Field(
        None, description="RECTIFY only: the subject's fields (names of the data map) and their "
        "corrected values; dates and times as ISO 8601 text, null only where the column allows "
        "it. Kept only encrypted; lists and the audit log show the field names.")
    lift: bool | None = Field(
        None, description="RESTRICT only: true lifts the restriction (the marker is cleared).")
    system: str | None = Field(
        None, min_length=1, max_length=100, pattern=NO_NUL,
        description="RECTIFY and RESTRICT only: the SQL system whose row to change, by name "
        "(default: the tenant's first SQL system); 422 names the systems there are.")

    def job_params(self) -> dict[str, Any]:
        """The `params` of job_create: only what the request gave."""
        params: dict[str, Any] = {}
        if self.changes is not None:
            params["changes"] = self.changes
        if self.lift is not None:
            params["lift"] = self.lift
        if self.system is not None:
            params["system"] = self.system
        return params

    @field_validator("target_id")
    @classmethod
    def _one_target(cls, value: str, info: ValidationInfo) -> str:
        identity = info.data.get("identity")
        if identity is None and not value.strip():
            raise ValueError("give target_id, or identity (e.g. {\"email\": …})")
        if identity is not None and value.strip():
            raise ValueError("give target_id or identity, not both")
        return value


class StepPickIn(Schema):
    target_id: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK,
                           description="One of the primary keys the step's identity matched.")


class StepOut(Schema):
    system: str
    connector: str
    status: str
    rows: int
    error_code: str
    error_message: str
    verified: bool
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    matches: int = Field(description="How many subjects the identity matched in this system.")

    @staticmethod
    def resolve_system(step: Any) -> str:
        return str(step.system_name)

    @staticmethod
    def resolve_matches(step: Any) -> int:
        return len(step.keys or [])


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
    params: dict[str, Any] = Field(description="RECTIFY: the field names it changes; "
                                   "RESTRICT: whether it lifts the restriction.")
    result: dict[str, Any] | None
    error_code: str
    error_message: str
    blocking_hold_id: int | None
    withdrawn_by_subject: bool
    identity: dict[str, str]
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(job: Job) -> list[Any]:
        # Steps exist for a subject named by identity and a tenant PURGE over several systems;
        # a job on one system by primary key has none, and the API need not ask.
        if not job.identity and job.target_type != "tenant":
            return []
        return list(job.steps.all())  # type: ignore[attr-defined]

    @staticmethod
    def resolve_tenant_name(job: Job) -> str:
        return job.tenant.name

    @staticmethod
    def resolve_type(job: Job) -> str:
        return job.job_type

    @staticmethod
    def resolve_params(job: Job) -> dict[str, Any]:
        from privacyops.execution.rectify import job_params_public

        return job_params_public(job)

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
