from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from sqlalchemy.exc import SQLAlchemyError

from privacyops.connectors.base import ConnectorError
from privacyops.datamap import DataMapError, load_datamap, resolve_connection_url
from privacyops.datamap.http_loader import load_http_map, map_connector
from privacyops.datamap.loader import read_map_yaml


class Command(BaseCommand):
    help = ("Data-map tools: `datamap check FILE [--live] [--strict] [--tenant KEY]`, "
            "`datamap draft --url URL [--out FILE]`.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        check = sub.add_parser("check", help="validate a data-map YAML file")
        check.add_argument("file")
        check.add_argument("--live", action="store_true",
                           help="also compare with the live database (read-only), or for an "
                                "HTTP map ask the service; done anyway when the data map's "
                                "variables are set")
        check.add_argument("--strict", action="store_true",
                           help="unmapped columns or tables that look personal are an error")
        check.add_argument("--tenant", help="tenant key, for a data map with a database per tenant")
        draft = sub.add_parser("draft", help="introspect a database into a starting data map")
        draft.add_argument("--url", required=True, help="SQLAlchemy URL of the database")
        draft.add_argument("--out", help="write to this file instead of standard output")
        draft.add_argument("--name", default="draft", help="the data map's name")
        draft.add_argument("--url-env", default="DATASTORE_URL",
                           help="environment variable the map will read the URL from")
        draft.add_argument("--no-sample", action="store_true",
                           help="judge columns by name only (reads no row of the database)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "check":
            self.check_file(options["file"], live=options["live"], strict=options["strict"],
                       tenant=options["tenant"])
            return
        from privacyops.datamap.draft import draft_datamap

        text = draft_datamap(options["url"], name=options["name"], url_env=options["url_env"],
                             sample=not options["no_sample"])
        if options["out"]:
            Path(options["out"]).write_text(text)
            self.stdout.write(f"Draft data map written to {options['out']}; review every "
                              "field marked # REVIEW before use.")
        else:
            self.stdout.write(text)

    def check_file(self, file: str, *, live: bool, strict: bool, tenant: str | None) -> None:
        try:
            connector = map_connector(read_map_yaml(file))
        except DataMapError as error:
            for line in error.lines():
                self.stderr.write(line)
            raise CommandError(f"{len(error.issues)} problem(s) in {file}.") from None
        if connector == "http":
            self.check_http_file(file, live=live, tenant=tenant)
            return
        if connector == "manual":
            self.check_manual(file)
            return
        if connector != "sql":
            raise CommandError(f"{file}: unknown connector {connector!r}; a data map is for "
                               "`connector: http`, `connector: manual` or, without the key, "
                               "an SQL database.")
        try:
            datamap = load_datamap(file)
        except DataMapError as error:
            for line in error.lines():
                self.stderr.write(line)
            raise CommandError(f"{len(error.issues)} problem(s) in {file}.") from None
        try:
            url = resolve_connection_url(datamap, tenant)
        except DataMapError as error:
            if live or strict:
                for line in error.lines():
                    self.stderr.write(line)
                raise CommandError("--live needs the datastore's URL; set the variable above.") \
                    from None
            self.stdout.write(f"{file}: OK (not checked against a database: "
                              f"{error.issues[0][1].split(';')[0]})")
            return
        from privacyops.datamap.live import live_check

        try:
            report = live_check(datamap, url)
        except SQLAlchemyError as error:
            raise CommandError(f"cannot read the database of {file}: "
                               f"{type(error).__name__}; check the URL and that it answers.") \
                from None
        for problem in report.problems:
            self.stderr.write(f"{file}: {problem.line()}")
        for warning in report.warnings:
            self.stdout.write(f"{file}: warning: {warning.line()}")
        for unmapped in report.unmapped:
            level = "error" if strict and unmapped.personal else "unmapped"
            self.stdout.write(f"{file}: {level}: {unmapped.line()}")
        errors = len(report.problems) + (len(report.personal_unmapped) if strict else 0)
        if errors:
            raise CommandError(f"{errors} problem(s) in {file} against the live database "
                               f"({report.summary()}).")
        self.stdout.write(f"{file}: OK against the live database ({report.summary()})")

    def check_http_file(self, file: str, *, live: bool, tenant: str | None) -> None:
        """An HTTP map (``connector: http``): the file, then, when its variables are set (or
        with ``--live``), whether the service answers with the map's credentials."""
        from privacyops.connectors.http import HttpConnector

        try:
            http_map = load_http_map(file)
        except DataMapError as error:
            for line in error.lines():
                self.stderr.write(line)
            raise CommandError(f"{len(error.issues)} problem(s) in {file}.") from None
        try:
            connector = HttpConnector.from_map(http_map, tenant_key=tenant)
        except DataMapError as error:
            if live:
                for line in error.lines():
                    self.stderr.write(line)
                raise CommandError("--live needs the service's base URL and credentials; set "
                                   "the variables above.") from None
            self.stdout.write(f"{file}: OK (not checked against the service: "
                              f"{error.issues[0][1].split(';')[0]})")
            return
        except ConnectorError as error:
            raise CommandError(f"{file}: {error}") from None
        try:
            answer = connector.check_live()
        except ConnectorError as error:
            raise CommandError(f"{file}: the service does not answer: {error}") from None
        finally:
            connector.close()
        self.stdout.write(f"{file}: OK ({answer})")

    def check_manual(self, file: str) -> None:
        """A manual system's map (`connector: manual`): whom to ask and what to ask."""
        from privacyops.manual.schema import load_manual_map

        try:
            manual = load_manual_map(file)
        except DataMapError as error:
            for line in error.lines():
                self.stderr.write(line)
            raise CommandError(f"{len(error.issues)} problem(s) in {file}.") from None
        kinds = " and ".join(k for k in ("export", "erase") if manual.does(k))
        self.stdout.write(f"{file}: OK (manual system {manual.name}: {manual.owner} is asked "
                          f"to {kinds} by hand)")
