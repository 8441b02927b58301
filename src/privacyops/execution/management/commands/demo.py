from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings


class Command(BaseCommand):
    help = "Build the demo datastore, its data map, tenants, accounts, sample jobs and a hold."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--people", type=int, default=2000,
                            help="people in the demo datastore (default 2000)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from privacyops.execution.demo import build_demo, demo_accounts, demo_password
        except ImportError as error:
            raise CommandError(
                f"privacyops demo needs the optional `demo` extra, which is not installed "
                f"({error}). Install it with pip install 'privacyops[demo]' (./scripts/start "
                "does)."
            ) from None
        # Seeding rejects a job; its requester is a demo account, so no email leaves the machine.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            created, path = build_demo(people=options["people"],
                                       progress=not options["no_progress"])
        if created:
            self.stdout.write(f"Demo datastore written to {path}.")
        else:
            self.stdout.write(f"Demo data already present in {path}; nothing changed.")
        self.stdout.write(f"\nDemo accounts (password: {demo_password()}):")
        for account in demo_accounts():
            self.stdout.write(f"  {account.email:40} {account.role:15} {account.tenant}")
