from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.errors import DomainError
from privacyops.execution.ledger import ledger_replay, tenant_by_slug
from privacyops.tenancy.actors import Actor


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since {text!r} is not an ISO 8601 time; write it like "
                           "2026-11-30T02:00:00Z (the time the backup was taken).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = ("The erasure ledger: `ledger replay` re-applies, in order, every ERASE and PURGE "
            "recorded since a backup was taken to a datastore restored from that backup.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        replay = sub.add_parser("replay", help="re-apply the ledger since TIMESTAMP")
        replay.add_argument("--tenant", metavar="SLUG", required=True)
        replay.add_argument("--system", metavar="NAME",
                            help="only this system (data map name); default: all of the tenant's")
        replay.add_argument("--since", metavar="TIMESTAMP", required=True,
                            help="when the restored backup was taken (ISO 8601; UTC if no offset)")
        replay.add_argument("--dry-run", action="store_true",
                            help="count what each entry would change; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _moment(options["since"])
        try:
            report = ledger_replay(
                tenant=tenant_by_slug(options["tenant"]), since=since, system=options["system"],
                dry_run=options["dry_run"], actor=Actor.system("console"))
        except DomainError as error:
            raise CommandError(error.message) from None
        verb = "would change" if options["dry_run"] else "changed"
        for line in report.lines:
            entry = line.entry
            self.stdout.write(
                f"#{entry.pk} {entry.recorded_at.isoformat()} {entry.action} "
                f"{entry.target_type}:{entry.target_id} on {entry.system} (job #{entry.job_id}): "
                f"{line.rows} row(s) {verb}")
        if report.vacuumed:
            self.stdout.write("VACUUM: " + ", ".join(report.vacuumed))
        self.stdout.write(report.summary())
        if report.remaining and not options["dry_run"]:
            raise CommandError("Rows remained after the replay.")
