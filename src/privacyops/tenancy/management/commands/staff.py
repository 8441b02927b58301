from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.tenancy.management.cli import CLI, run, table
from privacyops.tenancy.selectors import staff_accounts
from privacyops.tenancy.services import staff_create, staff_deactivate


class Command(BaseCommand):
    help = ("Platform staff accounts: `staff create --email E [--name N] [--password P]`, "
            "`staff list`, `staff deactivate --email E`.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = sub.add_parser("create", help="create a platform staff account")
        create.add_argument("--email", required=True)
        create.add_argument("--name", default="")
        create.add_argument("--password", help="generated and shown once when omitted")
        sub.add_parser("list", help="list platform staff accounts")
        sub.add_parser("deactivate", help="stop an account from signing in").add_argument(
            "--email", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self.stdout.write(table(("EMAIL", "NAME", "ACTIVE"), [
                (u.email, u.full_name or "-", "yes" if u.is_active else "no")
                for u in staff_accounts()]))
        elif action == "create":
            created = run(lambda: staff_create(email=options["email"], full_name=options["name"],
                                               password=options["password"], actor=CLI))
            self.stdout.write(f"Created platform staff account {created.user.email}.")
            if created.initial_password:
                self.stderr.write("Its first password is shown only now:")
                self.stdout.write(created.initial_password)
        else:
            user = staff_accounts().filter(email=options["email"].strip().lower()).first()
            if user is None:
                raise CommandError("No platform staff account has this email; "
                                   "`privacyops staff list` shows them.")
            run(lambda: staff_deactivate(user_id=user.pk, actor=CLI))
            self.stdout.write(f"Deactivated {user.email}; it can no longer sign in.")
