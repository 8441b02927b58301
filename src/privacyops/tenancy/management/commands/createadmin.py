from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.errors import DomainError
from privacyops.tenancy.services import staff_user_create


class Command(BaseCommand):
    help = "Create a platform staff account (sees every tenant)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", help="the account's email")
        parser.add_argument("--password", help="the password (prompted when omitted)")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"] or input("Email: ").strip()
        password = options["password"] or getpass.getpass("Password: ")
        try:
            user = staff_user_create(email=email, password=password)
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Created platform staff account {user.email}.")
