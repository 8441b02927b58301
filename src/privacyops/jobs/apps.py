from typing import Any

from django.apps import AppConfig


def _ring_for_database_queue(sender: type, **kwargs: Any) -> None:
    from django_tasks_db.backend import DatabaseBackend

    from privacyops.jobs import doorbell

    if issubclass(sender, DatabaseBackend):
        doorbell.ring_after_commit()


class JobsConfig(AppConfig):
    name = "privacyops.jobs"
    label = "jobs"

    def ready(self) -> None:
        from django_tasks.signals import task_enqueued

        # Every enqueue on the database queue wakes the idle workers (see doorbell.py).
        task_enqueued.connect(_ring_for_database_queue, dispatch_uid="privacyops-doorbell")
