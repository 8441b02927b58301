"""Reads for the workspace GDPR screen: which tenant the viewer may open, and its people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.timesince import timesince

from privacyops.connectors.base import TargetNotFound
from privacyops.errors import NotFound, ValidationFailed
from privacyops.execution.registry import datastore_for, tenant_key_for
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import require, role_in
from privacyops.validation import clean_search
from privacyops.web.lists import Column, Sorting, page_count, page_number

PAGE_SIZE = 50
SEARCH_LIMIT = 200
STATUS_LABELS = {
    "active": "Active", "onboarding": "Onboarding", "inactive": "Inactive",
    "offboarded": "Offboarded",
}


@dataclass(frozen=True)
class SubjectRow:
    """One data subject as the GDPR screen lists it (the data map's display fields)."""

    id: str
    name: str
    email: str
    employee_id: str
    job_title: str
    department: str
    status: str
    last_login: datetime | None
    erased: bool

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.replace("-", " ").split() if p[:1].isalpha()]
        letters = "".join(p[0] for p in parts[:1] + parts[1:][-1:]) if parts else self.email[:1]
        return letters.upper() or "?"

    @property
    def last_login_relative(self) -> str:
        if self.last_login is None:
            return "Never"
        if timezone.now() - self.last_login < timedelta(minutes=1):
            return "just now"
        return f"{timesince(self.last_login, depth=1)} ago".replace("\xa0", " ")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status.lower(), self.status.title() or "Unknown")


@dataclass(frozen=True)
class SubjectPage:
    rows: list[SubjectRow]
    next_after: str | None
    search: str
    after: str
    total: int = 0
    # Set when sorted by a column other than the id: page `number` of `pages`.
    number: int | None = None
    pages: int = 1

    @property
    def prev_number(self) -> int | None:
        return self.number - 1 if self.number and self.number > 1 else None

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.number and self.number < self.pages else None


# The people table's sortable columns: URL key → header and the display role it orders by.
# Ordered by id (the default) the list pages by keyset; by a column, by page number.
SUBJECT_SORTING = Sorting((
    Column("name", "Data subject", ("name",)),
    Column("employment", "Employment", ("job_title",)),
    Column("status", "Status", ("status",)),
    Column("last_login", "Last login", ("last_login",)),
), default="id")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def subject_row(raw: dict[str, Any]) -> SubjectRow:
    return SubjectRow(
        id=_text(raw.get("id")), name=_text(raw.get("name")), email=_text(raw.get("email")),
        employee_id=_text(raw.get("employee_id")), job_title=_text(raw.get("job_title")),
        department=_text(raw.get("department")), status=_text(raw.get("status")),
        last_login=_moment(raw.get("last_login")), erased=bool(raw.get("erased")),
    )


def gdpr_tenant_for(*, viewer: User, slug: str) -> Tenant:
    """The tenant whose GDPR screen the viewer opens: another tenant reads as missing (404),
    a role without `gdpr.view` (member) is refused (403)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None or (not viewer.is_staff and role_in(viewer, tenant) is None):
        raise NotFound(f"There is no workspace called “{slug}” that you belong to.")
    require(viewer, "gdpr.view", tenant)
    return tenant


def subjects_page(*, tenant: Tenant, search: str = "", after: str = "", sort: str = "",
                  page: str = "", limit: int = PAGE_SIZE) -> SubjectPage:
    """One page of the tenant's data subjects (erased ones included) and how many match.

    Ordered by id, pages are keyset pages (`after`: the last id of the previous page), as fast
    deep down as on the first; ordered by a column (`sort`, `-` for descending), page `page`
    of the count.
    """
    search = clean_search(search, limit=SEARCH_LIMIT)
    after = clean_search(after, field="after", limit=200)
    sort = SUBJECT_SORTING.chosen(sort)
    datastore = datastore_for(tenant)
    key = tenant_key_for(tenant)
    total = datastore.count_subjects(key, search=search)
    if sort != SUBJECT_SORTING.default:
        pages = page_count(total, limit)
        number = page_number(page, pages)
        role = next(c.fields[0] for c in SUBJECT_SORTING.columns if c.key == sort.lstrip("-"))
        raw = datastore.list_subjects(key, search=search, limit=limit,
                                      offset=(number - 1) * limit, order_by=role,
                                      descending=sort.startswith("-"))
        return SubjectPage(rows=[subject_row(r) for r in raw], next_after=None, search=search,
                           after="", total=total, number=number, pages=pages)
    try:
        raw = datastore.list_subjects(key, search=search, limit=limit + 1,
                                      after_id=after or None)
    except TargetNotFound:
        raise ValidationFailed("This page link is not valid (`after` must be the id of a data "
                               "subject). Start again from the first page.",
                               field="after") from None
    rows = [subject_row(r) for r in raw[:limit]]
    next_after = rows[-1].id if len(raw) > limit and rows else None
    return SubjectPage(rows=rows, next_after=next_after, search=search, after=after,
                       total=total, pages=page_count(total, limit))


def subject_get(*, tenant: Tenant, subject_id: str) -> SubjectRow | None:
    """One data subject by id, read through the same display fields as the list."""
    datastore = datastore_for(tenant)
    key = tenant_key_for(tenant)
    try:
        previous: str | None = str(int(subject_id) - 1)
    except ValueError:
        previous = None
    if previous is None:
        return None
    try:
        raw = datastore.list_subjects(key, limit=1, after_id=previous)
    except TargetNotFound:  # no row can have an id out of the key's range
        return None
    if not raw or _text(raw[0].get("id")) != subject_id:
        return None
    return subject_row(raw[0])
