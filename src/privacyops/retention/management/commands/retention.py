from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.connectors.sql_retention import RetentionResult
from privacyops.errors import DomainError
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job
from privacyops.retention.selectors import retention_rules
from privacyops.retention.services import retention_preview, retention_schedule
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant


def _tables(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in counts.items() if n) or "nothing"


def describe(result: RetentionResult) -> str:
    verb = "would" if result.dry_run else "did"
    removed = (f"erase {_tables(result.erased)}" if result.action == "erase"
               else f"delete {_tables(result.deleted)}")
    return (f"{result.entity}: {result.due} row(s) due (dated {result.cutoff} or earlier); "
            f"{verb} {removed}; {result.held} held by a legal hold, {result.kept} kept by a "
            "keep rule")


class Command(BaseCommand):
    help = ("Retention schedules from the data map: list each tenant's rules, preview the next "
            "run (--dry-run) or run them now as jobs.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        run = sub.add_parser("run", help="run the tenant's retention rules now (as jobs)")
        run.add_argument("--tenant", metavar="SLUG", required=True)
        run.add_argument("--dry-run", action="store_true",
                         help="show what the next run would remove; change nothing")
        listing = sub.add_parser("list", help="each rule with its last run and next run")
        listing.add_argument("--tenant", metavar="SLUG", help="only this tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['subcommand']}")(options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _tenant(self, slug: str) -> Tenant:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}; `privacyops manage shell` lists them.")
        return tenant

    def _run(self, options: dict[str, Any]) -> None:
        tenant = self._tenant(options["tenant"])
        if options["dry_run"]:
            previews = retention_preview(tenant=tenant)
            for preview in previews:
                self.stdout.write(describe(preview))
            if not previews:
                self.stdout.write(f"Tenant {tenant.slug} has no retention rules.")
            return
        jobs = retention_schedule(tenant=tenant, actor=Actor.system("retention"), enqueue=False)
        for job in jobs:
            run_job_now(job.pk)
            job.refresh_from_db()
            outcome: dict[str, Any] = job.result or {}
            if job.status == "Completed":
                self.stdout.write(
                    f"{job.target_id}: job #{job.pk} {job.job_type} completed; "
                    f"{outcome.get('rows_removed', 0)} row(s) removed, "
                    f"{outcome.get('held', 0)} held, {outcome.get('kept', 0)} kept")
            else:
                self.stdout.write(f"{job.target_id}: job #{job.pk} is {job.status}: "
                                  f"{job.error_message}")
        if not jobs:
            self.stdout.write(f"Tenant {tenant.slug}: no rule to run (none declared, or each "
                              "has a job waiting or running).")

    def _list(self, options: dict[str, Any]) -> None:
        tenants = ([self._tenant(options["tenant"])] if options["tenant"]
                   else list(Tenant.objects.filter(systems__isnull=False).distinct().order_by("slug")))
        for row in retention_rules(tenants):
            last: Job | None = row.last_job
            ran = (f"last run {row.last_run:%Y-%m-%d %H:%M} UTC ({last.status}, "
                   f"{row.rows_removed or 0} removed)" if last and row.last_run else "never run")
            self.stdout.write(f"{row.tenant.slug} {row.entity}: {row.rule}; {ran}")
