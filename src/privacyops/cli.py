"""`privacyops`: the one console command (Django management underneath)."""

from __future__ import annotations

import os
import sys

COMMANDS = {
    "serve": "start the web server with a job worker inside it (--host, --port)",
    "worker": "run a job worker (claims jobs with a lease; re-enqueues lost ones)",
    "migrate": "create or upgrade the control database",
    "createadmin": "create a platform staff account (interactive, or --email/--password)",
    "tenant": "tenant create --slug S --name N [--if-missing] | list | edit | deactivate",
    "member": "member add --tenant S --email E --role R | list | role | remove",
    "system": "system add --tenant S --name N --datamap FILE --key K | list | test NAME",
    "staff": "platform staff accounts: staff create --email E | list | deactivate",
    "audit": "audit verify [--checkpoint FILE | --archive FILE] | checkpoint [--out FILE] | key "
             "| prune [--tenant SLUG]",
    "demo": "build the demo datastore, data map, tenants, accounts and sample jobs",
    "datamap": "datamap check FILE [--live] [--strict] | datamap draft --url URL",
    "retention": "retention run --tenant SLUG [--dry-run] | list [--tenant SLUG]",
    "ropa": "ropa --tenant SLUG [--format csv|html] [--out FILE]: record of processing (Art. 30)",
    "manage": "any Django management command (manage shell; manage token create|list|revoke)",
    "ledger": "ledger replay --tenant SLUG [--system NAME] --since TIMESTAMP [--dry-run]: re-apply "
              "erasures to datastores restored from a backup (each system its part)",
    "receipt": "receipt key | receipt verify FILE [--key BASE64]: erasure receipts",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: privacyops COMMAND [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items()]
    lines += ["", "Run `privacyops COMMAND --help` for the options of one command.",
              "Settings come from PRIVACYOPS_* environment variables (see README.md)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "privacyops.settings")
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"privacyops: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    if command == "serve":  # straight to gunicorn: this process does not set Django up
        from privacyops.web.serve import main as serve

        serve(rest)
        return
    from django.core.management import execute_from_command_line

    if command == "manage":
        execute_from_command_line(["privacyops", *rest])
    elif command == "migrate":
        execute_from_command_line(["privacyops", "migrate", *rest])
        execute_from_command_line(["privacyops", "createcachetable", "--verbosity", "0"])
        # Compressed copies of the static files, served by the web process (once per release).
        execute_from_command_line(["privacyops", "collectstatic", "--noinput", "-v", "0"])
    else:
        execute_from_command_line(["privacyops", command, *rest])


if __name__ == "__main__":
    main()
