from __future__ import annotations

import json
import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.audit.checkpoints import checkpoint_document, signed_head_from_document
from privacyops.audit.retention import archive_verify, audit_prune_due
from privacyops.audit.selectors import audit_verify
from privacyops.audit.services import audit_checkpoint_create
from privacyops.audit.signing import key_id, key_path, public_key, public_key_text
from privacyops.errors import DomainError
from privacyops.tenancy.actors import Actor


class Command(BaseCommand):
    help = ("Audit log tools: verify the hash chain, sign checkpoints, print the public key, "
            "archive and delete events past each tenant's retention.")
    # Verifying evidence must not depend on the web layer importing cleanly.
    requires_system_checks = []  # noqa: RUF012 - Django reads it as an instance attribute

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser(
            "verify", help="check every link of the hash chain and the signed checkpoints")
        verify.add_argument("--checkpoint", metavar="FILE",
                            help="also hold the chain against a checkpoint file kept elsewhere")
        verify.add_argument("--archive", metavar="FILE",
                            help="verify a retention archive (.jsonl.gz) instead of the chain")
        checkpoint = sub.add_parser("checkpoint", help="sign the current chain head now")
        checkpoint.add_argument("--out", metavar="FILE",
                                help="also write the signed checkpoint to FILE (keep it "
                                     "outside the database)")
        sub.add_parser("key", help="print the public key that verifies checkpoints")
        prune = sub.add_parser(
            "prune", help="archive, then delete, events older than each tenant's retention")
        prune.add_argument("--tenant", metavar="SLUG", help="only this tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['subcommand']}")(options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _verify(self, options: dict[str, Any]) -> None:
        if options["archive"]:
            report = archive_verify(Path(options["archive"]))
            if not report.ok:
                raise CommandError(report.sentence())
            self.stdout.write(report.sentence())
            return
        head = None
        if options["checkpoint"]:
            head = signed_head_from_document(Path(options["checkpoint"]).read_text())
        result = audit_verify(processes=min(4, os.cpu_count() or 1), checkpoint=head)
        if not result.ok:
            raise CommandError(result.sentence())
        self.stdout.write(result.sentence())

    def _checkpoint(self, options: dict[str, Any]) -> None:
        checkpoint = audit_checkpoint_create(actor=Actor.system("console"))
        if options["out"]:
            Path(options["out"]).write_text(
                json.dumps(checkpoint_document(checkpoint), indent=2) + "\n")
        self.stdout.write(f"Signed checkpoint at event #{checkpoint.seq} ({checkpoint.hash})"
                          + (f", written to {options['out']}." if options["out"] else "."))

    def _key(self, options: dict[str, Any]) -> None:
        public = public_key(create=True)
        self.stdout.write(f"Ed25519 public key (base64): {public_key_text(public)}")
        self.stdout.write(f"key id: {key_id(public)}")
        self.stdout.write(f"private key file: {key_path()}")

    def _prune(self, options: dict[str, Any]) -> None:
        for line in audit_prune_due(actor=Actor.system("console"), tenant_slug=options["tenant"]):
            self.stdout.write(line)
