"""Steps of a multi-system job: one per system, and how a job ends when all of them have.

A job with a ``waiting`` step (a manual system, whose owner acts by hand) stays Processing
without a worker lease: no worker holds it and the reconciler does not ring for it (a NULL
lease expiry is never "expired"). Whoever settles the last step (``step_settle``) completes
or fails the job, in the same transaction as the step.
"""

from __future__ import annotations

from typing import Any

import django.dispatch
from django.db import transaction
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.audit.services import audit_record
from privacyops.errors import Conflict, NotFound, ValidationFailed
from privacyops.execution.models import STEP_FINAL, JobStep, StepStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor

# Sent (after commit) when a step starts waiting for a manual system's owner: ``step``.
step_waiting = django.dispatch.Signal()

SETTLE_STATUSES = frozenset({StepStatus.COMPLETED, StepStatus.NO_DATA, StepStatus.FAILED})


def steps_result(job: Job, steps: list[JobStep]) -> dict[str, Any]:
    """The job's result over all its steps: per system, plus the totals the pages show."""
    systems: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    applied: list[str] = []
    for step in steps:
        part = dict(step.result or {})
        systems[step.system_name] = {"status": step.status, "rows": step.rows,
                                     "connector": step.connector, "verified": step.verified,
                                     **part}
        for table, change in (part.get("tables") or {}).items():
            tables[f"{step.system_name}.{table}"] = change
        if part.get("applied_at"):
            applied.append(str(part["applied_at"]))
    result: dict[str, Any] = {
        "datastore": ", ".join(s.system_name for s in steps if s.status == StepStatus.COMPLETED),
        "systems": systems,
        "rows": sum(step.rows for step in steps),
        "tables": tables,
    }
    if job.is_destructive:
        result["rows_changed"] = result["rows"]
        result["applied_at"] = min(applied) if applied else timezone.now().isoformat()
        result["datamap_sha256"] = None
    result.update(job.progress.get("export") or {})  # a parked export's download link
    for step in steps:  # an export's download link, at the top level as before
        for key in ("download_url", "expires_at", "file_name", "sha256", "size"):
            if key in (step.result or {}) and key not in result:
                result[key] = (step.result or {})[key]
    return result


def job_finish_if_settled(job: Job, *, actor: Actor) -> bool:
    """Inside a transaction with the job row locked: when every step is final, complete the
    job (all done) or fail it (a step failed or is blocked). True when the job ended."""
    steps = list(JobStep.objects.filter(job=job).order_by("system_name"))
    if not steps or any(step.status not in STEP_FINAL for step in steps):
        return False
    from privacyops.jobs.models import TRANSITIONS
    from privacyops.jobs.services import job_finish

    bad = [step for step in steps if step.status in (StepStatus.FAILED, StepStatus.BLOCKED)]
    to = JobStatus.FAILED if bad else JobStatus.COMPLETED
    if to not in TRANSITIONS[job.status]:
        return False
    if bad:
        job_finish(job, status=to, actor=actor, result=steps_result(job, steps),
                   code=bad[0].error_code or "step_failed",
                   message=" ".join(f"System {step.system_name}: "
                                    f"{step.error_message or step.status}." for step in bad))
        return True

    def recorded(job: Job, event: AuditEvent) -> None:
        if job.is_destructive and any(s.status == StepStatus.COMPLETED for s in steps):
            from privacyops.execution.ledger import erasure_recorded

            erasure_recorded(job, event)

    job_finish(job, status=to, actor=actor, result=steps_result(job, steps),
               on_completed=recorded)
    return True


@transaction.atomic(durable=True)
def step_settle(*, step_id: int, status: str, rows: int = 0,
                result: dict[str, Any] | None = None, actor: Actor) -> JobStep:
    """Record the outcome of a waiting step (a manual system's owner has acted).

    ``status`` is ``completed``, ``no_data`` or ``failed``. When every step of the job is then
    final and no worker holds the job, the job completes (or fails) here.
    """
    if status not in SETTLE_STATUSES:
        raise ValidationFailed(
            f"A step is settled as completed, no_data or failed, not {status!r}.",
            field="status")
    step = JobStep.objects.select_related("job").filter(pk=step_id).first()
    if step is None:
        raise NotFound(f"Step {step_id} does not exist.")
    job = Job.objects.select_for_update().select_related("tenant").get(pk=step.job_id)
    step = JobStep.objects.select_for_update().get(pk=step_id)
    if step.status != StepStatus.WAITING:
        raise Conflict(
            f"The step of job #{job.pk} on system {step.system_name} is {step.status}, not "
            "waiting; only a waiting step can be settled.", code="step_not_waiting")
    step.status = status
    step.rows = max(0, int(rows))
    step.result = {**(step.result or {}), **(result or {})}
    step.finished_at = timezone.now()
    step.verified = status == StepStatus.COMPLETED
    if status == StepStatus.FAILED:
        step.error_code = step.error_code or "manual_failed"
        step.error_message = str((result or {}).get("message") or
                                 f"The owner of system {step.system_name} reported a failure.")
    step.save()
    audit_record(actor=actor, action="job.step_settled", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk,
                 metadata={"system": step.system_name, "status": status, "rows": step.rows})
    # A worker still running the job's other steps ends it itself (it holds the lease).
    if job.status == JobStatus.PROCESSING and not job.lease_owner:
        job_finish_if_settled(job, actor=actor)
    return step
