"""Runs one job: claim the row with a lease, keep the lease alive, execute, record the outcome."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections

from privacyops.connectors import TargetNotFound
from privacyops.errors import DomainError
from privacyops.execution.errors import JobBlocked, LeaseLost
from privacyops.jobs.services import (
    job_claim,
    job_complete,
    job_fail,
    job_heartbeat,
    job_release_for_retry,
)

if TYPE_CHECKING:
    from privacyops.audit.models import AuditEvent
    from privacyops.jobs.models import Job

logger = logging.getLogger(__name__)

# Failures worth another attempt: the datastore (or a fixed data map) may be there next time.
RETRYABLE_CODES = frozenset({"datastore_unavailable", "datamap_unusable", "execution_error"})


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def lease_kept_alive(job_id: int, worker: str) -> Iterator[threading.Event]:
    """Renew the lease every third of its length while the job runs.

    The returned event is set when the lease was lost; destructive steps check the lease
    under the hold lock too, so a worker that lost it never writes again.
    """
    lost, done = threading.Event(), threading.Event()
    interval = max(0.5, settings.JOB_LEASE_SECONDS / 3)

    def renew() -> None:
        try:
            while not done.wait(interval):
                if not job_heartbeat(job_id=job_id, worker_id=worker):
                    lost.set()
                    return
        except Exception:
            logger.exception("job %s: heartbeat failed", job_id)
        finally:
            close_old_connections()

    thread = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        done.set()
        thread.join()


def _failed(job_id: int, attempts: int, me: str, code: str, message: str) -> None:
    if code in RETRYABLE_CODES and attempts < settings.JOB_MAX_ATTEMPTS:
        job_release_for_retry(job_id=job_id, worker_id=me, code=code, message=message)
        logger.warning("job %s: attempt %s failed (%s); it will be retried", job_id, attempts,
                       code)
    else:
        job_fail(job_id=job_id, worker_id=me, code=code, message=message)


def run_job_now(job_id: int, *, worker: str | None = None) -> None:
    from privacyops.execution.executors import EXECUTORS

    me = worker or worker_id()
    job = job_claim(job_id=job_id, worker_id=me)
    if job is None:
        logger.debug("job %s not claimable (taken, done or not yet due)", job_id)
        return
    executor = EXECUTORS[job.job_type]
    if job.identity:  # a subject named by identity: one step per system (execution/multi.py)
        from privacyops.execution.multi import run_multi

        executor = run_multi  # type: ignore[assignment]
    elif job.target_type == "retention" and job.is_destructive:
        from privacyops.retention.services import run_retention

        executor = run_retention
    try:
        with lease_kept_alive(job.pk, me):
            outcome: Any = executor(job, me)
    except LeaseLost:
        logger.warning("job %s: lease lost to another worker; stopping", job.pk)
        return
    except JobBlocked as blocked:
        job_fail(job_id=job.pk, worker_id=me, code=blocked.code, message=blocked.message,
                 hold_id=blocked.hold_id)
        return
    except TargetNotFound:  # final: another attempt would not find it either
        job_fail(job_id=job.pk, worker_id=me, code="target_not_found",
                 message=f"The {job.target_type} this job names does not exist in the "
                 "tenant's data. Check the target on the job page and create a new job.")
        return
    except DomainError as error:
        _failed(job.pk, job.attempts, me, error.code, error.message)
        return
    except Exception as error:
        logger.exception("job %s raised", job.pk)
        _failed(job.pk, job.attempts, me, "execution_error",
                f"The attempt stopped with an unexpected {type(error).__name__}; no datastore "
                "transaction was left half-written. See the worker log.")
        return
    if outcome is None:  # the executor ended (or parked) the job itself
        return
    from privacyops.execution.executors import Finished
    from privacyops.execution.ledger import erasure_recorded

    on_completed: Callable[[Job, AuditEvent], None] | None = (
        erasure_recorded if job.is_destructive else None)
    result: dict[str, Any] = outcome
    if isinstance(outcome, Finished):
        result, on_completed = outcome.result, outcome.on_completed
    if not job_complete(job_id=job.pk, worker_id=me, result=result,
                        on_completed=on_completed):
        logger.warning("job %s finished but its lease was lost; another worker owns it", job.pk)
        return
    if job.is_destructive:
        from privacyops.execution.vacuum import vacuum_after_job

        vacuum_after_job(job, result)
