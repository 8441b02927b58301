"""Writes of the manual app: open a task when a step waits, the owner's confirmation, a resend,
and the periodic pass (reminder halfway, failure at the deadline). Each audited.

The engine's ``step_settle`` commits in a transaction of its own, so a confirmation (or an
expiry) is recorded first, then handed to the engine; if the process dies in between, the
next periodic pass finds the task settled but its step still waiting and hands it over again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, BinaryIO, cast

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from privacyops.audit.models import Outcome
from privacyops.audit.services import audit_record
from privacyops.datamap.loader import DataMapError
from privacyops.errors import Conflict, NotFound, RateLimited, ValidationFailed
from privacyops.execution.models import JobStep, StepStatus
from privacyops.execution.registry import datamap_path
from privacyops.execution.storage import part_store
from privacyops.jobs.models import Job, JobType
from privacyops.manual import notifications, steps
from privacyops.manual.models import ManualTask, TaskKind, TaskStatus
from privacyops.manual.schema import ManualMap, load_manual_map
from privacyops.manual.tokens import token_digest, token_make, token_read
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import require
from privacyops.web.ratelimit import keyed_hash, slot_take

logger = logging.getLogger(__name__)

CONFIRMS_PER_WINDOW = 10  # owner-page submissions from one client address
CONFIRM_WINDOW = timedelta(hours=1)
NOTE_MAX = 2000
DEADLINE_CODE = "manual_deadline_passed"
MANUAL_CONNECTOR = "manual"
ADOPT_AFTER = timedelta(minutes=10)  # a waiting step's own announcement comes first


def kind_of(job: Job) -> str:
    return TaskKind.EXPORT if job.job_type == JobType.EXPORT else TaskKind.ERASE


def manual_map_of(system_datamap_name: str) -> ManualMap:
    return load_manual_map(datamap_path(system_datamap_name))


def _new_token(task: ManualTask) -> str:
    token = token_make(task_id=task.pk, expires_at=task.deadline)
    task.token_hash = token_digest(token)
    return token


def _send_after_commit(task_id: int, token: str, *, reminder: bool) -> None:
    def send() -> None:
        notifications.send_task_email(task_id=task_id, token=token, reminder=reminder)
        ManualTask.objects.filter(pk=task_id).update(
            **({"reminder_sent_at": timezone.now()} if reminder else
               {"email_sent_at": timezone.now()}))

    transaction.on_commit(send, robust=True)


# --- a step starts waiting --------------------------------------------------------------------

def manual_task_open(*, step: JobStep) -> ManualTask | None:
    """A manual system's step waits: ask its owner, by email, with a signed link.

    A map that cannot be read fails the step (``datamap_unusable``); a map that asks nothing
    for this job type settles it as ``no_data``. Called after the engine's commit.
    """
    job = step.job
    kind = kind_of(job)
    system_label = step.system_name
    actor = Actor.system("manual")
    try:
        if step.system is None:
            raise DataMapError([("", "the system was removed")], source=system_label)
        manual_map = manual_map_of(step.system.datamap_name)
    except DataMapError as error:
        logger.warning("manual system %s of job %s has no usable map", step.pk, job.pk)
        steps.settle(step_id=step.pk, status=StepStatus.FAILED, rows=0, actor=actor,
                     result={"code": "datamap_unusable",
                             "message": f"The manual system's map cannot be used: "
                                        f"{'; '.join(m for _p, m in error.issues)}"})
        return None
    if not manual_map.does(kind):
        steps.settle(step_id=step.pk, status=StepStatus.NO_DATA, rows=0, actor=actor,
                     result={"note": f"The map of {system_label} asks nothing for a {kind}."})
        return None
    days = manual_map.deadline_days or settings.MANUAL_STEP_DAYS
    with transaction.atomic():
        # A retried job's step waits again: its earlier task (if any still waits) is over.
        ManualTask.objects.filter(step=step, status=TaskStatus.WAITING).update(
            status=TaskStatus.EXPIRED)
        task = ManualTask.objects.create(
            job=job, system=step.system, system_name=system_label, step=step, kind=kind,
            owner_email=manual_map.owner_for(job.tenant.slug),
            instructions=manual_map.instructions.for_kind(kind),
            token_hash=f"pending-{step.pk}-{timezone.now().timestamp()}",
            deadline=timezone.now() + timedelta(days=days),
        )
        token = _new_token(task)
        task.save(update_fields=["token_hash"])
        audit_record(actor=actor, action="manual.requested", tenant_id=job.tenant_id,
                     target_type="job", target_id=job.pk,
                     metadata={"system": system_label, "task": task.pk, "kind": kind,
                               "owner": task.owner_email, "deadline": task.deadline.isoformat()})
        _send_after_commit(task.pk, token, reminder=False)
    return task


# --- the owner's page -------------------------------------------------------------------------

@dataclass(frozen=True)
class Confirmation:
    confirmed_by: str
    rows: int | None = None
    note: str = ""
    upload: IO[bytes] | None = None
    upload_name: str = ""


def task_for_token(token: str) -> ManualTask:
    """The task a link opens, or a DomainError whose code the page explains: link_invalid
    (damaged), link_replaced (a newer email), link_used, link_expired."""
    claim = token_read(token or "")
    if claim is None:
        raise NotFound("This link is not valid: it was changed or cut short. Open the link "
                       "from the email again, in full.", code="link_invalid")
    task = (ManualTask.objects.select_related("job__tenant", "system", "step")
            .filter(pk=claim.task_id).first())
    if task is None:
        raise NotFound("This link is not valid any more: the request it belonged to is gone.",
                       code="link_invalid")
    if task.status == TaskStatus.CONFIRMED:
        raise Conflict(f"This request was already answered on "
                       f"{timezone.localtime(task.confirmed_at):%d %B %Y at %H:%M} "
                       f"by {task.confirmed_by}. Nothing more is needed.", code="link_used")
    if task.status == TaskStatus.EXPIRED or timezone.now() >= claim.expires_at:
        raise Conflict("This link has expired: its deadline has passed. Contact the privacy "
                       "team if the work still needs to be done.", code="link_expired")
    if task.token_hash != token_digest(token):
        raise Conflict("A newer email about this request was sent; use the link in the latest "
                       "email.", code="link_replaced")
    if task.step.status != StepStatus.WAITING:
        raise Conflict("The privacy team has already closed this step; nothing more is needed "
                       "from you.", code="link_closed")
    return task


def confirm_slot_take(*, client_address: str) -> None:
    """Every submission of the owner's page from one address takes a slot, whatever its
    outcome (a replayed or a damaged link too); past the limit it is refused (429)."""
    retry_at = slot_take(scope="manual-confirm", key=keyed_hash("manual-ip", client_address),
                         limit=CONFIRMS_PER_WINDOW, window=CONFIRM_WINDOW)
    if retry_at is not None:
        raise RateLimited(f"Too many submissions from your address; try again after "
                          f"{retry_at:%H:%M} UTC.", retry_at=retry_at.isoformat())


def _validate(task: ManualTask, answer: Confirmation) -> None:
    if len(answer.note) > NOTE_MAX:
        raise ValidationFailed(f"The note is longer than {NOTE_MAX} characters; shorten it.",
                               field="note")
    if task.kind == TaskKind.EXPORT and answer.upload is None:
        raise ValidationFailed("Choose the exported file to upload.", field="upload")
    if task.kind == TaskKind.ERASE and (answer.rows is None or answer.rows < 0):
        raise ValidationFailed("Say how many records you erased (0 if there were none).",
                               field="rows")


def _filed_as(job: Job) -> tuple[str, str]:
    """Where the job's export package is filed (an identity job's: by a digest, no email)."""
    if job.identity:
        from privacyops.execution.multi import identity_digest

        return "identity", identity_digest(job.identity)
    return job.target_type, job.target_id


def manual_confirm(*, token: str, answer: Confirmation, user: User | None = None) -> ManualTask:
    """The owner's answer: an uploaded export, or what they erased. Single use: the link
    answers "already used" from then on. Audited (`manual.confirmed`), then settled.
    (The page takes a rate-limit slot, `confirm_slot_take`, for every submission first.)"""
    task = task_for_token(token)
    _validate(task, answer)
    who = user.email if user is not None and user.is_authenticated else answer.confirmed_by
    artifact = None
    if answer.upload is not None and task.kind == TaskKind.EXPORT:
        artifact = part_store(job=task.job, source=cast(BinaryIO, answer.upload),
                              file_name=answer.upload_name or "upload",
                              part=f"step-{task.step_id}", target=_filed_as(task.job),
                              expires_at=task.deadline + timedelta(days=settings.DOWNLOAD_LINK_DAYS))
    with transaction.atomic():
        locked = ManualTask.objects.select_for_update().get(pk=task.pk)
        if locked.status != TaskStatus.WAITING or locked.token_hash != task.token_hash:
            raise Conflict("This request was answered or changed a moment ago; open the link "
                           "from the latest email again.", code="link_used")
        locked.status = TaskStatus.CONFIRMED
        locked.confirmed_at = timezone.now()
        locked.confirmed_by = who
        locked.confirmed_by_user = user if user is not None and user.is_authenticated else None
        locked.rows = answer.rows if task.kind == TaskKind.ERASE else None
        locked.note = answer.note.strip()
        locked.upload = artifact
        locked.save()
        actor = (Actor.for_user(user) if user is not None and user.is_authenticated
                 else Actor.owner(who, system=locked.system_name))
        # The note is free text that may name the person: the chain, which is never
        # rewritten, keeps only its digest; the text stays on the task and the step.
        metadata: dict[str, Any] = {"system": locked.system_name, "task": locked.pk,
                                    "kind": locked.kind, "confirmed_by": who,
                                    "confirmed_at": locked.confirmed_at.isoformat(),
                                    "note_sha256": hashlib.sha256(locked.note.encode()).hexdigest()
                                    if locked.note else None}
        if locked.kind == TaskKind.ERASE:
            metadata["rows"] = locked.rows
        if artifact is not None:
            metadata.update(artifact_id=str(artifact.pk), size=artifact.size,
                            sha256=artifact.sha256)
        audit_record(actor=actor, action="manual.confirmed", tenant_id=task.job.tenant_id,
                     target_type="job", target_id=task.job_id, metadata=metadata)
    _hand_over(locked, actor)
    return locked


def _step_result(task: ManualTask) -> dict[str, Any]:
    result: dict[str, Any] = {"manual_task": task.pk, "confirmed_by": task.confirmed_by,
                              "confirmed_at": task.confirmed_at.isoformat()
                              if task.confirmed_at else None,
                              "note": task.note}
    if task.kind == TaskKind.ERASE:
        result["rows_erased"] = task.rows
    if task.upload is not None:
        from privacyops.execution.executors import signed_download_path

        result.update(artifact_id=str(task.upload.pk), upload_file_name=task.upload.file_name,
                      upload_size=task.upload.size, upload_sha256=task.upload.sha256,
                      upload_download_url=signed_download_path(str(task.upload.pk)))
    return result


def _hand_over(task: ManualTask, actor: Actor) -> bool:
    """Settle the task's step with the engine; False when the step no longer waits (a retry or
    another pass got there first)."""
    if task.status == TaskStatus.CONFIRMED:
        status, rows, result = StepStatus.COMPLETED, task.rows or 0, _step_result(task)
    else:
        status, rows = StepStatus.FAILED, 0
        result = {"code": DEADLINE_CODE,
                  "message": f"Nobody confirmed the manual step by its deadline "
                             f"({task.deadline:%Y-%m-%d %H:%M} UTC)."}
    try:
        steps.settle(step_id=task.step_id, status=status, rows=rows, result=result, actor=actor)
    except Conflict as error:
        if error.code != "step_not_waiting":
            raise
        return False
    return True


# --- the operator's resend --------------------------------------------------------------------

def manual_resend(*, task_id: int, actor: Actor) -> ManualTask:
    """Email the owner again with a new link (the earlier link stops working)."""
    task = ManualTask.objects.select_related("job__tenant").filter(pk=task_id).first()
    if task is None:
        raise NotFound(f"Manual task {task_id} does not exist.")
    require(acting_user(actor), "job.retry", task.job.tenant)
    with transaction.atomic():
        task = ManualTask.objects.select_for_update().select_related("job").get(pk=task_id)
        if task.status != TaskStatus.WAITING:
            raise Conflict(f"This manual step is {task.get_status_display().lower()}; only a "
                           "waiting step's email can be sent again.", code="task_not_waiting")
        token = _new_token(task)
        task.save(update_fields=["token_hash"])
        audit_record(actor=actor, action="manual.email_resent", tenant_id=task.job.tenant_id,
                     target_type="job", target_id=task.job_id,
                     metadata={"system": task.system_name, "task": task.pk,
                               "owner": task.owner_email})
        _send_after_commit(task.pk, token, reminder=False)
    return task


# --- the periodic pass ------------------------------------------------------------------------

def _remind(task_id: int, now: datetime) -> bool:
    with transaction.atomic():
        task = ManualTask.objects.select_for_update().select_related("job").get(pk=task_id)
        if task.status != TaskStatus.WAITING or task.reminder_sent_at is not None:
            return False
        task.reminder_sent_at = now  # claimed now, so a second pass sends no second reminder
        token = _new_token(task)
        task.save(update_fields=["reminder_sent_at", "token_hash"])
        audit_record(actor=Actor.system("manual"), action="manual.reminded",
                     tenant_id=task.job.tenant_id, target_type="job", target_id=task.job_id,
                     metadata={"system": task.system_name, "task": task.pk,
                               "deadline": task.deadline.isoformat()})
        _send_after_commit(task.pk, token, reminder=True)
    return True


def _expire(task_id: int) -> ManualTask | None:
    with transaction.atomic():
        task = ManualTask.objects.select_for_update().select_related("job").get(pk=task_id)
        if task.status != TaskStatus.WAITING:
            return None
        task.status = TaskStatus.EXPIRED
        task.save(update_fields=["status"])
        audit_record(actor=Actor.system("manual"), action="manual.expired",
                     tenant_id=task.job.tenant_id, target_type="job", target_id=task.job_id,
                     outcome=Outcome.FAILURE,
                     metadata={"system": task.system_name, "task": task.pk,
                               "deadline": task.deadline.isoformat()})
    return task


def manual_tasks_due(*, now: datetime | None = None) -> list[str]:
    """One pass: reminders halfway to the deadline (once), failures at the deadline, and the
    hand-over of tasks settled here whose step still waits. Idempotent; returns sentences."""
    now = now or timezone.now()
    said: list[str] = []
    actor = Actor.system("manual")
    waiting = ManualTask.objects.filter(status=TaskStatus.WAITING)
    for task in waiting.filter(deadline__lte=now).only("pk"):
        expired = _expire(task.pk)
        if expired is not None:
            _hand_over(expired, actor)
            said.append(f"manual task {task.pk}: deadline passed, step failed")
    reminded = 0
    for task in waiting.filter(reminder_sent_at__isnull=True, deadline__gt=now):
        if now >= task.reminder_due_at and _remind(task.pk, now):
            reminded += 1
    if reminded:
        said.append(f"{reminded} manual reminder(s) sent")
    # Settled here, still waiting there: a process died between the two commits. Only a task
    # of the step's current wait counts (a retried step waits again, after its old task).
    current = Q(created_at__gte=F("step__started_at"))
    stranded = ManualTask.objects.filter(
        current, status__in=[TaskStatus.CONFIRMED, TaskStatus.EXPIRED],
        step__status=StepStatus.WAITING,
    ).select_related("upload")
    for task in stranded:
        if _hand_over(task, actor):
            said.append(f"manual task {task.pk}: handed over to its step again")
    # Waiting for a while with no task of this wait: the owner was never asked (the step's
    # announcement failed). Ask now.
    orphans = (JobStep.objects.filter(status=StepStatus.WAITING, connector=MANUAL_CONNECTOR,
                                      started_at__lte=now - ADOPT_AFTER)
               .exclude(manual_tasks__created_at__gte=F("started_at"))
               .select_related("job__tenant", "system"))
    for step in orphans:
        if manual_task_open(step=step) is not None:
            said.append(f"manual step {step.pk}: its owner is asked now")
    return said

