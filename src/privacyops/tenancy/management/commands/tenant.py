from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.errors import Conflict, DomainError
from privacyops.tenancy.management.cli import CLI, run, table
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.selectors import tenant_by_slug
from privacyops.tenancy.services import (
    tenant_activate,
    tenant_create,
    tenant_deactivate,
    tenant_update,
)


def _yes_no(value: str) -> bool:
    if value.lower() in {"yes", "true", "1"}:
        return True
    if value.lower() in {"no", "false", "0"}:
        return False
    raise ValueError(value)


def _types(value: str) -> list[str]:
    return [t.strip().upper() for t in value.split(",") if t.strip()]


class Command(BaseCommand):
    help = ("Tenants: `tenant create --slug S --name N [--if-missing]`, `tenant list`, "
            "`tenant edit SLUG …`, `tenant deactivate SLUG`, `tenant activate SLUG`.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = sub.add_parser("create", help="create a tenant (a slug is taken once)")
        create.add_argument("--slug", required=True, help="short name: lower-case, digits, -")
        create.add_argument("--name", required=True, help="the organisation's name")
        create.add_argument("--contact", default="", help="privacy contact email")
        create.add_argument("--if-missing", action="store_true",
                            help="exit 0 when the slug already exists (nothing is changed)")
        sub.add_parser("list", help="list tenants")
        edit = sub.add_parser("edit", help="change a tenant's name or policy")
        edit.add_argument("slug")
        edit.add_argument("--name")
        edit.add_argument("--approval-required", type=_types, metavar="TYPES",
                          help='job types that need approval, e.g. "ERASE,PURGE" ("" for none)')
        edit.add_argument("--super-admins-approve", type=_yes_no, metavar="yes|no",
                          help="may the tenant's super-admins approve jobs?")
        edit.add_argument("--audit-retention-days", type=int, metavar="DAYS",
                          help="30 to 3650")
        edit.add_argument("--contact", help="privacy contact email")
        edit.add_argument("--reply-to", help="where data subjects' replies go (default: contact)")
        edit.add_argument("--language", help="default language of the public pages: en or de")
        for verb in ("deactivate", "activate"):
            sub.add_parser(verb, help=f"{verb} a tenant").add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options)
        elif action == "list":
            tenants = Tenant.objects.order_by("slug").prefetch_related("systems", "memberships")
            self.stdout.write(table(
                ("SLUG", "NAME", "ACTIVE", "MEMBERS", "SYSTEMS", "APPROVAL"),
                [(t.slug, t.name, "yes" if t.is_active else "no", len(t.memberships.all()),
                  len(t.systems.all()), ",".join(t.approval_required_types) or "-")
                 for t in tenants]))
        elif action == "edit":
            tenant = run(lambda: tenant_by_slug(options["slug"]))
            run(lambda: tenant_update(
                tenant_id=tenant.pk, name=options["name"],
                approval_required_types=options["approval_required"],
                super_admins_can_approve=options["super_admins_approve"],
                audit_retention_days=options["audit_retention_days"],
                privacy_contact_email=options["contact"], reply_to_email=options["reply_to"],
                default_language=options["language"], actor=CLI))
            self.stdout.write(f"Tenant {tenant.slug} updated.")
        else:
            tenant = run(lambda: tenant_by_slug(options["slug"]))
            service = tenant_deactivate if action == "deactivate" else tenant_activate
            run(lambda: service(tenant_id=tenant.pk, actor=CLI))
            self.stdout.write(f"Tenant {tenant.slug} {action}d."
                              + (" It takes no new jobs; its history stays."
                                 if action == "deactivate" else ""))

    def _create(self, options: dict[str, Any]) -> None:
        try:
            tenant = tenant_create(slug=options["slug"], name=options["name"],
                                   privacy_contact_email=options["contact"], actor=CLI)
        except Conflict as error:
            if error.code != "tenant_exists" or not options["if_missing"]:
                raise CommandError(error.message) from None
            self.stdout.write(error.message)
            return
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Created tenant {tenant.slug} (id {tenant.pk}). Next: add a system "
                          f"(`privacyops system add --tenant {tenant.slug} …`) and members "
                          f"(`privacyops member add --tenant {tenant.slug} …`).")
