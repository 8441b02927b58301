"""The owner's emails: what to do, for whom, by when, and the signed link. Plain text and HTML.

The person's identity appears in the email body only (the owner must know whom to search
for): never in the subject line, never in a log line.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from privacyops.manual.models import ManualTask, TaskKind

logger = logging.getLogger(__name__)


def identity_lines(task: ManualTask) -> list[tuple[str, str]]:
    """Whom to search for: the job's identity fields, else the person its subject id names."""
    job = task.job
    identity = job.identity if isinstance(job.identity, dict) else {}
    if identity:
        return [(str(name).replace("_", " ").capitalize(), str(value))
                for name, value in sorted(identity.items())]
    lines: list[tuple[str, str]] = []
    if job.target_type == "subject":
        from privacyops.execution.people import person_for_job

        person = person_for_job(job)
        if person is not None and not person.erased:
            lines += [(label, value) for label, value in
                      (("Name", person.name), ("Email", person.email)) if value]
    lines.append((f"{job.target_type.capitalize()} id", job.target_id))
    return lines


def _context(task: ManualTask, token: str, *, reminder: bool) -> dict[str, Any]:
    tenant = task.job.tenant
    return {
        "task": task, "tenant": tenant, "job": task.job, "reminder": reminder,
        "link": f"{settings.BASE_URL}{reverse('manual:owner', kwargs={'token': token})}",
        "identity": identity_lines(task),
        "action": "export" if task.kind == TaskKind.EXPORT else "erasure",
        "contact": tenant.privacy_contact_email,
        "max_mb": settings.MANUAL_UPLOAD_MAX_MB,
    }


def send_task_email(*, task_id: int, token: str, reminder: bool = False) -> None:
    task = ManualTask.objects.select_related("job__tenant").get(pk=task_id)
    with timezone.override(UTC):  # the email says UTC, whoever's request sends it
        _send(task, _context(task, token, reminder=reminder), reminder=reminder)
    logger.info("manual %s email sent for task %s of job %s",
                "reminder" if reminder else "request", task.pk, task.job_id)


def _send(task: ManualTask, context: dict[str, Any], *, reminder: bool) -> None:
    what = "Export" if task.kind == TaskKind.EXPORT else "Erasure"
    subject = (f"{'Reminder: ' if reminder else ''}{task.job.tenant.name}: {what} request "
               f"#{task.job_id} for {task.system_name}, due {task.deadline:%d %B %Y}")
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string("manual/email/task.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL, to=[task.owner_email],
        reply_to=[context["contact"]] if context["contact"] else None,
    )
    message.attach_alternative(render_to_string("manual/email/task.html", context), "text/html")
    message.send()
