from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.audit.selectors import audit_verify


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` checks the hash chain."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="check every link of the hash chain")

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        if not result.ok:
            raise CommandError(result.sentence())
        self.stdout.write(result.sentence())
