"""CSV that a spreadsheet opens without running anything (OWASP "CSV injection").

A cell starting with `=`, `+`, `-` or `@` is a formula to Excel, LibreOffice and Google
Sheets, and a leading tab or carriage return hides one; an audit row whose target id or
reason was typed by anyone could then run `=HYPERLINK(...)` on an auditor's machine. Every
CSV the platform writes goes through `safe_writer`, which prefixes such text cells with `'`
(shown, not evaluated). Numbers are written as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula, as plain text; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` whose rows pass through `neutralise`."""

    def __init__(self, stream: IO[str], **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(stream: IO[str], **options: Any) -> SafeWriter:
    return SafeWriter(stream, **options)
