from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from privacyops.web.serve import main, parser


class Command(BaseCommand):
    help = "Start the web server (gunicorn) with a job worker inside it."

    def add_arguments(self, parser_: ArgumentParser) -> None:
        for action in parser()._actions:
            if action.dest != "help":
                parser_._add_action(action)

    def handle(self, *args: Any, **options: Any) -> None:
        argv = ["--host", options["host"], "--port", str(options["port"]),
                "--workers", str(options["workers"]), "--threads", str(options["threads"])]
        main(argv + (["--no-worker"] if options["no_worker"] else []))
