"""What reaches a log line: ids, route names and exception types; never a token, a signed
link or a data subject's identity.

Two places carry those values into logs without any of our code naming them, so they are
cut where the record is made, before any handler (or a test's capture) sees it:

- Django's request loggers (`django.request`, `django.security.csrf`, `django.server`) write
  the request path of every 4xx/5xx, and paths hold signed download links and verification
  tokens. `RequestPathRedaction` replaces the path with the route it matched
  (`/downloads/<str:token>/`) and drops the request object from the record.
- Tracebacks end with the exception's message, and messages quote values (a driver error
  lists its query parameters; a lookup error names what it did not find). Every record's
  traceback keeps its frames and the exception types, not the messages (`redacted_traceback`).

Our own log calls name jobs, requests and tenants by id only; the tests in
`tests/web/test_log_hygiene.py` run every public flow with canary values and scan whole records.
"""

from __future__ import annotations

import logging
import logging.config
import traceback
from types import TracebackType
from typing import Any

from django.urls import Resolver404, resolve

REQUEST_LOGGERS = ("django.request", "django.security.csrf", "django.server")
NO_ROUTE = "(no route)"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def route_of(request: Any) -> str:
    """The URL pattern a request matched (`/privacy/request/<slug:slug>/verify/<str:token>/`)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        path = getattr(request, "path_info", None)
        if not isinstance(path, str):
            return NO_ROUTE
        try:
            match = resolve(path)
        except (Resolver404, ValueError):
            return NO_ROUTE
    if match is None:
        return NO_ROUTE
    route = str(getattr(match, "route", "") or "")
    return "/" + route.lstrip("^").rstrip("$")  # "" is the home page: "/"


def _request_paths(request: Any) -> list[str]:
    paths = []
    for attribute in ("path", "path_info"):
        value = getattr(request, attribute, None)
        if isinstance(value, str) and value:
            paths.append(value)
    return sorted(set(paths), key=len, reverse=True)


class RequestPathRedaction(logging.Filter):
    """Put on the request loggers: the path in a record's arguments becomes its route."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = record.__dict__.pop("request", None)
        if request is None or not record.args:
            return True
        route = route_of(request)
        paths = _request_paths(request)
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        cleaned: list[object] = []
        for arg in args:
            if isinstance(arg, str):
                for path in paths:
                    arg = arg.replace(path, route)
            cleaned.append(arg)
        record.args = tuple(cleaned)
        return True


# The WSGI environ key the access log reads (`%({privacyops.route}e)s` in gunicorn_conf.py).
ACCESS_LOG_ROUTE = "privacyops.route"


class AccessLogRouteMiddleware:
    """Outermost middleware: names the route that answered in the request's WSGI environ, so
    the server's access log says which page answered 500 without logging the path (whose
    tokens and signed links must stay out of logs)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        route = route_of(request)
        if route == NO_ROUTE and str(getattr(request, "path_info", "")).startswith(
                _static_prefix()):
            route = _static_prefix() + "…"  # a file WhiteNoise served: no view, no token
        request.META[ACCESS_LOG_ROUTE] = route
        return response


def _static_prefix() -> str:
    from django.conf import settings

    return "/" + str(settings.STATIC_URL).strip("/") + "/"


def _exception_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)
    return list(reversed(chain))


def redacted_traceback(error: BaseException) -> str:
    """The traceback's frames and exception types, without the messages (they quote values)."""
    lines = ["Traceback (exception messages are left out of logs; they may quote personal data):"]
    for position, link in enumerate(_exception_chain(error)):
        if position:
            lines.append("During handling of the above exception, another exception occurred:")
        frames = traceback.extract_tb(link.__traceback__)
        lines.extend(line.rstrip("\n") for line in traceback.format_list(frames))
        kind = type(link)
        lines.append(f"{kind.__module__}.{kind.__qualname__}")
    return "\n".join(lines)


_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redacted_traceback(record.exc_info[1])
        record.exc_info = None
    return record


def install_record_factory() -> None:
    """Every record made in this process gets a redacted traceback (idempotent)."""
    logging.setLogRecordFactory(_record_factory)


def configure(config: dict[str, Any]) -> None:
    """LOGGING_CONFIG: the dictConfig of settings.LOGGING plus the record factory above."""
    install_record_factory()
    logging.config.dictConfig(config)
