"""Requests to one HTTP service: authentication, timeout, retries with backoff, rate limit.

Standard library only (``http.client``). Nothing here logs or raises a full URL, a query
string, a header value or a body: messages name the system, the method and the path
*template* (``/contacts/{id}``), so neither a secret nor a subject's identity leaks.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlencode, urlsplit

from privacyops.connectors.base import ConnectorError
from privacyops.datamap.http_schema import AuthSpec, BehaviourSpec

logger = logging.getLogger("privacyops.connectors.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Message
    body: bytes

    def json(self, what: str) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ConnectorError(f"{what} answered something that is not JSON "
                                 f"(status {self.status}); check the path and the base URL") \
                from exc


class RateLimiter:
    """At most ``per_second`` requests per second, shared by the connectors of one system."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


_LIMITERS: dict[tuple[str, str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(system: str, base_url: str, per_second: float) -> RateLimiter:
    with _LIMITERS_LOCK:
        key = (system, base_url, per_second)
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(per_second)
        return _LIMITERS[key]


def auth_headers(auth: AuthSpec | None, values: dict[str, str]) -> dict[str, str]:
    """The authentication headers, from the environment values the map names (AuthSpec
    guarantees the keys its type needs)."""
    if auth is None:
        return {}
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {values[str(auth.token_env)]}"}
    if auth.type == "basic":
        pair = f"{values[str(auth.username_env)]}:{values[str(auth.password_env)]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {str(auth.header): values[str(auth.value_env)]}


def retry_after_seconds(headers: Message) -> float | None:
    """``Retry-After`` in seconds (a number, or an HTTP date), None when absent or unreadable."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Transport:
    """One service's requests; a request that keeps failing raises :class:`ConnectorError`."""

    def __init__(self, system: str, base_url: str, headers: dict[str, str],
                 behaviour: BehaviourSpec, auth_hint: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectorError(f"{system}: the base URL is not an http(s) URL; check the "
                                 "environment variable the map names in base_url_env")
        self.system = system
        self.base: SplitResult = parts
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "privacyops", **headers}
        self.behaviour = behaviour
        self.auth_hint = auth_hint
        self.limiter = shared_limiter(system, f"{parts.scheme}://{parts.netloc}",
                                      behaviour.rate_limit_per_second)
        self._local = threading.local()
        self.requests_sent = 0

    # -- connection ---------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            host, port = self.base.hostname or "", self.base.port
            timeout = self.behaviour.timeout_seconds
            if self.base.scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        self._drop_connection()

    # -- targets ------------------------------------------------------------------------------
    def target(self, path: str, params: dict[str, str] | None = None) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.prefix}{path}{query}"

    def same_origin_target(self, url: str, what: str) -> str:
        """The request target of an absolute or relative ``next`` link, on this service only
        (credentials are never sent to another host)."""
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            if (parts.scheme, parts.netloc) != (self.base.scheme, self.base.netloc):
                raise ConnectorError(f"{self.system}: {what} points the next page at another "
                                     "host; refusing to send the credentials there")
        path = parts.path if parts.path.startswith("/") else f"{self.prefix}/{parts.path}"
        return path + (f"?{parts.query}" if parts.query else "")

    # -- requests -----------------------------------------------------------------------------
    def request(self, method: str, target: str, *, what: str, body: Any = None,
                ok_statuses: frozenset[int] = frozenset()) -> Response:
        """Send one request, retrying 429/5xx and network errors with exponential backoff.

        ``what`` names the request in messages (``crm: GET /contacts/{id}``); ``target`` (the
        filled-in path and query) is never logged. A 2xx answer or a status in
        ``ok_statuses`` is returned; any other raises :class:`ConnectorError`."""
        payload = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        attempts = self.behaviour.retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            self.limiter.wait()
            wait: float | None = None
            try:
                conn = self._connection()
                self.requests_sent += 1
                conn.request(method, target, body=payload, headers=headers)
                raw = conn.getresponse()
                response = Response(raw.status, raw.reason, raw.headers, raw.read())
                if raw.will_close:
                    self._drop_connection()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                last = "no answer (timed out)" if isinstance(exc, TimeoutError) \
                    else f"no answer ({type(exc).__name__})"
            else:
                if 200 <= response.status < 300 or response.status in ok_statuses:
                    logger.debug("%s answered %s", what, response.status)
                    return response
                if response.status not in RETRY_STATUSES:
                    raise ConnectorError(self._refusal(what, response))
                last = f"{response.status} {response.reason}".strip()
                wait = retry_after_seconds(response.headers)
            if attempt == attempts:
                break
            if wait is None:
                backoff = self.behaviour.backoff_seconds * 2 ** (attempt - 1)
                wait = backoff * (1 + random.random() / 4)  # noqa: S311 - jitter, not security
            wait = min(wait, self.behaviour.max_backoff_seconds)
            logger.warning("%s: %s, attempt %d of %d; retrying in %.1f s", what, last, attempt,
                           attempts, wait)
            time.sleep(wait)
        raise ConnectorError(
            f"{what} kept failing after {attempts} attempt(s) (last: {last}); the service is "
            "down or limiting requests, try the job again later (raise behaviour.retries or "
            "behaviour.timeout_seconds in the map if it is only slow)")

    def _refusal(self, what: str, response: Response) -> str:
        status = f"{response.status} {response.reason}".strip()
        if response.status in (401, 403):
            return (f"{what} was refused ({status}); check the credentials in {self.auth_hint} "
                    "and that they may read and change these records")
        if response.status == 404:
            return f"{what} answered {status}; check the path in the map and the base URL"
        return (f"{what} answered {status}; check the request in the map against the "
                "service's API documentation")


__all__ = ["RateLimiter", "Response", "Transport", "auth_headers", "retry_after_seconds"]
