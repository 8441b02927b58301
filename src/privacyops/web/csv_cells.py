"""CSV cells that a spreadsheet will not run: OWASP's CSV-injection rule for every CSV download."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """The text of a cell; one that a spreadsheet would read as a formula gets a leading `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
