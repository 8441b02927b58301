"""The two worker loops: the database queue woken by the doorbell, and RQ on Redis.

Both run in a process of their own (`privacyops worker`) or in a thread of a web process
(`privacyops serve`); only the main thread installs signal handlers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import close_old_connections
from django.db.utils import OperationalError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from privacyops.jobs import doorbell
from privacyops.jobs.commits import commit_without_waiting

logger = logging.getLogger("privacyops.worker")


class DoorbellWorker(Worker):
    """django-tasks-db's worker, idling on the doorbell instead of sleeping between polls.

    It looks at the queue when rung, and every `interval` seconds in case a ring was lost.
    """

    def __init__(self, *, interval: float, batch: bool, worker_id: str,
                 stop: threading.Event) -> None:
        super().__init__(
            queue_names=["default"], interval=interval, batch=batch, backend_name="default",
            startup_delay=False, max_tasks=None, worker_id=worker_id, excluded_queue_names=[],
        )
        self.stop = stop

    def _next_task(self) -> tuple[DBTaskResult | None, bool]:
        """Claim the next ready task: (task or None, whether the queue could be read)."""
        tasks = DBTaskResult.objects.ready().filter(
            backend_name=self.backend_name, queue_name__in=self.queue_names
        )
        with exclusive_transaction(tasks.db):
            commit_without_waiting(tasks.db)  # a claim lost in a database crash is retaken
            try:
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)
                return task_result, True
            except OperationalError as error:
                if is_locked_database_exception(error):
                    return None, False
                raise

    def run(self) -> None:
        ear = None if self.batch else doorbell.Ear().start()
        try:
            while self.running and not self.stop.is_set():
                close_old_connections()
                task_result, read = self._next_task()
                if task_result is not None:
                    self.run_task(task_result)
                    continue
                close_old_connections()
                if self.batch and read:
                    logger.info("No more tasks for worker_id=%s; exiting.", self.worker_id)
                    return
                if self.running and not self.stop.is_set():
                    doorbell.wait(self.interval)
        finally:
            if ear is not None:
                ear.close()

    def shutdown(self, signum: int, frame: Any) -> None:
        self.stop.set()
        doorbell.wake_local()
        super().shutdown(signum, frame)


def run_rq_worker(*, batch: bool, verbosity: int, announce: Any, stop: threading.Event,
                  in_main_thread: bool) -> None:
    from rq.timeouts import BaseDeathPenalty
    from rq.worker import SimpleWorker

    try:
        from django_rq.workers import get_worker
        from django_tasks_rq import Job as TaskJob
    except ImportError as error:  # pragma: no cover - the settings check names the extra first
        raise RuntimeError("PRIVACYOPS_TASKS_BACKEND=rq needs the scale extra: "
                           "pip install 'privacyops[scale]'.") from error

    class NoDeathPenalty(BaseDeathPenalty):
        """A job's liveness is its lease, renewed by heartbeat, not an alarm signal."""

        def setup_death_penalty(self) -> None:
            pass

        def cancel_death_penalty(self) -> None:
            pass

    class LeasedJobWorker(SimpleWorker):
        """An RQ worker that runs each job in its own process, without forking a work horse.

        The reconciler thread shares this process, and fork() of a threaded process can leave
        the child stuck on a lock the thread held. A job's liveness is its lease, not the
        horse: a worker that dies mid-job loses its lease and another worker takes it over.
        """

        death_penalty_class = NoDeathPenalty

        def _install_signal_handlers(self) -> None:
            if in_main_thread:
                super()._install_signal_handlers()

        def execute_job(self, job: Any, queue: Any) -> None:
            close_old_connections()
            try:
                super().execute_job(job, queue)
            finally:
                close_old_connections()

    from privacyops.execution.runner import worker_id

    name = worker_id()
    worker = get_worker("default", worker_class=LeasedJobWorker,  # type: ignore[arg-type]
                        job_class=TaskJob, name=name)
    announce(f"Worker {name} started on the Redis queue; waiting for jobs.")

    def stop_when_asked() -> None:
        stop.wait()
        worker._stop_requested = True

    threading.Thread(target=stop_when_asked, name="rq-stop", daemon=True).start()
    level = "DEBUG" if verbosity >= 2 else ("WARNING" if verbosity == 0 else "INFO")
    worker.work(burst=batch, with_scheduler=False, logging_level=level)
