from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.tenancy.services import api_token_create


class Command(BaseCommand):
    help = "API tokens: `token create --email E --name N` prints a new personal token once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="create a personal API token for an account")
        create.add_argument("--email", required=True, help="the account the token acts as")
        create.add_argument("--name", required=True, help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip().lower()
        user = User.objects.filter(email=email, is_active=True).first()
        if user is None:
            raise CommandError(f"No active account has the email {email}; create it first "
                               "(`privacyops createadmin` for platform staff).")
        _, raw = api_token_create(user=user, name=options["name"], actor=Actor.system("cli"))
        self.stderr.write(f"Token for {user.email}; it is shown only now, store it safely:")
        self.stdout.write(raw)
