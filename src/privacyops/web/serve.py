"""`privacyops serve`: one gunicorn web process with the job worker as a thread inside it.

The command checks the settings, then replaces itself with gunicorn (exec), so no supervising
process keeps a whole Django in memory. Gunicorn's master holds only gunicorn; its web
process serves pages on threads and, unless `--no-worker`, runs the job worker loop and the
reconciler on threads beside them (see gunicorn_conf.py). A job enqueued by a page or an API
call there wakes that worker through an in-process event: no poll, no socket.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

SERVE_WORKER_VARIABLE = "PRIVACYOPS_SERVE_JOB_WORKER"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="privacyops serve",
        description="Start the web server (gunicorn) with a job worker inside it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn web processes (1); each serves --threads requests at once")
    parser.add_argument("--threads", type=int, default=8,
                        help="concurrent requests per web process (8)")
    parser.add_argument("--no-worker", action="store_true",
                        help="do not run a job worker (run `privacyops worker` elsewhere)")
    return parser


def gunicorn_argv(options: argparse.Namespace) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "privacyops.wsgi:application",
        "--config", "python:privacyops.web.gunicorn_conf",
        "--bind", f"{options.host}:{options.port}",
        "--workers", str(max(1, options.workers)), "--threads", str(max(1, options.threads)),
    ]


def main(argv: list[str]) -> None:
    options = parser().parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "privacyops.settings")
    # Emailed links point at this server unless PRIVACYOPS_BASE_URL names the public address.
    shown = "127.0.0.1" if options.host in {"0.0.0.0", "::"} else options.host  # noqa: S104
    os.environ.setdefault("PRIVACYOPS_BASE_URL", f"http://{shown}:{options.port}")
    # Reading the settings module reports a missing secret or extra before anything starts.
    settings = importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    from privacyops.config import TASKS_BACKENDS

    # The immediate backend runs jobs inside the request: a worker would have nothing to take.
    in_request = settings.TASKS["default"]["BACKEND"] == TASKS_BACKENDS["immediate"]
    env = {**os.environ, SERVE_WORKER_VARIABLE: "0" if options.no_worker or in_request else "1"}
    host = "127.0.0.1" if options.host in {"0.0.0.0", "::"} else options.host  # noqa: S104
    print(f"PrivacyOps is starting at http://{host}:{options.port}/ "
          f"(data folder {settings.DATA_DIR}). Press Ctrl+C to stop.", flush=True)
    argv_ = gunicorn_argv(options)
    os.execve(sys.executable, argv_, env)  # noqa: S606
