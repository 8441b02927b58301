"""VACUUM after an erasure on PostgreSQL, once the job's outcome is recorded, off the worker.

An UPDATE or DELETE on PostgreSQL leaves the old row versions in the table's file until vacuum
prunes them. An ERASE or PURGE names the tables it changed in its result (``vacuumed``); once
the job is recorded Completed they are handed to this process's vacuum thread, which runs the
VACUUMs one after another while the worker goes on to the next job: neither the person's answer
nor the next job waits for them (VACUUM of a large table takes longer than the erasure itself).
A VACUUM that fails, or a process that ends before it ran, only leaves the pruning to
autovacuum; the warning names the datastore.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from privacyops.execution.ledger import vacuum_after_erase

if TYPE_CHECKING:
    from privacyops.connectors.sql import SqlDatastore
    from privacyops.jobs.models import Job

logger = logging.getLogger(__name__)

_waiting: queue.Queue[tuple[SqlDatastore, list[str]]] = queue.Queue()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def vacuum_planned(datastore: SqlDatastore, tables: Iterable[str]) -> list[str]:
    """The tables to VACUUM once the job is recorded: the changed ones, on PostgreSQL, unless
    PRIVACYOPS_VACUUM_AFTER_ERASE is off."""
    if not settings.VACUUM_AFTER_ERASE or datastore.engine.dialect.name != "postgresql":
        return []
    return list(dict.fromkeys(tables))


def vacuum_soon(datastore: SqlDatastore, tables: Iterable[str]) -> None:
    """Hand the changed tables of a recorded erasure to the vacuum thread (started on first
    use); nothing on other databases or with the setting off."""
    chosen = vacuum_planned(datastore, tables)
    if not chosen:
        return
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_vacuum_forever, name="vacuum", daemon=True)
            _thread.start()
    _waiting.put((datastore, chosen))


def vacuum_after_job(job: Job, result: dict[str, Any]) -> None:
    """A completed single-system ERASE or PURGE: its planned tables to the vacuum thread."""
    from privacyops.execution.registry import datastore_for

    if result.get("vacuumed"):
        vacuum_soon(datastore_for(job.tenant), result["vacuumed"])


def vacuums_done(timeout: float = 60.0) -> bool:
    """Wait until every VACUUM handed over so far has run (tests; a worker that stops).
    False when the timeout passed first."""
    done = threading.Event()

    def wait() -> None:
        _waiting.join()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done.wait(timeout)


def _vacuum_forever() -> None:
    while True:
        datastore, tables = _waiting.get()
        try:
            vacuum_after_erase(datastore, tables)
        except Exception:  # the thread must outlive any one datastore's trouble
            logger.exception("VACUUM after erasure failed on datastore %s",
                             datastore.datamap.name)
        finally:
            _waiting.task_done()
