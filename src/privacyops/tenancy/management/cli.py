"""What the tenant, member, staff and system commands share: domain errors become a sentence
on standard error and exit status 1; tables are plain aligned columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from django.core.management.base import CommandError

from privacyops.errors import DomainError
from privacyops.tenancy.actors import Actor

T = TypeVar("T")
CLI = Actor.system("cli")


def run(call: Callable[[], T]) -> T:
    try:
        return call()
    except DomainError as error:
        raise CommandError(error.message) from None


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)
