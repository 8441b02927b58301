"""Gunicorn settings of `privacyops serve`, and the job worker thread in each web process."""

from __future__ import annotations

import os
import threading
from typing import Any

import privacyops.web.gunicorn_config  # noqa: F401 - drops gunicorn's Server banner

worker_class = "gthread"
graceful_timeout = 10
accesslog = "-"
# No path or query: signed download links and verification tokens live there. The route
# pattern that answered (`/downloads/<str:token>/`, or "(no route)") stands in for the path;
# privacyops.logs.AccessLogRouteMiddleware puts it in the WSGI environ.
access_log_format = '%(t)s "%(m)s %({privacyops.route}e)s" %(s)s %(b)s %(M)sms'

_stop = threading.Event()
_thread: threading.Thread | None = None


def post_worker_init(worker: Any) -> None:
    """Load the URLs before the first request, and start the job worker thread."""
    global _thread
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view now, not on the first request
    if os.environ.get("PRIVACYOPS_SERVE_JOB_WORKER") != "1":
        return
    from privacyops.jobs.management.commands.worker import run_worker

    _thread = threading.Thread(target=run_worker, kwargs={"stop": _stop}, name="job-worker",
                               daemon=True)
    _thread.start()


def worker_exit(server: Any, worker: Any) -> None:
    """Let a running job finish (within the graceful timeout) before the process ends."""
    if _thread is None:
        return
    from privacyops.jobs import doorbell

    _stop.set()
    doorbell.wake_local()
    _thread.join(timeout=graceful_timeout)
control_socket_disable = True  # a path in $HOME shared by every gunicorn on the machine
