from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.audit.signing import key_id, public_key, public_key_from_text, public_key_text
from privacyops.errors import DomainError
from privacyops.execution.receipts import receipt_problems


class Command(BaseCommand):
    help = ("Erasure receipts: print the public key that verifies them, or verify a receipt "
            "file (signature, and against this installation the audit event it names).")
    requires_system_checks = []  # noqa: RUF012 - Django reads it as an instance attribute

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("key", help="print the public key that verifies receipts")
        verify = sub.add_parser("verify", help="verify a receipt file")
        verify.add_argument("file", metavar="FILE")
        verify.add_argument("--key", metavar="BASE64",
                            help="verify with this public key only (offline: the audit chain "
                                 "is not consulted)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["subcommand"] == "key":
                public = public_key(create=True)
                self.stdout.write(f"Ed25519 public key (base64): {public_key_text(public)}")
                self.stdout.write(f"key id: {key_id(public)}")
                return
            self._verify(options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _verify(self, options: dict[str, Any]) -> None:
        path = Path(options["file"])
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"{path} cannot be read as a JSON receipt: {error}") from None
        offline = options["key"] is not None
        try:
            public = public_key_from_text(options["key"]) if offline else None
        except ValueError:
            raise CommandError("--key is not a base64 Ed25519 public key; copy it from "
                               "/.well-known/privacyops/receipt-key.") from None
        problems = receipt_problems(document, public=public, check_chain=not offline)
        if problems:
            raise CommandError("REFUSED: " + " ".join(problems))
        event = document["audit"]["event"]
        where = ("signature valid" if offline else
                 f"signature valid; audit event #{event['seq']} is in this installation's "
                 "verified chain")
        self.stdout.write(f"OK: receipt of job #{document['job']['id']} ({where}).")
