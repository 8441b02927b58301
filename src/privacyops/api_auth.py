"""Who is calling the JSON API: a personal API token or a signed-in session (with CSRF).

Also the error envelope every operation shares, so that each router documents the same
`{"code": ..., "message": ...}` body for its error statuses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Field, Schema
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from privacyops.errors import DomainError, NotFound, PermissionDenied
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ApiToken, User
from privacyops.tenancy.policy import role_in
from privacyops.tenancy.services import TOKEN_PREFIX, token_digest

# Writing last_used_at on every request would take the control DB's write lock per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Database ids are 64-bit; a larger number can name nothing and must not reach the driver.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Free text reaches PostgreSQL, which refuses NUL characters in strings.
NO_NUL = r"^[^\x00]*$"
# …and at least one character that is not blank, for names and reasons a person reads.
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"


def _in_utc(value: datetime) -> datetime:
    """Normalise to UTC; a moment beyond what UTC can hold is clamped to the representable end."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if value.year < 2 else datetime.max.replace(tzinfo=UTC)


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would otherwise read `1e5` as seconds since the epoch."""
    if isinstance(value, str) and not _ISO_START.match(value):
        raise ValueError("expected an ISO 8601 date-time with a timezone, e.g. 2024-05-01T00:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 date-time with a timezone, e.g. 2024-05-01T00:00:00Z")
    return value


_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]


@dataclass(frozen=True)
class ApiCaller:
    """The authenticated user and, when a token was used, its prefix (recorded in the audit)."""

    user: User
    token_prefix: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor.for_user(self.user, token_prefix=self.token_prefix)

    @property
    def by_token(self) -> bool:
        return self.token_prefix is not None


def caller(request: HttpRequest) -> ApiCaller:
    """The caller that authentication attached to the request (every operation requires one)."""
    auth = getattr(request, "auth", None)
    if not isinstance(auth, ApiCaller):
        raise TypeError("caller() used on an operation without authentication")
    return auth


class TokenRefused(DomainError):
    """A token that exists but may no longer be used: the caller learns which and what to do."""

    code = "unauthenticated"
    status = 401


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer po_…`: a personal token, looked up by its SHA-256 digest."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiCaller | None:
        token = token.strip()
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = (
            ApiToken.objects.select_related("user")
            .filter(token_hash=token_digest(token), user__isnull=False, user__is_active=True)
            .first()
        )
        if row is None or row.user is None:
            return None
        now = timezone.now()
        if row.revoked_at is not None:
            raise TokenRefused(
                f"This API token ({row.prefix}…) was revoked on {row.revoked_at:%Y-%m-%d %H:%M} "
                "UTC. Create a new one (POST /api/v1/tokens from a signed-in session, the "
                "API tokens page, or `privacyops manage token create`) and use that instead.",
                code="token_revoked",
            )
        if row.expires_at is not None and row.expires_at <= now:
            raise TokenRefused(
                f"This API token ({row.prefix}…) expired on {row.expires_at:%Y-%m-%d %H:%M} UTC. "
                "Create a new one (POST /api/v1/tokens from a signed-in session, the API "
                "tokens page, or `privacyops manage token create`) and use that instead.",
                code="token_expired",
            )
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.user = row.user
        return ApiCaller(row.user, token_prefix=row.prefix)


class SessionCsrfAuth(SessionAuth):
    """The Django session of a signed-in user; unsafe methods must pass Django's CSRF check.

    Unlike ninja's SessionAuth, the CSRF check only runs when there is a signed-in user, so an
    anonymous POST answers 401 (who are you?) rather than 403 (CSRF).
    """

    def __call__(self, request: HttpRequest) -> ApiCaller | None:
        user = request.user
        if not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise PermissionDenied(
                "CSRF check failed: a request signed in by session cookie must send the "
                "X-CSRFToken header with the value of the csrftoken cookie (or use an API token).",
                code="csrf_failed",
            )
        return ApiCaller(cast(User, user))

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return self(request)


token_auth = ApiTokenAuth()
session_auth = SessionCsrfAuth(csrf=True)


def docs_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The interactive docs and the OpenAPI document: for signed-in users and valid tokens,
    unless PRIVACYOPS_API_DOCS_PUBLIC opens them to everyone."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.API_DOCS_PUBLIC or request.user.is_authenticated:
            return view(request, *args, **kwargs)
        try:
            by_token = token_auth(request) is not None
        except DomainError as error:
            return JsonResponse(error.as_dict(), status=error.status)
        if by_token:
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return JsonResponse(
                {"code": "unauthenticated",
                 "message": "The API description is for signed-in users: send "
                            "`Authorization: Bearer po_…` with a valid API token, or sign in."},
                status=401,
            )
        return redirect_to_login(request.get_full_path())

    return wrapper


def tenant_in_reach(user: User, tenant_id: int) -> None:
    """Another tenant answers 404 like a missing one; within one's own tenant the policy decides.

    Services check permissions and raise 403; called first, this keeps a tenant user from
    learning that another tenant exists.
    """
    if user.is_staff:
        return
    if role_in(user, tenant_id) is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")


class ErrorOut(Schema):
    """Every error answer: a stable code, a sentence with the fix, and optional details."""

    code: str
    message: str
    details: dict[str, Any] | None = None


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """Error statuses an operation documents; 401 and 422 apply to every operation."""
    return dict.fromkeys(sorted({401, 422, *statuses}), ErrorOut)
