from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from privacyops.tenancy.management.cli import CLI, run, table
from privacyops.tenancy.models import Membership, Role
from privacyops.tenancy.selectors import tenant_by_slug
from privacyops.tenancy.services import member_add, member_by_email, member_remove, member_role_set

ROLES = ", ".join(Role.values)


class Command(BaseCommand):
    help = ("Members of a tenant: `member add --tenant S --email E --role R`, "
            "`member list --tenant S`, `member role --tenant S --email E --role R`, "
            f"`member remove --tenant S --email E`. Roles: {ROLES}.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser("add", help="give a person a role (creates their account if new)")
        role = sub.add_parser("role", help="change a member's role")
        remove = sub.add_parser("remove", help="remove a member from the tenant")
        listing = sub.add_parser("list", help="list a tenant's members")
        for each in (add, role, remove, listing):
            each.add_argument("--tenant", required=True, metavar="SLUG")
        for each in (add, role, remove):
            each.add_argument("--email", required=True)
        for each in (add, role):
            each.add_argument("--role", required=True, help=ROLES)
        add.add_argument("--name", default="", help="the person's full name (new accounts)")
        add.add_argument("--password", help="first password of a new account "
                                            "(generated and shown once when omitted)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = run(lambda: tenant_by_slug(options["tenant"]))
        action = options["action"]
        if action == "list":
            members = Membership.objects.filter(tenant=tenant).select_related("user")
            self.stdout.write(table(
                ("EMAIL", "ROLE", "NAME", "ACTIVE"),
                [(m.user.email, m.role, m.user.full_name or "-",
                  "yes" if m.user.is_active else "no")
                 for m in members.order_by("user__email")]))
            return
        email = options["email"]
        if action == "add":
            added = run(lambda: member_add(tenant_id=tenant.pk, email=email, role=options["role"],
                                           full_name=options["name"],
                                           password=options["password"], actor=CLI))
            user = added.membership.user
            self.stdout.write(f"{user.email} is now {added.membership.role} of {tenant.slug}.")
            if added.initial_password:
                self.stderr.write("A new account was created; its first password is shown "
                                  "only now:")
                self.stdout.write(added.initial_password)
            return
        user_id = run(lambda: member_by_email(tenant, email))
        if action == "role":
            membership = run(lambda: member_role_set(tenant_id=tenant.pk, user_id=user_id,
                                                     role=options["role"], actor=CLI))
            self.stdout.write(f"{membership.user.email} is now {membership.role} of "
                              f"{tenant.slug}.")
        else:
            run(lambda: member_remove(tenant_id=tenant.pk, user_id=user_id, actor=CLI))
            self.stdout.write(f"Removed {email.strip().lower()} from {tenant.slug}; the account "
                              "itself remains.")
