from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.errors import DomainError
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.identity import login_identity
from privacyops.tenancy.models import User
from privacyops.tenancy.selectors import api_tokens_of, token_status
from privacyops.tenancy.services import api_token_create, api_token_revoke


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


class Command(BaseCommand):
    help = ("API tokens: `token create --email E --name N [--expires-days D]` prints a new "
            "personal token once; `token list --email E`; `token revoke ID`.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="create a personal API token for an account")
        create.add_argument("--email", required=True, help="the account the token acts as")
        create.add_argument("--name", required=True, help="what the token is for")
        create.add_argument("--expires-days", type=int, default=None,
                            help="days until the token stops working (default: never)")
        listing = actions.add_parser("list", help="list an account's tokens (never the tokens)")
        listing.add_argument("--email", required=True, help="the account whose tokens to list")
        revoke = actions.add_parser("revoke", help="revoke a token by its id (see `token list`)")
        revoke.add_argument("token_id", type=int, help="the token's id")

    def _user(self, email: str) -> User:
        email = login_identity(email)
        user = User.objects.filter(email=email, is_active=True).first()
        if user is None:
            raise CommandError(f"No active account has the email {email}; create it first "
                               "(`privacyops createadmin` for platform staff).")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _create(self, options: dict[str, Any]) -> None:
        user = self._user(options["email"])
        token, raw = api_token_create(user=user, name=options["name"], actor=Actor.system("cli"),
                                      expires_in_days=options["expires_days"])
        expiry = f", expires {_when(token.expires_at)} UTC" if token.expires_at else ""
        self.stderr.write(f"Token {token.pk} for {user.email}{expiry}; it is shown only now, "
                          "store it safely:")
        self.stdout.write(raw)

    def _list(self, options: dict[str, Any]) -> None:
        user = self._user(options["email"])
        tokens = list(api_tokens_of(user))
        if not tokens:
            self.stdout.write(f"{user.email} has no API tokens.")
            return
        self.stdout.write(f"{'id':>6}  {'status':<8}  {'prefix':<12}  {'created':<16}  "
                          f"{'last used':<16}  {'expires':<16}  name")
        for token in tokens:
            self.stdout.write(
                f"{token.pk:>6}  {token_status(token):<8}  {token.prefix + '…':<12}  "
                f"{_when(token.created_at):<16}  {_when(token.last_used_at):<16}  "
                f"{_when(token.expires_at):<16}  {token.name}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        token = api_token_revoke(token_id=options["token_id"], actor=Actor.system("cli"))
        self.stdout.write(f"Revoked token {token.pk} ({token.prefix}…, {token.name}); it answers "
                          "401 from now on.")
