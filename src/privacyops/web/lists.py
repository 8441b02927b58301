"""What the Platform → Privacy lists share: sortable columns (`?sort=key`, `-key` for
descending), page X of Y with the total when sorted by anything but the list's natural
order, and CSV export of the filtered rows with formula escaping (see `web.csv`)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from django import forms
from django.db.models import F, Model, QuerySet
from django.db.models.expressions import OrderBy
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from privacyops.errors import ValidationFailed
from privacyops.web.csv import neutralise
from privacyops.web.pages import PAGE_SIZE

T = TypeVar("T")
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Column:
    """A sortable column: its URL key, its header, and the fields it orders by (a unique
    field last, so that equal values keep one order across pages)."""

    key: str
    label: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Sorting:
    """The sortable columns of one list and its default order."""

    columns: tuple[Column, ...]
    default: str

    def chosen(self, raw: str) -> str:
        """The URL's `sort` when it names a column, else the default."""
        return raw if raw.lstrip("-") in self.keys() else self.default

    def keys(self) -> set[str]:
        return {c.key for c in self.columns}

    def order(self, sort: str) -> list[OrderBy]:
        """The ORDER BY of `sort`; empty values (no expiry, no tenant) last when ascending, first
        when descending, on every database."""
        column = next(c for c in self.columns if c.key == sort.lstrip("-"))
        if sort.startswith("-"):
            return [F(f).desc(nulls_first=True) for f in column.fields]
        return [F(f).asc(nulls_last=True) for f in column.fields]

    def uses(self, sort: str, field: str) -> bool:
        """Whether the order of `sort` reads `field` (an annotation to add only then)."""
        return any(c.key == sort.lstrip("-") and field in c.fields for c in self.columns)

    def headers(self, sort: str) -> dict[str, dict[str, Any]]:
        """Per column: its label, `aria-sort` when it is the chosen one, and the `sort` a click
        on its header asks for (descending first, then ascending)."""
        return {
            c.key: {"key": c.key, "label": c.label,
                    "aria": ("descending" if sort == f"-{c.key}"
                             else "ascending" if sort == c.key else None),
                    "next": c.key if sort == f"-{c.key}" else f"-{c.key}"}
            for c in self.columns
        }


@dataclass(frozen=True)
class NumberedPage(Generic[T]):
    """One page of a list in a chosen order: page X of Y, with the total."""

    items: list[T]
    number: int
    pages: int
    total: int

    @property
    def prev_number(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


def page_number(raw: str, pages: int) -> int:
    """The URL's `page`, kept between 1 and `pages` (anything else: the first page)."""
    number = int(raw) if raw.isdigit() and len(raw) < 7 else 1
    return min(max(number, 1), pages)


def numbered_page(rows: QuerySet[M], *, order: Sequence[OrderBy], number_raw: str,
                  total: int | None = None) -> NumberedPage[M]:
    """The page `number_raw` of `rows` in `order` (the count is taken unless given)."""
    total = rows.count() if total is None else total
    pages = page_count(total)
    number = page_number(number_raw, pages)
    start = (number - 1) * PAGE_SIZE
    return NumberedPage(list(rows.order_by(*order)[start:start + PAGE_SIZE]), number, pages, total)


def require_valid(form: forms.Form) -> None:
    """An export's filters must be valid: else 422 with what to fix, field by field."""
    if not form.is_valid():
        raise ValidationFailed("Fix the filters first: " + "; ".join(
            f"{form.fields[name].label if name in form.fields else 'Filters'}: "
            f"{' '.join(str(e) for e in errors)}"
            for name, errors in form.errors.items()))


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(stem: str, header: Sequence[str],
                 rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """`rows` streamed as a CSV download named `<stem>-<UTC time>.csv`; every text cell that a
    spreadsheet would run as a formula is escaped (`web.csv.neutralise`)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterable[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([neutralise(value) for value in row])

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{stem}-{stamp}.csv") or ""
    response["Cache-Control"] = "no-store"
    return response
