"""Runs one job: claim the row with a lease, execute, record the outcome."""

from __future__ import annotations

import logging
import os
import socket

from privacyops.errors import DomainError
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.jobs.services import job_claim, job_complete, job_fail

logger = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job_now(job_id: int, *, worker: str | None = None) -> None:
    from privacyops.execution.executors import EXECUTORS

    me = worker or worker_id()
    job = job_claim(job_id=job_id, worker_id=me)
    if job is None:
        logger.info("job %s not claimable (taken, done or not yet due)", job_id)
        return
    executor = EXECUTORS[job.job_type]
    try:
        result = executor(job, me)
    except LeaseLost:
        logger.warning("job %s: lease lost to another worker; stopping", job.pk)
        return
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
                 message=f"The job stopped with an unexpected {type(error).__name__}; no "
                 "datastore transaction was left half-written. See the worker log, then retry.")
        return
    if not job_complete(job_id=job.pk, worker_id=me, result=result):
        logger.warning("job %s finished but its lease was lost; another worker owns it", job.pk)
