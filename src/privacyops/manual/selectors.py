"""Reads of the manual app (the job page's list; scoping is the job page's own)."""

from __future__ import annotations

from privacyops.jobs.models import Job
from privacyops.manual.models import ManualTask


def manual_tasks_of_job(job: Job) -> list[ManualTask]:
    """The job's manual tasks, newest first (a retried job's earlier ones stay listed)."""
    return list(ManualTask.objects.filter(job=job).select_related("upload"))
