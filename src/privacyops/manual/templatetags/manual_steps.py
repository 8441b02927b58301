"""`{% manual_tasks job %}`: the job page's manual steps (owner, deadline, resend)."""

from __future__ import annotations

from typing import Any

from django import template

from privacyops.manual.selectors import manual_tasks_of_job
from privacyops.tenancy.policy import can

register = template.Library()


@register.inclusion_tag("manual/_job_tasks.html", takes_context=True)
def manual_tasks(context: Any, job: Any) -> dict[str, Any]:
    request = context["request"]
    return {"manual_tasks": manual_tasks_of_job(job), "csrf_token": context.get("csrf_token"),
            "can_resend": can(request.user, "job.retry", job.tenant)}
