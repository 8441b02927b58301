"""Retention schedules: create the daily jobs, preview them, run them on the worker.

A retention rule runs as an ordinary job (PURGE or ERASE, target type ``retention``, target id
the entity's name, source ``retention``), so approval, leases, retries, the job page and the
audit trail are the same as for every other job. The rule itself is the decision to delete:
its jobs need no approval.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from privacyops.connectors import ConnectorError, PurgeProgress, Target
from privacyops.connectors.sql_retention import RetentionResult
from privacyops.errors import ValidationFailed
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.execution.registry import datastore_for, tenant_key_for
from privacyops.holds.models import LegalHold
from privacyops.holds.services import tenant_hold_lock, wait_for_hold_intent
from privacyops.jobs.models import Job, JobSource
from privacyops.jobs.services import job_create, job_heartbeat, job_lease_held
from privacyops.retention.selectors import (
    ACTION_JOB_TYPES,
    RETENTION_TARGET,
    RUN_EVERY,
    in_flight,
    last_retention_job,
    rule_entities,
)
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant

logger = logging.getLogger(__name__)
# Several workers each run the daily pass; a rule run this recently is not run again.
DAILY_SLACK = timedelta(hours=2)


def retention_target_check(tenant: Tenant, job_type: str, target_id: str) -> None:
    """A ``retention`` job must name an entity with a rule whose action matches the job type."""
    specs = rule_entities(tenant)
    if target_id not in specs:
        names = ", ".join(specs) or "none"
        raise ValidationFailed(
            f"Tenant {tenant.slug} has no retention rule on {target_id!r}; rules exist on: "
            f"{names}. Add `retention:` (or `keep:`) to the entity in the data map.",
            field="target_id")
    rule = specs[target_id].effective_retention
    assert rule is not None  # noqa: S101 - rule_entities returns only these
    if ACTION_JOB_TYPES[rule.action] != job_type:
        raise ValidationFailed(
            f"The retention rule on {target_id!r} is `{rule.action}`, so its job is a "
            f"{ACTION_JOB_TYPES[rule.action]}, not {job_type}.", field="job_type")


def retention_schedule(*, tenant: Tenant, actor: Actor, daily: bool = False,
                       enqueue: bool = True) -> list[Job]:
    """Create a job for each rule of the tenant that has none waiting or running.

    ``daily`` (the worker's pass) also skips rules whose last job is less than a day old;
    ``enqueue=False`` leaves running them to the caller (the CLI runs them at once).
    """
    created: list[Job] = []
    for entity, spec in rule_entities(tenant).items():
        rule = spec.effective_retention
        assert rule is not None  # noqa: S101
        if in_flight(tenant, entity):
            continue
        last = last_retention_job(tenant, entity)
        if daily and last is not None and last.created_at > timezone.now() - RUN_EVERY + DAILY_SLACK:
            continue
        created.append(job_create(
            tenant_id=tenant.pk, job_type=ACTION_JOB_TYPES[rule.action],
            target_type=RETENTION_TARGET, target_id=entity, actor=actor,
            reason=f"Retention rule: {rule.describe()}", source=JobSource.RETENTION,
            check_permission=False, approval_required=False, enqueue=enqueue,
        ))
    return created


def retention_schedule_due(*, actor: Actor) -> list[str]:
    """The worker's daily pass over every tenant with a data map; sentences without personal data."""
    sentences: list[str] = []
    for tenant in Tenant.objects.filter(systems__isnull=False).distinct().order_by("pk"):
        try:
            jobs = retention_schedule(tenant=tenant, actor=actor, daily=True)
        except Exception:
            logger.exception("retention schedule of tenant #%s failed", tenant.pk)
            continue
        if jobs:
            sentences.append(f"tenant #{tenant.pk}: {len(jobs)} retention job(s) created "
                             f"({', '.join('#' + str(j.pk) for j in jobs)})")
    return sentences


def held_targets(tenant: Tenant) -> list[Target]:
    """What the legal holds in force on the tenant cover, as datastore targets."""
    key = tenant_key_for(tenant)
    targets = []
    for scope_type, scope_id in LegalHold.objects.in_force().filter(tenant=tenant).values_list(
            "scope_type", "scope_id"):
        if scope_type == "tenant":
            targets.append(Target(scope="tenant", id=key or str(scope_id), tenant_key=key))
        else:
            targets.append(Target(scope=scope_type, id=str(scope_id), tenant_key=key))
    return targets


def retention_preview(*, tenant: Tenant) -> list[RetentionResult]:
    """What the next run of each rule would remove now (a dry run: nothing is written)."""
    datastore = datastore_for(tenant)
    results = []
    for entity in rule_entities(tenant):
        try:
            results.append(datastore.retention(
                entity, tenant_key=tenant_key_for(tenant), now=timezone.now(),
                held_now=lambda: held_targets(tenant), dry_run=True))
        except ConnectorError as error:
            raise ValidationFailed(f"The retention rule on {entity!r} cannot run: {error}") \
                from None
    return results


@contextmanager
def _chunk_guard(job: Job, worker: str) -> Iterator[None]:
    """The per-tenant hold lock across one chunk; the lease is re-checked under it."""
    wait_for_hold_intent(job.tenant_id)
    with transaction.atomic():
        tenant_hold_lock(job.tenant_id)
        if not job_lease_held(job_id=job.pk, worker_id=worker):
            raise LeaseLost(job.pk)
        yield


def run_retention(job: Job, worker: str) -> dict[str, Any]:
    """Execute a retention job: the rule as of its first attempt, chunk by chunk."""
    tenant = job.tenant
    datastore = datastore_for(tenant)
    try:
        retention_target_check(tenant, job.job_type, job.target_id)
    except ValidationFailed as error:
        raise JobBlocked(error.message, code="retention_rule") from None
    # A retried job keeps the moment of its first attempt, so it selects the same rows.
    as_of_text = job.progress.get("as_of")
    as_of = datetime.fromisoformat(as_of_text) if as_of_text else timezone.now()
    earlier = int(job.progress.get("done", 0)) if job.attempts > 1 else 0
    base = {"as_of": as_of.isoformat()}
    job_heartbeat(job_id=job.pk, worker_id=worker, progress={**base, "done": earlier,
                                                             "total": earlier})

    def on_progress(progress: PurgeProgress) -> None:
        state = {**base, "done": earlier + progress.total_deleted,
                 "total": earlier + progress.total_deleted, "table": progress.table}
        if not job_heartbeat(job_id=job.pk, worker_id=worker, progress=state):
            raise LeaseLost(job.pk)

    try:
        result = datastore.retention(
            job.target_id, tenant_key=tenant_key_for(tenant), now=as_of,
            held_now=lambda: held_targets(tenant), chunk_size=settings.PURGE_CHUNK_ROWS,
            chunk_guard=lambda: _chunk_guard(job, worker), on_progress=on_progress)
    except ConnectorError as error:
        raise JobBlocked(f"The retention rule on {job.target_id!r} cannot run: {error}",
                         code="retention_rule") from None
    return {
        "datastore": datastore.datamap.name,
        **result.as_dict(),
        "rows_removed": earlier + result.rows_removed,
        "rows_removed_by_earlier_attempts": earlier,
        "special_categories": datastore.datamap.special_categories_in_tables(
            dict.fromkeys(t for t, n in {**result.deleted, **result.erased}.items() if n)),
    }
