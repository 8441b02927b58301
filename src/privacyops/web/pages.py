"""Page machinery shared by the Platform → Privacy apps (jobs, holds, audit): the sign-in and
role gate of a privacy page, and keyset paging newest first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, Generic, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponseBase

from privacyops.errors import PermissionDenied, ValidationFailed
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import tenants_visible_to

View = Callable[..., HttpResponseBase]
M = TypeVar("M", bound=Model)

PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def viewer_of(request: HttpRequest) -> User:
    return cast(User, request.user)


def privacy_page(action: str) -> Callable[[View], View]:
    """Sign-in required (else the login page); then 403 unless the viewer is platform staff
    or holds `action` in at least one tenant. What each page shows is scoped by its selector."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            viewer = viewer_of(request)
            if not (viewer.is_staff or tenants_visible_to(viewer, action).exists()):
                raise PermissionDenied(
                    "Platform → Privacy is for platform staff and tenant admins; your role "
                    "does not include it. Ask an admin of your workspace for access."
                )
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


# --- keyset paging ----------------------------------------------------------------------------

@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    """One page of rows newest first, with opaque cursors to the pages before and after it."""

    items: list[M]
    next_cursor: str | None
    prev_cursor: str | None


def _cursor(row: Model) -> str:
    created = cast(datetime, row.created_at)  # type: ignore[attr-defined]
    delta = created - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}-{row.pk}"


def _parse_cursor(value: str) -> tuple[datetime, int]:
    try:
        micros, pk = value.split("-", 1)
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        raise ValidationFailed(
            "This page link is damaged; go back to the first page of the list.", field="cursor"
        ) from None


def keyset_page(
    rows: QuerySet[M], *, after: str = "", before: str = "", limit: int = PAGE_SIZE
) -> KeysetPage[M]:
    """Page by (created_at, id): as fast on the millionth row as on the first, with no COUNT."""
    if before:
        created, pk = _parse_cursor(before)
        newer = rows.filter(Q(created_at__gt=created) | Q(created_at=created, pk__gt=pk))
        found = list(newer.order_by("created_at", "pk")[: limit + 1])
        more_newer = len(found) > limit
        items = found[:limit][::-1]
        return KeysetPage(
            items,
            next_cursor=_cursor(items[-1]) if items else None,
            prev_cursor=_cursor(items[0]) if items and more_newer else None,
        )
    if after:
        created, pk = _parse_cursor(after)
        rows = rows.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    found = list(rows.order_by("-created_at", "-pk")[: limit + 1])
    items = found[:limit]
    return KeysetPage(
        items,
        next_cursor=_cursor(items[-1]) if len(found) > limit else None,
        prev_cursor=_cursor(items[0]) if after and items else None,
    )
