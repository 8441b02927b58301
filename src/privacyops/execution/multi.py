"""Multi-system jobs: a subject named by identity (an email…), one step per system.

1. Resolve: each automated system resolves the identity to its own primary keys (stored on
   the step, so a retry acts on the same rows even once the email is erased). No key: the step
   is ``no_data``. Several keys: an ERASE, PURGE or EXPORT waits for an operator's pick.
2. Check (ERASE, PURGE): legal holds and preconditions of EVERY system first; if one system is
   blocked, nothing is written anywhere.
3. Run: the steps run concurrently (``JOB_STEP_THREADS``), each system in its own transaction;
   each ERASE is verified after its commit (``verify_erased``). A failed system leaves the
   others' completed steps; a retry runs only the steps not yet done.
4. Manual systems: their step waits for the owner (``steps.step_waiting``); the job then stays
   Processing without a lease until ``steps.step_settle`` settles the last step.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from privacyops.audit.services import audit_record
from privacyops.connectors import ConnectorError, PreconditionsFailed, Target, TargetNotFound
from privacyops.connectors.base import SystemConnector
from privacyops.datamap import DataMapError
from privacyops.errors import DomainError
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.execution.guards import hold_guard, refuse_if_held
from privacyops.execution.models import Artifact, JobStep, StepStatus
from privacyops.execution.packaging import Package, sha256_file, write_export_json
from privacyops.execution.registry import DatastoreUnavailable, connector_of_system
from privacyops.execution.steps import job_finish_if_settled, step_waiting, steps_result
from privacyops.execution.vacuum import vacuum_soon
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ConnectorType, System
from privacyops.web.ratelimit import keyed_hash

logger = logging.getLogger(__name__)

AUTOMATED = frozenset({ConnectorType.SQL, ConnectorType.HTTP})


def identity_digest(identity: dict[str, str]) -> str:
    """What an identity job's export package is filed under: no email in the artifact index
    (a keyed hash, so a list of addresses cannot be matched against it)."""
    return keyed_hash("job-identity", json.dumps(identity, sort_keys=True))[:32]


def identity_label(identity: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in identity.items())


# --- creation ------------------------------------------------------------------------------

def steps_create(job: Job, *, systems: list[str] | None, picks: dict[str, str] | None) -> None:
    """One step per system of the job's tenant (or per system named), inside job_create."""
    from privacyops.errors import ValidationFailed

    own = list(System.objects.filter(tenant=job.tenant).order_by("pk"))
    by_name = {system.name: system for system in own}
    if systems:
        unknown = [name for name in systems if name not in by_name]
        if unknown:
            raise ValidationFailed(
                f"Tenant {job.tenant.slug} has no system named {', '.join(unknown)}; its "
                f"systems are {', '.join(by_name) or 'none'}.", field="systems")
        own = [by_name[name] for name in dict.fromkeys(systems)]
    if not own:
        raise ValidationFailed(
            f"Tenant {job.tenant.slug} has no system to run this job on; add one first.",
            field="systems")
    picks = picks or {}
    unknown = [name for name in picks if name not in {s.name for s in own}]
    if unknown:
        raise ValidationFailed(
            f"A pick names {', '.join(unknown)}, which is not a system of this job.",
            field="picks")
    JobStep.objects.bulk_create([
        JobStep(job=job, system=system, system_name=system.name,
                connector=system.connector_type, picked_key=str(picks.get(system.name, "")))
        for system in own
    ])


# --- running -------------------------------------------------------------------------------

@dataclass
class Work:
    """A step about to run, with its connector and target (built in the main thread)."""

    step: JobStep
    connector: SystemConnector
    target: Target


def _save(step: JobStep, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(step, name, value)
    JobStep.objects.filter(pk=step.pk).update(**changes, updated_at=timezone.now())


def _fail_step(step: JobStep, code: str, message: str, *,
               status: str = StepStatus.FAILED) -> None:
    _save(step, status=status, error_code=code, error_message=message,
          finished_at=timezone.now())


def _http_said(step: JobStep, error: Exception) -> str:
    """What an HTTP service answered, for the step's message ("" for other systems). The HTTP
    connector's sentences name the method, the path template and the status, never a value
    of the request, so they hold no personal data. An HTTP erase has no transaction: what it
    erased before the failure stays erased, and the retry erases the rest."""
    if step.connector != ConnectorType.HTTP or not isinstance(error, ConnectorError):
        return ""
    return (f"System {step.system_name} did not answer: {error}. The job retries it (an HTTP "
            "service has no transaction: records an erase already changed stay changed).")


def _ambiguous(step: JobStep) -> str:
    return (f"{len(step.keys)} subjects match this identity in system {step.system_name}; "
            "pick one on the job page (its Systems table lists them), or with POST "
            f"/api/v1/jobs/{step.job_id}/steps/{step.system_name}/pick and its target_id, then "
            "retry the job.")


def _prepare(job: Job, step: JobStep) -> Work | None:
    """Resolve the step's keys; None when the step has nothing (more) to run now."""
    system = step.system
    if system is None:
        _fail_step(step, "system_removed", f"System {step.system_name} no longer exists.")
        return None
    connector = connector_of_system(system)
    tenant_key = system.datastore_key or None
    if not step.keys_resolved:
        keys = connector.resolve_identity(job.identity, tenant_key)
        _save(step, keys=keys, keys_resolved=True)
    if not step.keys:
        _save(step, status=StepStatus.NO_DATA, finished_at=timezone.now(), rows=0,
              error_code="", error_message="", result={"rows": 0})
        return None
    if step.picked_key and step.picked_key not in step.keys:
        _fail_step(step, "pick_unknown",
                   f"The key picked for system {step.system_name} is not one of the subjects "
                   "this identity matches there; pick again.", status=StepStatus.BLOCKED)
        return None
    key = step.target_key
    if key is None:
        _fail_step(step, "identity_ambiguous", _ambiguous(step), status=StepStatus.BLOCKED)
        return None
    return Work(step, connector, Target(scope="subject", id=key, tenant_key=tenant_key))


def _prepare_all(job: Job, steps: list[JobStep]) -> list[Work]:
    works: list[Work] = []
    for step in steps:
        if step.is_done or step.status == StepStatus.WAITING:
            continue
        if step.connector not in AUTOMATED:
            continue
        if step.status in (StepStatus.FAILED, StepStatus.BLOCKED):
            _save(step, status=StepStatus.PENDING, error_code="", error_message="")
        try:
            work = _prepare(job, step)
        except DomainError as error:
            _fail_step(step, error.code, error.message)
            continue
        except (ConnectorError, DataMapError, OSError) as error:
            _fail_step(step, "datastore_unavailable", _http_said(step, error) or
                       f"System {step.system_name} did not answer ({type(error).__name__}); "
                       "the job retries it.")
            continue
        except Exception as error:  # a driver's own errors (SQLAlchemy's OperationalError…)
            _fail_step(step, "datastore_unavailable",
                       f"System {step.system_name} did not answer ({type(error).__name__}); "
                       "the job retries it.")
            continue
        if work is not None:
            works.append(work)
    return works


def _announce(step: JobStep) -> None:
    transaction.on_commit(lambda: step_waiting.send(sender=JobStep, step=step))


def _manual_steps_wait(job: Job, steps: list[JobStep]) -> None:
    for step in steps:
        if step.connector == ConnectorType.MANUAL and step.status in (
                StepStatus.PENDING, StepStatus.FAILED, StepStatus.BLOCKED):
            with transaction.atomic():
                _save(step, status=StepStatus.WAITING, started_at=timezone.now(),
                      attempts=step.attempts + 1, error_code="", error_message="")
                _announce(step)
                audit_record(actor=Actor.system("worker"), action="job.step_waiting",
                             tenant_id=job.tenant_id, target_type="job", target_id=job.pk,
                             metadata={"system": step.system_name})


def _check_destructive(job: Job, works: list[Work]) -> None:
    """Holds and preconditions of every system, before any of them is written."""
    from privacyops.execution.executors import precondition_sentence
    from privacyops.holds.selectors import (
        identity_hold_covering,
        identity_holds,
        identity_of_hold,
    )

    hold = identity_hold_covering(tenant_id=job.tenant_id, identity=job.identity)
    if hold is not None:
        raise JobBlocked(f"Blocked by {hold.describe()}: it names this person, in every system. "
                         "Release the hold (Legal holds tab) before erasing this person's data. "
                         "Nothing was written to any system.",
                         code="legal_hold", hold_id=hold.pk)
    held = identity_holds(tenant_id=job.tenant_id)
    for work in works:
        for hold in held:  # the held person, as each system resolves them
            if work.target.id in work.connector.resolve_identity(identity_of_hold(hold),
                                                                 work.target.tenant_key):
                _fail_step(work.step, "legal_hold", f"Blocked by {hold.describe()}.",
                           status=StepStatus.BLOCKED)
                raise JobBlocked(
                    f"System {work.step.system_name}: blocked by {hold.describe()}: it names "
                    "this person. Release the hold before erasing. Nothing was written to any "
                    "system.", code="legal_hold", hold_id=hold.pk)
    for work in works:
        datastore = work.connector if hasattr(work.connector, "datamap") else None
        try:
            refuse_if_held(tenant_id=job.tenant_id, target=work.target, target_type="subject",
                           datastore=datastore)  # type: ignore[arg-type]
        except JobBlocked as blocked:
            _fail_step(work.step, blocked.code, blocked.message, status=StepStatus.BLOCKED)
            raise JobBlocked(f"System {work.step.system_name}: {blocked.message} Nothing was "
                             "written to any system.", code=blocked.code,
                             hold_id=blocked.hold_id) from None
        check = getattr(work.connector, "check_preconditions", None)
        failures = check(work.target) if check is not None and job.job_type == "ERASE" else []
        if failures:
            sentence = precondition_sentence(failures)
            _fail_step(work.step, "precondition", sentence, status=StepStatus.BLOCKED)
            raise JobBlocked(f"System {work.step.system_name}: {sentence} Nothing was written "
                             "to any system.", code="precondition")


def _erase_step(job: Job, work: Work, worker: str, at: datetime) -> None:
    step, connector, target = work.step, work.connector, work.target
    verify = connector.verify_erased
    if step.status == StepStatus.RUNNING and (step.result or {}).get("pending"):
        # An earlier attempt died after planning this erase: if the system shows it applied,
        # it is recorded as it was planned, never run a second time to another result.
        if not verify(target, job.identity):
            planned = dict((step.result or {})["pending"])
            _save(step, status=StepStatus.COMPLETED, verified=True, finished_at=timezone.now(),
                  rows=int(planned.get("rows_changed", 0)), result={**planned,
                                                                  "recovered": True})
            return
    _save(step, status=StepStatus.RUNNING, started_at=timezone.now(), attempts=step.attempts + 1,
          error_code="", error_message="")
    datastore: Any = connector if hasattr(connector, "datamap") else None
    # What the erasure ledger needs to apply this step again after a restore: the key acted
    # on (never the identity) and the data map's text as it is now.
    rule = step_rule(step, target)
    plan = connector.erase(target, dry_run=True)
    planned = {"rows_changed": plan.rows_changed, "applied_at": at.isoformat(),
               "tables": {c.table: {"rows": c.rows, "columns": list(c.columns)}
                          for c in plan.tables}, **rule}
    _save(step, result={"pending": planned})
    if datastore is not None:
        with hold_guard(tenant_id=job.tenant_id, target=target, target_type="subject",
                        datastore=datastore, job_id=job.pk, worker=worker):  # type: ignore[arg-type]
            result = datastore.erase(target, at=at)
    else:
        with hold_guard(tenant_id=job.tenant_id, target=target, target_type="subject",
                        datastore=None, job_id=job.pk, worker=worker):  # type: ignore[arg-type]
            result = connector.erase(target)
    done = {"rows_changed": result.rows_changed, "applied_at": at.isoformat(),
            "tables": {c.table: {"rows": c.rows, "columns": list(c.columns)}
                       for c in result.tables}, **rule}
    _save(step, result={"pending": done})
    problems = verify(target, job.identity)
    if problems:
        _fail_step(step, "verification_failed",
                   f"Erasure verification failed in system {step.system_name}: "
                   + "; ".join(problems) + ". Fix the data map (erase these columns) and retry.")
        _save(step, result=done, rows=result.rows_changed)
        return
    _save(step, status=StepStatus.COMPLETED, verified=True, finished_at=timezone.now(),
          rows=result.rows_changed, result=done)
    if datastore is not None:  # PostgreSQL: old row versions out of the files, once recorded
        vacuum_soon(datastore, [c.table for c in result.tables if c.rows])


def step_rule(step: JobStep, target: Target) -> dict[str, Any]:
    """The target a destructive step acts on and its system's data map snapshot, kept in the
    step's result for the erasure ledger (the canonical key only, never the identity)."""
    from privacyops.execution.ledger import datamap_snapshot_of_system

    snapshot = (datamap_snapshot_of_system(step.system)
                if step.system is not None and step.connector == ConnectorType.SQL else None)
    return {"target": {"scope": target.scope, "id": target.id,
                       "tenant_key": target.tenant_key},
            "datamap_sha256": snapshot.sha256 if snapshot else None}


def _export_step(job: Job, work: Work, folder: Path) -> None:
    step = work.step
    _save(step, status=StepStatus.RUNNING, started_at=timezone.now(), attempts=step.attempts + 1,
          error_code="", error_message="")
    folder.mkdir(parents=True, exist_ok=True)
    header = {"system": step.system_name, "target_id": work.target.id}
    with (folder / "export.json").open("w", encoding="utf-8") as out:
        counts = write_export_json(work.connector.iter_export(work.target), out, header,
                                   csv_dir=folder)
    (folder / "counts.json").write_text(json.dumps(counts, indent=2))
    # Completed once the whole package is stored (see _export_package).
    _save(step, rows=sum(counts.values()), result={"sections": counts})


def _run_one(job: Job, work: Work, worker: str, at: datetime, workdir: Path, *,
             own_thread: bool = True) -> None:
    """One system's step; in a pool thread it closes its own control-DB connections."""
    try:
        if job.job_type == "EXPORT":
            _export_step(job, work, workdir / work.step.system_name)
        else:
            _erase_step(job, work, worker, at)
    except LeaseLost:
        raise
    except JobBlocked as blocked:  # a hold placed after the check: caught under the lock
        _fail_step(work.step, blocked.code, blocked.message, status=StepStatus.BLOCKED)
    except PreconditionsFailed as error:
        from privacyops.execution.executors import precondition_sentence

        _fail_step(work.step, "precondition", precondition_sentence(error.failures),
                   status=StepStatus.BLOCKED)
    except TargetNotFound:
        _fail_step(work.step, "target_not_found",
                   f"The subject is no longer in system {work.step.system_name}.")
    except DomainError as error:
        _fail_step(work.step, error.code, error.message)
    except Exception as error:
        logger.warning("job %s: step on system %s raised %s", job.pk, work.step.system_name,
                       type(error).__name__)
        _fail_step(work.step, "datastore_unavailable", _http_said(work.step, error) or
                   f"System {work.step.system_name} stopped the step "
                   f"({type(error).__name__}); nothing of it was committed half-way. The job "
                   "retries it.")
    finally:
        if own_thread:
            connections.close_all()


def _run_all(job: Job, works: list[Work], worker: str, workdir: Path) -> None:
    at = datetime.now(tz=UTC).replace(microsecond=0)
    if len(works) == 1:  # no thread for one system
        _run_one(job, works[0], worker, at, workdir, own_thread=False)
        return
    threads = max(1, int(settings.JOB_STEP_THREADS))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"job-{job.pk}") as pool:
        futures = [pool.submit(_run_one, job, work, worker, at, workdir) for work in works]
        errors = [future.exception() for future in futures]
    lost = [error for error in errors if isinstance(error, LeaseLost)]
    if lost:
        raise lost[0]


def _export_package(job: Job, works: list[Work], workdir: Path) -> dict[str, Any]:
    """One zip: a folder per system, and a top-level export.json and manifest.json."""
    from privacyops.execution.executors import signed_download_path
    from privacyops.execution.storage import artifact_store

    content = workdir / "content"
    content.mkdir()
    exported = [w for w in works if w.step.status == StepStatus.RUNNING]
    header = {"exported_at": datetime.now(tz=UTC).isoformat(), "job_id": job.pk,
              "target_type": "subject", "identity": job.identity}
    with (content / "export.json").open("w", encoding="utf-8") as out:
        out.write(json.dumps(header)[:-1] + ', "systems": {')
        for index, work in enumerate(exported):
            out.write(("" if index == 0 else ", ") + json.dumps(work.step.system_name) + ": ")
            with (workdir / work.step.system_name / "export.json").open(encoding="utf-8") as part:
                shutil.copyfileobj(part, out)
        out.write("}}\n")
    files: list[dict[str, Any]] = []
    for work in exported:
        source = workdir / work.step.system_name
        target = content / work.step.system_name
        shutil.copytree(source, target)
        for path in sorted(target.iterdir()):
            files.append({"name": f"{work.step.system_name}/{path.name}",
                          "size": path.stat().st_size, "sha256": sha256_file(path)})
    files.insert(0, {"name": "export.json", "size": (content / "export.json").stat().st_size,
                     "sha256": sha256_file(content / "export.json")})
    sections = {w.step.system_name: (w.step.result or {}).get("sections", {}) for w in exported}
    manifest = {**header, "systems": sections, "files": files}
    (content / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    import zipfile

    archive = workdir / "package.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(content.rglob("*")):
            if path.is_file():
                zipped.write(path, arcname=str(path.relative_to(content)))
    flat = {f"{system}/{name}": n for system, counts in sections.items()
            for name, n in counts.items()}
    package = Package(archive, archive.stat().st_size, sha256_file(archive), flat)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S")
    artifact: Artifact = artifact_store(job=job, package=package,
                                        target_id=identity_digest(job.identity),
                                        file_name=f"export-job-{job.pk}-{stamp}.zip")
    Artifact.objects.filter(pk=artifact.pk).update(target_type="identity")
    link = {"download_url": signed_download_path(str(artifact.pk)),
            "expires_at": artifact.expires_at.isoformat(), "file_name": artifact.file_name,
            "size": package.size, "sha256": package.sha256}
    now = timezone.now()
    for work in exported:
        _save(work.step, status=StepStatus.COMPLETED, finished_at=now, verified=False,
              result={**(work.step.result or {})})
    return link


class StepsFailed(DomainError):
    """Some systems' steps failed; the others' stay done (``code`` is the first failure's)."""

    status = 503


def run_multi(job: Job, worker: str) -> None:
    """Run what remains of an identity job; ends (or parks) the job itself."""
    steps = list(JobStep.objects.filter(job=job).select_related("system", "system__tenant"))
    works = _prepare_all(job, steps)
    if job.is_destructive:
        blocked = [s for s in steps if s.status == StepStatus.BLOCKED]
        if blocked:  # whose data is this? Until someone picks, no system is written
            raise JobBlocked(" ".join(s.error_message for s in blocked)
                             + " Nothing was written to any system.",
                             code=blocked[0].error_code)
        _check_destructive(job, works)
    # A manual system's owner is asked only once every automated system may be written.
    _manual_steps_wait(job, steps)
    link: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="privacyops-steps-") as temp:
        workdir = Path(temp)
        if works:
            _run_all(job, works, worker, workdir)
        if job.job_type == "EXPORT" and any(w.step.status == StepStatus.RUNNING for w in works):
            link = _export_package(job, works, workdir)
    _settle(job, worker, link)


@transaction.atomic(durable=True)
def _park_or_finish(job_id: int, worker: str, link: dict[str, Any]) -> list[JobStep]:
    """Finish the job when every step is settled, park it (no lease) while a manual step
    waits; the failed or blocked steps when there are any (the job is then left as it is)."""
    job = Job.objects.select_for_update().select_related("tenant").get(pk=job_id)
    if job.status != JobStatus.PROCESSING or job.lease_owner != worker:
        raise LeaseLost(job_id)
    steps = list(JobStep.objects.filter(job=job))
    if link:
        for step in steps:
            if step.status == StepStatus.COMPLETED and step.connector in AUTOMATED:
                step.result = {**(step.result or {}), "package": link["file_name"]}
                step.save(update_fields=["result"])
    bad = [s for s in steps if s.status in (StepStatus.FAILED, StepStatus.BLOCKED)]
    if bad:
        return bad
    if job_finish_if_settled(job, actor=Actor.system(worker)):
        if link:
            Job.objects.filter(pk=job.pk).update(result={**(job.result or {}), **link})
        return []
    job.lease_owner, job.lease_expires_at = "", None
    if link:
        job.progress = {**job.progress, "export": link}
    job.save(update_fields=["lease_owner", "lease_expires_at", "progress", "updated_at"])
    audit_record(actor=Actor.system(worker), action="job.waiting", tenant_id=job.tenant_id,
                 target_type="job", target_id=job.pk,
                 metadata={"systems": [s.system_name for s in steps
                                       if s.status == StepStatus.WAITING]})
    return []


def _settle(job: Job, worker: str, link: dict[str, Any]) -> None:
    bad = _park_or_finish(job.pk, worker, link)
    if not bad:
        return
    blocked = [s for s in bad if s.status == StepStatus.BLOCKED]
    message = " ".join(f"System {s.system_name}: {s.error_message}" for s in bad)
    if blocked:
        raise JobBlocked(message, code=blocked[0].error_code or "blocked")
    retryable = [s for s in bad if s.error_code in ("datastore_unavailable", "datamap_unusable")]
    code = (retryable or bad)[0].error_code or "execution_error"
    raise StepsFailed(message, code=code)


def is_multi(job: Job) -> bool:
    return bool(job.identity)


__all__ = ["DatastoreUnavailable", "is_multi", "run_multi", "steps_create"]


# --- a tenant PURGE over every SQL system --------------------------------------------------

def run_tenant_purge_all(job: Job, worker: str) -> dict[str, Any]:
    """PURGE of a tenant with several SQL systems: a step per system, holds of every system
    checked first, each system purged in chunks (resumable: a retry finishes what is left and
    skips the systems already done) and verified by counting what is left (0)."""
    from privacyops.connectors import PurgeProgress
    from privacyops.execution.ledger import datamap_snapshot_take
    from privacyops.execution.registry import datastore_of_system
    from privacyops.jobs.services import job_heartbeat
    from privacyops.tenancy.models import Tenant

    systems = [s for s in System.objects.filter(tenant=job.tenant, connector_type="sql")
               .select_related("tenant").order_by("pk")]
    existing = {step.system_name: step for step in JobStep.objects.filter(job=job)}
    for system in systems:
        if system.name not in existing:
            existing[system.name] = JobStep.objects.create(
                job=job, system=system, system_name=system.name, connector=system.connector_type)
    steps = [existing[s.name] for s in systems]
    targets = {}
    for system, step in zip(systems, steps, strict=True):
        key = system.datastore_key or None
        targets[step.pk] = (datastore_of_system(system),
                            Target(scope="tenant", id=key or job.tenant.slug, tenant_key=key))
    for step in steps:  # every system's holds before anything is deleted anywhere
        if step.is_done:
            continue
        datastore, target = targets[step.pk]
        try:
            refuse_if_held(tenant_id=job.tenant_id, target=target, target_type="tenant",
                           datastore=datastore)
        except JobBlocked as blocked:
            _fail_step(step, blocked.code, blocked.message, status=StepStatus.BLOCKED)
            raise JobBlocked(f"System {step.system_name}: {blocked.message} Nothing was "
                             "deleted in any system.", code=blocked.code,
                             hold_id=blocked.hold_id) from None
    at = datetime.now(tz=UTC).replace(microsecond=0)
    snapshot = datamap_snapshot_take(job.tenant)
    for step in steps:
        if step.is_done:
            continue
        datastore, target = targets[step.pk]
        earlier = int((step.result or {}).get("rows_deleted", 0))
        _save(step, status=StepStatus.RUNNING, started_at=timezone.now(),
              attempts=step.attempts + 1, error_code="", error_message="")

        def on_progress(progress: PurgeProgress, step: JobStep = step) -> None:
            state = {"system": step.system_name, "table": progress.table,
                     "table_done": progress.deleted, "table_total": progress.table_total}
            if not job_heartbeat(job_id=job.pk, worker_id=worker, progress=state):
                raise LeaseLost(job.pk)

        def guard(datastore: Any = datastore, target: Target = target) -> Any:
            return hold_guard(tenant_id=job.tenant_id, target=target, target_type="tenant",
                              datastore=datastore, job_id=job.pk, worker=worker)

        try:
            result = datastore.purge(target, chunk_size=settings.PURGE_CHUNK_ROWS,
                                     on_progress=on_progress, chunk_guard=guard)
        except (LeaseLost, JobBlocked):
            raise
        except Exception as error:
            _fail_step(step, "datastore_unavailable",
                       f"System {step.system_name} stopped the purge ({type(error).__name__});"
                       " the chunks it committed stay deleted and a retry finishes the rest.")
            raise StepsFailed(f"System {step.system_name} stopped the purge; a retry finishes "
                              "it.", code="datastore_unavailable") from None
        left = sum(datastore.purge(target, dry_run=True).deleted.values())
        done = {"rows_deleted": earlier + result.rows_deleted, "tables": result.deleted,
                "tables_anonymised": result.anonymised, "rows_left": left,
                "applied_at": at.isoformat(), **step_rule(step, target)}
        if left:
            _fail_step(step, "verification_failed",
                       f"System {step.system_name} still holds {left} row(s) of the tenant "
                       "after the purge; retry the job.")
            _save(step, result=done)
            raise StepsFailed(f"System {step.system_name}: {left} row(s) left after the purge.",
                              code="verification_failed")
        _save(step, status=StepStatus.COMPLETED, verified=True, finished_at=timezone.now(),
              rows=done["rows_deleted"], result=done)
        vacuum_soon(datastore, [t for t, n in result.deleted.items() if n])
    with transaction.atomic():
        Tenant.objects.filter(pk=job.tenant_id).update(hash_key=None)
    outcome = steps_result(job, list(JobStep.objects.filter(job=job)))
    outcome.update({"rows_deleted": outcome["rows"], "applied_at": at.isoformat(),
                    "datamap_sha256": snapshot.sha256 if snapshot else None})
    return outcome
