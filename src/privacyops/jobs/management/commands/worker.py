from __future__ import annotations

import logging
import threading
import time
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections
from rq.job import Job as RQJob
from rq.queue import Queue as RQQueue
from rq.worker import SimpleWorker

from privacyops.config import TASKS_BACKENDS
from privacyops.execution.runner import worker_id
from privacyops.jobs.services import jobs_reconcile
from privacyops.tenancy.services import login_failure_windows_close_due

logger = logging.getLogger("privacyops.worker")


def reconcile_forever(interval: float, stop: threading.Event) -> None:
    """Re-ring the doorbell for approved jobs nobody holds and for expired leases."""
    while not stop.wait(interval):
        try:
            close_old_connections()
            count = jobs_reconcile(stale_after=timedelta(seconds=max(5.0, interval)))
            if count:
                logger.info("re-enqueued %s job(s) that no worker held", count)
            # Failed sign-ins whose window is over become one audit event each.
            login_failure_windows_close_due()
        except Exception:
            logger.exception("reconciler pass failed; trying again in %ss", interval)
        finally:
            close_old_connections()


def audit_retention_daily(stop: threading.Event, *, first_after: float = 60.0,
                          every: float = 24 * 3600.0) -> None:
    """Archive and delete audit events past each tenant's retention: soon after start, then daily.

    Several workers may each run it: a second pass the same day finds nothing left to cut.
    """
    from privacyops.audit.retention import audit_prune_due
    from privacyops.tenancy.actors import Actor

    wait = first_after
    try:
        while not stop.wait(wait):
            wait = every
            try:
                close_old_connections()
                for sentence in audit_prune_due(actor=Actor.system("retention")):
                    logger.info("audit retention: %s", sentence)
            except Exception:
                logger.exception("audit retention pass failed; trying again in %ss", every)
            finally:
                close_old_connections()
    finally:
        connections.close_all()  # this thread's own connections


def drift_check_daily(stop: threading.Event, *, first_after: float = 120.0,
                      every: float = 24 * 3600.0) -> None:
    """Compare every system's data map with its live schema: soon after start, then daily.

    Each system keeps its last drift; a drift seen for the first time is audited once, so
    several workers running the same pass do no harm.
    """
    from privacyops.execution.drift import drift_check_all
    from privacyops.tenancy.actors import Actor

    wait = first_after
    try:
        while not stop.wait(wait):
            wait = every
            try:
                close_old_connections()
                for sentence in drift_check_all(actor=Actor.system("drift")):
                    logger.info("drift check: %s", sentence)
            except Exception:
                logger.exception("drift check pass failed; trying again in %ss", every)
            finally:
                close_old_connections()
    finally:
        connections.close_all()


class LeasedJobWorker(SimpleWorker):
    """An RQ worker that runs each job in its own process, without forking a work horse.

    The reconciler thread shares this process, and fork() of a threaded process can leave the
    child stuck on a lock the thread held. A job's liveness is its lease, not the horse: a
    worker that dies mid-job loses its lease and another worker takes the job over.
    """

    def execute_job(self, job: RQJob, queue: RQQueue) -> None:
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "Run a job worker: executes queued jobs and re-enqueues jobs the queue lost."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--interval", type=float, default=0.2,
                            help="seconds between polls of an empty queue (default 0.2)")
        parser.add_argument("--reconcile-every", type=float, default=15.0,
                            help="seconds between reconciler passes (default 15)")
        parser.add_argument("--batch", action="store_true",
                            help="exit when the queue is empty (for scripts and tests)")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        threading.Thread(
            target=reconcile_forever, args=(options["reconcile_every"], stop), daemon=True
        ).start()
        threading.Thread(target=audit_retention_daily, args=(stop,), daemon=True).start()
        threading.Thread(target=drift_check_daily, args=(stop,), daemon=True).start()
        backend = settings.TASKS["default"]["BACKEND"]
        try:
            if backend == TASKS_BACKENDS["db"]:
                self._run_db_worker(options)
            elif backend == TASKS_BACKENDS["rq"]:
                self._run_rq_worker(options)
            else:
                raise CommandError(
                    f"The {backend} tasks backend runs jobs in the web process; no worker "
                    "is needed. Set PRIVACYOPS_TASKS_BACKEND=db or rq to use workers."
                )
        finally:
            stop.set()

    def _run_db_worker(self, options: dict[str, Any]) -> None:
        from django_tasks_db.management.commands.db_worker import Worker

        worker = Worker(
            queue_names=["default"], interval=options["interval"], batch=options["batch"],
            backend_name="default", startup_delay=not options["batch"], max_tasks=None,
            worker_id=worker_id(), excluded_queue_names=[],
        )
        worker.configure_signals()
        self.stdout.write(f"Worker {worker.worker_id} started; waiting for jobs.")
        started = time.monotonic()
        worker.run()
        logger.info("worker stopped after %.0fs", time.monotonic() - started)

    def _run_rq_worker(self, options: dict[str, Any]) -> None:
        from django.core.management import call_command
        from django_tasks_rq import Job as TaskJob

        name = worker_id()
        self.stdout.write(f"Worker {name} started on the Redis queue; waiting for jobs.")
        call_command(
            "rqworker", "default", name=name, worker_class=LeasedJobWorker, job_class=TaskJob,
            burst=options["batch"], with_scheduler=False, verbosity=options["verbosity"],
        )
