"""Runs one job: claim the row with a lease, execute with heartbeats, record the outcome."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from privacyops.errors import DomainError
from privacyops.jobs.models import Job
from privacyops.jobs.services import job_claim, job_complete, job_fail

logger = logging.getLogger(__name__)

Executor = Callable[[Job, str], dict[str, Any]]
EXECUTORS: dict[str, Executor] = {}


class JobBlocked(DomainError):
    """A job that must not run: a legal hold or a data-map precondition stands in the way."""

    status = 409

    def __init__(self, message: str, *, code: str, hold_id: int | None = None) -> None:
        super().__init__(message, code=code)
        self.hold_id = hold_id


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job_now(job_id: int) -> None:
    me = worker_id()
    job = job_claim(job_id=job_id, worker_id=me)
    if job is None:
        logger.info("job %s not claimable (taken, done or not yet due)", job_id)
        return
    executor = EXECUTORS.get(job.job_type)
    if executor is None:
        job_fail(job_id=job.pk, worker_id=me, code="no_executor",
                 message=f"No executor is installed for {job.job_type} jobs.")
        return
    try:
        result = executor(job, me)
    except JobBlocked as blocked:
        job_fail(job_id=job.pk, worker_id=me, code=blocked.code, message=blocked.message,
                 hold_id=blocked.hold_id)
        return
    except DomainError as error:
        job_fail(job_id=job.pk, worker_id=me, code=error.code, message=error.message)
        return
    except Exception as error:
        logger.exception("job %s raised", job.pk)
        job_fail(job_id=job.pk, worker_id=me, code="execution_error",
                 message=f"The job stopped with an unexpected {type(error).__name__}; nothing "
                 "was left half-written. See the worker log, then retry.")
        return
    if not job_complete(job_id=job.pk, worker_id=me, result=result):
        logger.warning("job %s finished but its lease was lost; another worker owns it", job.pk)
