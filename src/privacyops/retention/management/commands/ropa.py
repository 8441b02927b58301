from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.errors import DomainError
from privacyops.retention.ropa import ropa_csv, ropa_html, ropa_rows, tenant_datamaps
from privacyops.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Print the record of processing activities (GDPR Art. 30) of a tenant as CSV or HTML."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", required=True)
        parser.add_argument("--format", choices=["csv", "html"], default="csv")
        parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}.")
        try:
            rows = ropa_rows(tenant_datamaps(tenant))
        except DomainError as error:
            raise CommandError(error.message) from None
        text = ropa_csv(rows) if options["format"] == "csv" else ropa_html(rows, tenant)
        if options["out"]:
            Path(options["out"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {len(rows)} row(s) to {options['out']}.")
        else:
            self.stdout.write(text, ending="")
