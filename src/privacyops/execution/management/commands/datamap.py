from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacyops.datamap import check_datamap_file


class Command(BaseCommand):
    help = "Data-map tools: `datamap check FILE`, `datamap draft --url URL [--out FILE]`."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        check = sub.add_parser("check", help="validate a data-map YAML file")
        check.add_argument("file")
        draft = sub.add_parser("draft", help="introspect a database into a starting data map")
        draft.add_argument("--url", required=True, help="SQLAlchemy URL of the database")
        draft.add_argument("--out", help="write to this file instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "check":
            problems = check_datamap_file(options["file"])
            if problems:
                for line in problems:
                    self.stderr.write(line)
                raise CommandError(f"{len(problems)} problem(s) in {options['file']}.")
            self.stdout.write(f"{options['file']}: OK")
            return
        from privacyops.datamap.draft import draft_datamap

        text = draft_datamap(options["url"])
        if options["out"]:
            Path(options["out"]).write_text(text)
            self.stdout.write(f"Draft data map written to {options['out']}; review every "
                              "field's category and erase action before use.")
        else:
            self.stdout.write(text)
