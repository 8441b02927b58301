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
            "recorded since a backup was taken to a datastore restored from that backup. A job "
            "that ran on several systems (by identity, or a tenant purge) is re-applied system "
            "by system, each with the key it had there.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        replay = sub.add_parser(
            "replay", help="re-apply the ledger since TIMESTAMP",
            description=(
                "Re-apply every ERASE and PURGE recorded since TIMESTAMP (when the backup was "
                "taken) to the tenant's restored datastores, oldest first. One line per entry "
                "and system: the rows it changed (0: already applied), then whether anything "
                "remained. A job that ran on several systems has a line per system, each "
                "with the subject's key in that system. Restored only one system's datastore? "
                "Name it with --system: the other systems, which were not restored, are left "
                "alone. Restored several? Leave --system out, or run once per system."))
        replay.add_argument("--tenant", metavar="SLUG", required=True,
                            help="the tenant whose ledger is replayed")
        replay.add_argument(
            "--system", metavar="NAME",
            help="only this system (its name, as `privacyops system list --tenant SLUG` shows "
                 "it): its part "
                 "of every entry, multi-system ones included; default: every system of the "
                 "tenant")
        replay.add_argument("--since", metavar="TIMESTAMP", required=True,
                            help="when the restored backup was taken (ISO 8601; UTC if no offset)")
        replay.add_argument("--dry-run", action="store_true",
                            help="count what each entry would change; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _moment(options["since"])
        dry_run = options["dry_run"]
        try:
            tenant = tenant_by_slug(options["tenant"])
            report = ledger_replay(tenant=tenant, since=since, system=options["system"],
                                   dry_run=dry_run, actor=Actor.system("console"))
        except DomainError as error:
            raise CommandError(error.message) from None
        where = (f"system {options['system']}" if options["system"] else
                 "every system" + (f" ({', '.join(report.systems)})" if report.systems else ""))
        heading = f"ledger of tenant {tenant.slug} since {since.isoformat()}, on {where}:"
        self.stdout.write(f"Dry run: {heading}" if dry_run else "L" + heading[1:])
        verb = "would change" if dry_run else "changed"
        for line in report.lines:
            entry, part = line.entry, line.part
            outcome = (f"{line.rows} row(s) {verb}" if part.replayable else
                       f"not replayed ({line.note}): erase it there by hand if it was restored")
            self.stdout.write(
                f"#{entry.pk} {entry.recorded_at.isoformat()} {entry.action} {part.label} "
                f"on {part.system} (job #{entry.job_id}): {outcome}")
        if report.vacuumed:
            self.stdout.write("VACUUM: " + ", ".join(report.vacuumed))
        self.stdout.write(report.summary())
        if report.remaining and not dry_run:
            raise CommandError("Rows remained after the replay.")
