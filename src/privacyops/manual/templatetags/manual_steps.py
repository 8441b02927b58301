"""`{% manual_tasks job %}`: the job page's manual steps (owner, deadline, resend)."""

from __future__ import annotations

from typing import Any

from django import template

from privacyops.execution.executors import signed_download_path
from privacyops.manual.selectors import manual_tasks_of_job
from privacyops.tenancy.policy import can

register = template.Library()


@register.inclusion_tag("manual/_job_tasks.html", takes_context=True)
def manual_tasks(context: Any, job: Any) -> dict[str, Any]:
    request = context["request"]
    tasks = manual_tasks_of_job(job)
    for task in tasks:  # a fresh signed link to the uploaded file (login and job.view needed)
        task.download_url = (signed_download_path(str(task.upload.pk))  # type: ignore[attr-defined]
                             if task.upload is not None and task.upload.deleted_at is None
                             else "")
    return {"manual_tasks": tasks, "csrf_token": context.get("csrf_token"),
            "can_resend": can(request.user, "job.retry", job.tenant)}
