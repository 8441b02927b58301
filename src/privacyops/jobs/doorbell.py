"""A job starts within milliseconds of the commit that made it runnable, not at the next poll.

The queue (a django-tasks-db row, or a message on Redis) records that a job wants a worker;
this module makes the sound. Each time a task is enqueued on the database queue, `ring()` wakes
the idle workers that can take it:

- in this process at once (the worker thread of `privacyops serve`, the reconciler's own
  worker), through a `threading.Event`;
- with a PostgreSQL control DB, anywhere: `NOTIFY privacyops_jobs`, which PostgreSQL delivers
  to every worker's `LISTEN` connection when the enqueueing transaction commits;
- with a SQLite control DB (one machine by nature), on this machine: every idle worker binds a
  Unix datagram socket in `<data dir>/run/doorbell/`, and a ring sends one byte to each.

RQ needs none of this: its workers block on Redis and wake when the message lands.

A lost ring costs time, never a job: the worker still looks at the queue every `--interval`
seconds, and the reconciler re-rings approved jobs that nobody took.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction

logger = logging.getLogger(__name__)

CHANNEL = "privacyops_jobs"
# Linux refuses longer Unix socket paths; a data folder that deep falls back to polling.
_MAX_SOCKET_PATH = 107

_woken = threading.Event()
_settled = threading.Condition()


def socket_folder() -> Path:
    return Path(settings.DATA_DIR) / "run" / "doorbell"


def ring() -> None:
    """Wake the idle workers; call after the enqueue is committed (or from inside its transaction
    on PostgreSQL, where the notification is delivered at commit)."""
    _woken.set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    else:
        _ring_sockets()


def ring_after_commit() -> None:
    transaction.on_commit(ring)


def _ring_sockets() -> None:
    folder = socket_folder()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for name in names:
            path = folder / name
            try:
                sender.sendto(b"!", str(path))
            except BlockingIOError:
                pass  # that worker has rings waiting already: it is awake
            except (ConnectionRefusedError, FileNotFoundError):
                path.unlink(missing_ok=True)  # a worker that died without tidying up
            except OSError as error:
                logger.warning("doorbell: cannot ring a worker socket (%s)", error)


def wait(timeout: float) -> bool:
    """Block until a ring or `timeout` seconds; True when rung. Clears the ring it consumed."""
    rung = _woken.wait(timeout)
    _woken.clear()
    return rung


def wake_local() -> None:
    """Wake this process's worker loop (used on shutdown, and by tests of this module)."""
    _woken.set()


class Ear:
    """What an idle worker listens with: a thread that turns remote rings into a local wake-up.

    Start it before the worker's first look at the queue, so no ring between that look and the
    first wait is missed.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._close: Callable[[], None] = lambda: None

    def start(self) -> Ear:
        if connection.vendor == "postgresql":
            target: Callable[[], None] = self._listen_postgresql
        else:
            target = self._listen_socket
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(target, ready),
                                        name="doorbell", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def _run(self, target: Callable[[], None], ready: threading.Event) -> None:
        self._ready = ready
        while not self._stop.is_set():
            try:
                target()
            except Exception as error:
                if self._stop.is_set():
                    return
                logger.warning("doorbell: listening failed (%s); polling until it is back",
                               type(error).__name__)
                ready.set()
                _woken.set()  # something may have rung while we were deaf
                self._stop.wait(2.0)

    def _listen_postgresql(self) -> None:
        wrapper: Any = connections.create_connection("default")
        try:
            wrapper.ensure_connection()
            raw = wrapper.connection
            raw.autocommit = True
            raw.execute(f"LISTEN {CHANNEL}")
            self._close = wrapper.close
            self._ready.set()
            while not self._stop.is_set():
                for _ in raw.notifies(timeout=5.0, stop_after=1):
                    _woken.set()
        finally:
            wrapper.close()

    def _listen_socket(self) -> None:
        folder = socket_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if len(str(path)) > _MAX_SOCKET_PATH:
            logger.warning("doorbell: data folder path too long for a socket; polling instead")
            self._ready.set()
            self._stop.wait()
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ear:
            ear.bind(str(path))
            ear.settimeout(5.0)
            self._close = lambda: path.unlink(missing_ok=True)
            self._ready.set()
            try:
                while not self._stop.is_set():
                    try:
                        ear.recv(64)
                    except TimeoutError:
                        if not path.exists():  # tidied away by someone: bind again
                            return
                        continue
                    _woken.set()
            finally:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        self._stop.set()
        try:
            self._close()
        except Exception:  # noqa: S110 - closing a listener that is already gone
            pass


# --- a job reaching a final status, for long-polling clients in this process -------------

def settled() -> None:
    """A job in this process reached a final status: wake the requests waiting on one."""
    with _settled:
        _settled.notify_all()


def wait_settled(timeout: float) -> None:
    with _settled:
        _settled.wait(timeout)
