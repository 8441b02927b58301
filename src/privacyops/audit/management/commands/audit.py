from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.audit.selectors import audit_verify


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` checks the hash chain."
    # Verifying evidence must not depend on the web layer importing cleanly.
    requires_system_checks = []  # noqa: RUF012 - Django reads it as an instance attribute

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="check every link of the hash chain")

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify(processes=min(4, os.cpu_count() or 1))
        if not result.ok:
            raise CommandError(result.sentence())
        self.stdout.write(result.sentence())
