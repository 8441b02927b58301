from __future__ import annotations

import logging
import threading
import time
from argparse import ArgumentParser
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections

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


def run_daily(stop: threading.Event, *, name: str, one_pass: Callable[[], list[str]],
              first_after: float, every: float = 24 * 3600.0) -> None:
    """Run `one_pass` soon after start, then every day, until `stop`; a failed pass is logged
    and tried again the next day. Several workers may each run it: every pass is idempotent."""
    wait = first_after
    try:
        while not stop.wait(wait):
            wait = every
            try:
                close_old_connections()
                for sentence in one_pass():
                    logger.info("%s: %s", name, sentence)
            except Exception:
                logger.exception("%s pass failed; trying again in %ss", name, every)
            finally:
                close_old_connections()
    finally:
        connections.close_all()  # this thread's own connections


def audit_retention_daily(stop: threading.Event, *, first_after: float = 60.0,
                          every: float = 24 * 3600.0) -> None:
    """Archive and delete audit events past each tenant's retention (a second pass the same
    day finds nothing left to cut)."""
    from privacyops.audit.retention import audit_prune_due
    from privacyops.tenancy.actors import Actor

    run_daily(stop, name="audit retention", first_after=first_after, every=every,
              one_pass=lambda: audit_prune_due(actor=Actor.system("retention")))


def drift_check_daily(stop: threading.Event, *, first_after: float = 120.0,
                      every: float = 24 * 3600.0) -> None:
    """Compare every system's data map with its live schema (a drift seen before is not
    audited again)."""
    from privacyops.execution.drift import drift_check_all
    from privacyops.tenancy.actors import Actor

    run_daily(stop, name="drift check", first_after=first_after, every=every,
              one_pass=lambda: drift_check_all(actor=Actor.system("drift")))


def retention_schedule_daily(stop: threading.Event, *, first_after: float = 90.0,
                             every: float = 24 * 3600.0) -> None:
    """Create each tenant's retention jobs (a rule with a job waiting, running or run within
    the day gets no second one)."""
    from privacyops.retention.services import retention_schedule_due
    from privacyops.tenancy.actors import Actor

    run_daily(stop, name="retention schedule", first_after=first_after, every=every,
              one_pass=lambda: retention_schedule_due(actor=Actor.system("retention")))


def manual_tasks_hourly(stop: threading.Event, *, first_after: float = 150.0,
                        every: float = 3600.0) -> None:
    """Manual systems: remind owners halfway to the deadline (once), fail steps whose deadline
    passed. Hourly, so a deadline is kept to the hour; a second pass finds nothing to do."""
    from privacyops.manual.services import manual_tasks_due

    run_daily(stop, name="manual steps", first_after=first_after, every=every,
              one_pass=manual_tasks_due)


class Command(BaseCommand):
    help = "Run a job worker: executes queued jobs and re-enqueues jobs the queue lost."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--interval", type=float, default=5.0,
                            help="seconds between looks at an empty queue when no ring arrives "
                            "(default 5; a ring wakes the worker at once)")
        parser.add_argument("--reconcile-every", type=float, default=15.0,
                            help="seconds between reconciler passes (default 15)")
        parser.add_argument("--batch", action="store_true",
                            help="exit when the queue is empty (for scripts and tests)")

    def handle(self, *args: Any, **options: Any) -> None:
        run_worker(interval=options["interval"], reconcile_every=options["reconcile_every"],
                   batch=options["batch"], verbosity=options["verbosity"],
                   announce=self.stdout.write)


def run_worker(
    *, interval: float = 5.0, reconcile_every: float = 15.0, batch: bool = False,
    verbosity: int = 1, announce: Any = logger.info, stop: threading.Event | None = None,
) -> None:
    """The worker loop with its reconciler beside it: in its own process (`privacyops worker`)
    or in a thread of a web process (`privacyops serve`), where `stop` ends it."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    stop = stop or threading.Event()
    threading.Thread(
        target=reconcile_forever, args=(reconcile_every, stop), name="reconciler", daemon=True
    ).start()
    threading.Thread(target=audit_retention_daily, args=(stop,), name="audit-retention",
                     daemon=True).start()
    threading.Thread(target=retention_schedule_daily, args=(stop,), name="retention-schedule",
                     daemon=True).start()
    threading.Thread(target=drift_check_daily, args=(stop,), name="drift-check",
                     daemon=True).start()
    threading.Thread(target=manual_tasks_hourly, args=(stop,), name="manual-steps",
                     daemon=True).start()
    backend = settings.TASKS["default"]["BACKEND"]
    try:
        if backend == TASKS_BACKENDS["db"]:
            from privacyops.jobs.worker import DoorbellWorker

            worker = DoorbellWorker(interval=interval, batch=batch, worker_id=worker_id(),
                                    stop=stop)
            if in_main_thread:
                worker.configure_signals()
            announce(f"Worker {worker.worker_id} started; waiting for jobs.")
            started = time.monotonic()
            worker.run()
            logger.info("worker stopped after %.0fs", time.monotonic() - started)
        elif backend == TASKS_BACKENDS["rq"]:
            from privacyops.jobs.worker import run_rq_worker

            run_rq_worker(batch=batch, verbosity=verbosity, announce=announce, stop=stop,
                          in_main_thread=in_main_thread)
        else:
            raise CommandError(
                f"The {backend} tasks backend runs jobs in the web process; no worker "
                "is needed. Set PRIVACYOPS_TASKS_BACKEND=db or rq to use workers."
            )
    finally:
        stop.set()
