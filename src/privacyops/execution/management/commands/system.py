from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.execution.drift import system_drift_record
from privacyops.execution.selectors import system_health
from privacyops.tenancy.management.cli import CLI, run, table
from privacyops.tenancy.models import ConnectorType, System, Tenant
from privacyops.tenancy.selectors import system_by_name, systems_all, tenant_by_slug
from privacyops.tenancy.services import datamap_install, system_add, system_remove, system_update


class Command(BaseCommand):
    help = ("A tenant's systems (datastores): `system add --tenant S --name N --datamap "
            "FILE_OR_NAME --key K`, `system list [--tenant S]`, `system test NAME [--tenant S]`, "
            "`system edit NAME [--tenant S] …`, `system remove NAME [--tenant S]`.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser("add", help="point a tenant at one of its datastores")
        add.add_argument("--tenant", required=True, metavar="SLUG")
        add.add_argument("--name", required=True, help="unique within the tenant, e.g. shop")
        add.add_argument("--datamap", required=True, metavar="FILE_OR_NAME",
                         help="a YAML file (copied into PRIVACYOPS_DATAMAP_DIR) or the name "
                              "of one already there")
        add.add_argument("--key", default="",
                         help="the tenant's value of the data map's tenant column (or its part "
                              "of a per-tenant variable name)")
        add.add_argument("--type", default=ConnectorType.SQL, dest="connector_type",
                         choices=ConnectorType.values,
                         help="sql (default), http or manual; it must match the map's "
                              "`connector:`")
        listing = sub.add_parser("list", help="list systems")
        listing.add_argument("--tenant", metavar="SLUG")
        test = sub.add_parser("test", help="read-only checks of a system, the live check of its data "
                                           "map included; exit 1 on a problem")
        edit = sub.add_parser("edit", help="rename a system, or change its data map or key")
        remove = sub.add_parser("remove", help="forget a system (its datastore is untouched)")
        for each in (test, edit, remove):
            each.add_argument("name")
            each.add_argument("--tenant", metavar="SLUG",
                              help="needed when several tenants have a system of that name")
        edit.add_argument("--rename", metavar="NAME")
        edit.add_argument("--datamap", metavar="FILE_OR_NAME")
        edit.add_argument("--key")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        tenant: Tenant | None = None
        if options.get("tenant"):
            tenant = run(lambda: tenant_by_slug(options["tenant"]))
        if action == "add":
            assert tenant is not None  # noqa: S101 - --tenant is required by argparse
            datamap = run(lambda: datamap_install(options["datamap"]))
            system = run(lambda: system_add(
                tenant_id=tenant.pk, name=options["name"], datamap_name=datamap,
                datastore_key=options["key"], connector_type=options["connector_type"],
                actor=CLI))
            self.stdout.write(f"Added system {system.name} to {tenant.slug} (data map "
                              f"{datamap}, connection {system.connection_ref or 'in the map'}). "
                              f"Check it: `privacyops system test {system.name} --tenant "
                              f"{tenant.slug}`.")
            return
        if action == "list":
            self.stdout.write(table(
                ("TENANT", "NAME", "TYPE", "DATAMAP", "CONNECTION", "KEY"),
                [(s.tenant.slug, s.name, s.connector_type, s.datamap_name,
                  s.connection_ref or "(in the map)", s.datastore_key or "-")
                 for s in systems_all(tenant=tenant)]))
            return
        system = run(lambda: system_by_name(options["name"], tenant=tenant))
        if action == "test":
            self._test(system)
        elif action == "edit":
            new_map = (run(lambda: datamap_install(options["datamap"]))
                       if options["datamap"] else None)
            run(lambda: system_update(tenant_id=system.tenant_id, system_id=system.pk,
                                      name=options["rename"], datamap_name=new_map,
                                      datastore_key=options["key"], actor=CLI))
            self.stdout.write(f"System {options['rename'] or system.name} of "
                              f"{system.tenant.slug} updated.")
        else:
            run(lambda: system_remove(tenant_id=system.tenant_id, system_id=system.pk,
                                      actor=CLI))
            self.stdout.write(f"Removed system {system.name} from {system.tenant.slug}; its "
                              "datastore and data-map file are untouched.")

    def _test(self, system: System) -> None:
        health = system_health(system)
        self.stdout.write(f"System {system.name} of {system.tenant.slug} "
                          f"({system.connector_type}, data map {system.datamap_name}):")
        for check in health.checks:
            self.stdout.write(f"  {check.status.ljust(4)}  {check.name}: {check.detail}")
            for line in check.lines:
                self.stdout.write(f"          {line}")
        live = health.live
        if live is not None:
            recorded = run(lambda: system_drift_record(system_id=system.pk, report=live,
                                                       actor=CLI))
            if recorded.new_keys:
                self.stdout.write(f"New drift recorded (audited): {', '.join(recorded.new_keys)}")
        if not health.ok:
            raise CommandError(f"System {system.name} has a problem; fix it and run the test "
                               "again.")
        if any(check.notice for check in health.checks):
            self.stdout.write("No problem; look at the WARN lines above (nothing was written "
                              "to the datastore).")
        else:
            self.stdout.write("All checks passed (nothing was written to the datastore).")
