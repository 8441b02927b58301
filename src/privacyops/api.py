"""The JSON API under /api/v1 (django-ninja), assembled from each app's router.

Every error answers `{"code": ..., "message": ...}` (optionally `details`), mapped here in one
place: domain errors keep their own code and status; ninja's own errors get the same shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from privacyops.api_auth import docs_access, session_auth, token_auth
from privacyops.audit.api import router as audit_router
from privacyops.errors import DomainError, NotFound
from privacyops.holds.api import router as holds_router
from privacyops.intake.api import router as requests_router
from privacyops.jobs.api import router as jobs_router
from privacyops.privacy_center.api import router as privacy_center_router
from privacyops.tenancy.api import router as tenancy_router


def _json_method_not_allowed(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Ninja answers a wrong method with plain text; keep the JSON error shape there too."""

    @functools.wraps(view)  # keeps csrf_exempt: CSRF is the session authenticator's job
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = JsonResponse(
                {"code": "method_not_allowed",
                 "message": f"{request.method} is not allowed here; use {allowed}."},
                status=405,
            )
            response["Allow"] = allowed
        return response

    return wrapper


class PrivacyOpsAPI(NinjaAPI):
    def _get_urls(self) -> list[URLResolver | URLPattern]:
        patterns = super()._get_urls()
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = _json_method_not_allowed(pattern.callback)
        return patterns


api = PrivacyOpsAPI(
    title="PrivacyOps API",
    version="1",
    urls_namespace="api",
    description=(
        "Data-lifecycle jobs, legal holds, the audit log and tenants. Authenticate with a "
        "personal token (`Authorization: Bearer po_…`) or a signed-in session (send the "
        "`X-CSRFToken` header on POST). Errors answer `{\"code\": …, \"message\": …}`."
    ),
    auth=[token_auth, session_auth],
    docs_decorator=docs_access,
)

_STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 422: "invalid",
                 429: "rate_limited"}
_PARAM_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def _error(request: HttpRequest, status: int, code: str, message: str,
           details: dict[str, Any] | None = None) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return api.create_response(request, body, status=status)


def _field_name(location: list[Any] | tuple[Any, ...]) -> str:
    """`["body", "payload", "target_id"]` → `target_id`; `["query", "limit"]` → `limit`."""
    parts = [str(part) for part in location]
    if parts and parts[0] in _PARAM_SOURCES:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in {"payload", "query"}:
        parts = parts[1:]
    return ".".join(parts) or "request"


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def _invalid_input(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [
        {"field": _field_name(error.get("loc", ())), "message": str(error.get("msg", "invalid"))}
        for error in exc.errors
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return _error(request, 422, "invalid", message, {"errors": errors})


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(
        request, 401, "unauthenticated",
        "Authentication required: send `Authorization: Bearer po_…` with a valid, unrevoked "
        "API token, or sign in.",
    )
    response["WWW-Authenticate"] = 'Bearer realm="privacyops"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, _STATUS_CODES.get(exc.status_code, "error"),
                  exc.message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", "Not found.")


@api.exception_handler(DjangoValidationError)
def _django_invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    return _error(request, 422, "invalid", " ".join(exc.messages))


api.add_router("", jobs_router)
api.add_router("", holds_router)
api.add_router("", audit_router)
api.add_router("", tenancy_router)
api.add_router("", requests_router)
api.add_router("/privacy/", privacy_center_router)

# Last: any other path under /api/v1/ answers a JSON 404 rather than Django's HTML page.
_fallback = Router()


@_fallback.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:unmatched}",
                         auth=None, include_in_schema=False)
def _unmatched(request: HttpRequest, unmatched: str) -> HttpResponse:
    raise NotFound(f"There is no API endpoint at /api/v1/{unmatched}; see /api/v1/docs.")


api.add_router("", _fallback)
