from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from privacyops.config import TASKS_BACKENDS


class Command(BaseCommand):
    help = "Start the web server (gunicorn) and a job worker together."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port (8000)")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
        parser.add_argument("--no-worker", action="store_true",
                            help="do not start a job worker (run `privacyops worker` elsewhere)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "privacyops.settings"}
        bind = f"{options['host']}:{options['port']}"
        processes = [
            subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "gunicorn", "privacyops.wsgi:application",
                 "--config", "python:privacyops.web.gunicorn_config", "--bind", bind,
                 "--workers", str(options["workers"]), "--threads", "4",
                 "--access-logfile", "-",
                 # No path or query: signed download links and verification tokens live there.
                 "--access-logformat", '%(t)s "%(m)s" %(s)s %(b)s %(M)sms', "--graceful-timeout", "10"],
                env=env,
            )
        ]
        # The immediate backend runs jobs inside the web process: a worker would have nothing
        # to take. With db or rq, this worker is one of possibly many (`privacyops worker`).
        in_process = settings.TASKS["default"]["BACKEND"] == TASKS_BACKENDS["immediate"]
        if not options["no_worker"] and not in_process:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "privacyops.cli", "worker"], env=env
                )
            )
        host = "127.0.0.1" if options["host"] in {"0.0.0.0", "::"} else options["host"]  # noqa: S104
        self.stdout.write(f"PrivacyOps is running at http://{host}:{options['port']}/ "
                          f"(data folder {settings.DATA_DIR}). Press Ctrl+C to stop.")

        def stop(*_: Any) -> None:
            for process in processes:
                if process.poll() is None:
                    process.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
