"""The queue is only a doorbell: the task carries a job id and the runner claims the row."""

from __future__ import annotations

from django_tasks import task


@task()
def run_job(job_id: int) -> None:
    from privacyops.execution.runner import run_job_now

    run_job_now(job_id)
