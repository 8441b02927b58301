"""Reads: each tenant's retention rules with their last run, and the rules a job may target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from privacyops.datamap.schema import EntitySpec
from privacyops.execution.registry import datamap_for
from privacyops.jobs.models import Job, JobSource, JobStatus, JobType
from privacyops.tenancy.models import Tenant

RETENTION_TARGET = "retention"
RUN_EVERY = timedelta(days=1)
ACTION_JOB_TYPES = {"purge": JobType.PURGE, "erase": JobType.ERASE}


@dataclass(frozen=True)
class RuleRow:
    """One retention rule of a tenant as the platform page and the CLI show it."""

    tenant: Tenant
    entity: str
    table: str
    rule: str
    keep: str
    job_type: str
    last_job: Job | None

    @property
    def last_run(self) -> datetime | None:
        return self.last_job.finished_at or self.last_job.created_at if self.last_job else None

    @property
    def rows_removed(self) -> int | None:
        result = (self.last_job.result or {}) if self.last_job else {}
        removed = result.get("rows_removed")
        return int(removed) if isinstance(removed, int) else None

    @property
    def held(self) -> int | None:
        result = (self.last_job.result or {}) if self.last_job else {}
        held = result.get("held")
        return int(held) if isinstance(held, int) else None

    @property
    def next_run(self) -> datetime | None:
        """When the daily pass next creates a job for it (None: at the worker's next pass)."""
        return self.last_job.created_at + RUN_EVERY if self.last_job else None


def rule_entities(tenant: Tenant) -> dict[str, EntitySpec]:
    """The tenant's entities that carry a retention rule (explicit, or from a keep rule)."""
    datamap = datamap_for(tenant)
    if datamap is None:
        return {}
    return {name: datamap.entities[name] for name in datamap.retention_entities()}


def last_retention_job(tenant: Tenant, entity: str) -> Job | None:
    return (Job.objects.filter(tenant=tenant, target_type=RETENTION_TARGET, target_id=entity,
                               source=JobSource.RETENTION)
            .order_by("-created_at", "-id").first())


def in_flight(tenant: Tenant, entity: str) -> bool:
    return Job.objects.filter(
        tenant=tenant, target_type=RETENTION_TARGET, target_id=entity,
        status__in=[JobStatus.PENDING, JobStatus.APPROVED, JobStatus.PROCESSING]).exists()


def retention_rules(tenants: list[Tenant]) -> list[RuleRow]:
    """Every rule of the given tenants (those the viewer may see), tenant by tenant."""
    rows: list[RuleRow] = []
    for tenant in tenants:
        for entity, spec in rule_entities(tenant).items():
            rule = spec.effective_retention
            assert rule is not None  # noqa: S101 - rule_entities returns only these
            described = rule.describe() if spec.retention is not None else (
                f"{rule.describe()} (when the keep period ends)")
            rows.append(RuleRow(
                tenant=tenant, entity=entity, table=spec.table, rule=described,
                keep=spec.keep.describe() if spec.keep else "",
                job_type=ACTION_JOB_TYPES[rule.action], last_job=last_retention_job(tenant, entity),
            ))
    return rows
