"""Small fake HTTP services (WSGI apps) served by a real server on 127.0.0.1 in a thread.

Each service keeps its records in memory, checks the credentials of every request (401
otherwise) and records what it received (method, path, query, headers, body, time), so tests
can check what the connector actually sent.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class FakeService:
    """Base: auth check, request log, JSON in and out. Subclasses implement ``route``."""

    auth_header: str = "Authorization"
    auth_value: str = ""
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Hook: called with the request before routing; may return an answer instead.
    before: Callable[[Seen], Answer | None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        seen = Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"], query, headers,
                    json.loads(raw) if raw else None, time.monotonic())
        with self.lock:
            self.seen.append(seen)
            if headers.get(self.auth_header.title()) != self.auth_value:
                answer: Answer = (401, {}, {"error": "unauthorized"})
            else:
                early = self.before(seen) if self.before else None
                answer = early if early is not None else self.route(seen)
        status, extra, body = answer
        seen.status = status
        payload = b"" if body is None else json.dumps(body).encode()
        reason = {200: "OK", 204: "No Content", 401: "Unauthorized", 404: "Not Found",
                  429: "Too Many Requests", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(status, "Status")
        start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(payload))),
                                              *extra.items()])
        return [payload]

    def route(self, seen: Seen) -> Answer:
        raise NotImplementedError

    def requests_to(self, method: str, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]


@contextmanager
def serve(app: FakeService) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def merge(record: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch (RFC 7386) of ``patch`` into ``record``."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(record.get(key), dict):
            merge(record[key], value)
        else:
            record[key] = value


# -- (a) a CRM: bearer token, cursor pagination, PATCH masking ---------------------------------
class Crm(FakeService):
    """``/api/contacts`` (search by email, cursor pages of 2), ``/api/contacts/{id}``
    (GET, PATCH with ``{"contact": {...}}``), ``/api/contacts/{id}/notes`` (cursor pages of 2),
    ``/api/notes/{id}`` (PATCH)."""

    PAGE = 2

    def __init__(self, token: str) -> None:
        super().__init__(auth_value=f"Bearer {token}")
        self.contacts: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, dict[str, Any]] = {}

    def _page(self, items: list[dict[str, Any]], cursor: str | None) -> Answer:
        start = int(cursor or 0)
        chunk = items[start:start + self.PAGE]
        more = start + self.PAGE < len(items)
        return 200, {}, {"data": {"items": copy.deepcopy(chunk)},
                         "meta": {"next_cursor": str(start + self.PAGE) if more else None}}

    def route(self, seen: Seen) -> Answer:
        parts = seen.path.strip("/").split("/")
        if parts[:2] != ["api", "contacts"] and parts[:2] != ["api", "notes"]:
            return 404, {}, {"error": "no route"}
        if parts == ["api", "contacts"] and seen.method == "GET":
            email = seen.query.get("email", "").casefold()
            found = [c for c in self.contacts.values()
                     if isinstance(c.get("email"), str) and c["email"].casefold() == email]
            return self._page(found, seen.query.get("cursor"))
        if parts[1] == "contacts" and len(parts) == 3:
            contact = self.contacts.get(parts[2])
            if contact is None:
                return 404, {}, {"error": "not found"}
            if seen.method == "GET":
                return 200, {}, {"data": copy.deepcopy(contact)}
            if seen.method == "PATCH":
                merge(contact, seen.body["contact"])
                return 200, {}, {"data": copy.deepcopy(contact)}
        if parts[1] == "contacts" and len(parts) == 4 and parts[3] == "notes":
            notes = [n for n in self.notes.values() if n["contact_id"] == parts[2]]
            return self._page(notes, seen.query.get("cursor"))
        if parts[1] == "notes" and len(parts) == 3 and seen.method == "PATCH":
            note = self.notes.get(parts[2])
            if note is None:
                return 404, {}, {"error": "not found"}
            merge(note, seen.body)
            return 200, {}, copy.deepcopy(note)
        return 405, {}, {"error": "method not allowed"}


# -- (b) a newsletter service: API-key header, page numbers and Link headers, DELETE, 429 -------
class Newsletter(FakeService):
    """``/v1/subscribers`` (search by email, page numbers of 2), ``/v1/subscribers/{id}``
    (GET, DELETE), ``/v1/subscriptions`` (by subscriber id, Link-header pages of 2),
    ``/v1/subscriptions/{id}`` (DELETE). ``throttle`` answers 429 with Retry-After to the
    next N requests."""

    PAGE = 2

    def __init__(self, key: str, retry_after: str = "1") -> None:
        super().__init__(auth_header="X-Api-Key", auth_value=key)
        self.subscribers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.throttle = 0
        self.retry_after = retry_after
        self.base_url = ""

    def route(self, seen: Seen) -> Answer:
        if self.throttle > 0:
            self.throttle -= 1
            return 429, {"Retry-After": self.retry_after}, {"error": "slow down"}
        parts = seen.path.strip("/").split("/")
        if parts == ["v1", "subscribers"] and seen.method == "GET":
            email = seen.query.get("email", "").casefold()
            found = [s for s in self.subscribers.values() if s["email"].casefold() == email]
            page = int(seen.query.get("page", "1"))
            size = int(seen.query.get("per_page", str(self.PAGE)))
            chunk = found[(page - 1) * size: page * size]
            return 200, {}, {"subscribers": copy.deepcopy(chunk)}
        if parts[:2] == ["v1", "subscribers"] and len(parts) == 3:
            if parts[2] not in self.subscribers:
                return 404, {}, {"error": "not found"}
            if seen.method == "GET":
                return 200, {}, copy.deepcopy(self.subscribers[parts[2]])
            if seen.method == "DELETE":
                del self.subscribers[parts[2]]
                return 204, {}, None
        if parts == ["v1", "subscriptions"] and seen.method == "GET":
            owner = seen.query.get("subscriber")
            found = [s for s in self.subscriptions.values() if s["subscriber"] == owner]
            offset = int(seen.query.get("offset", "0"))
            headers = {}
            if offset + self.PAGE < len(found):
                headers["Link"] = (f'<{self.base_url}/v1/subscriptions?subscriber={owner}&'
                                   f'offset={offset + self.PAGE}>; rel="next", '
                                   f'<{self.base_url}/v1/subscriptions>; rel="first"')
            return 200, headers, copy.deepcopy(found[offset:offset + self.PAGE])
        if parts[:2] == ["v1", "subscriptions"] and len(parts) == 3 and seen.method == "DELETE":
            if self.subscriptions.pop(parts[2], None) is None:
                return 404, {}, {"error": "not found"}
            return 204, {}, None
        return 404, {}, {"error": "no route"}


# -- (c) a loyalty service: basic auth, PATCH member, DELETE cards; can fail mid-erase ----------
class Loyalty(FakeService):
    """``/members?email=`` (no pagination), ``/members/{id}`` (GET, PUT of the whole record),
    ``/members/{id}/cards`` (no pagination), ``/cards/{id}`` (DELETE). While ``broken`` names
    a card id, deleting that card answers 500."""

    def __init__(self, user: str, password: str) -> None:
        super().__init__(auth_value=basic(user, password))
        self.members: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, dict[str, Any]] = {}
        self.broken: str | None = None

    def route(self, seen: Seen) -> Answer:
        parts = seen.path.strip("/").split("/")
        if parts == ["members"] and seen.method == "GET":
            email = seen.query.get("email", "").casefold()
            found = [m for m in self.members.values()
                     if isinstance(m.get("email"), str) and m["email"].casefold() == email]
            return 200, {}, {"results": copy.deepcopy(found)}
        if parts[0] == "members" and len(parts) == 2:
            if parts[1] not in self.members:
                return 404, {}, {"error": "not found"}
            if seen.method == "GET":
                return 200, {}, copy.deepcopy(self.members[parts[1]])
            if seen.method == "PUT":
                if set(seen.body) != set(self.members[parts[1]]):
                    return 422, {}, {"error": "PUT needs the whole record"}
                self.members[parts[1]] = seen.body
                return 200, {}, seen.body
        if parts[0] == "members" and len(parts) == 3 and parts[2] == "cards":
            found = [c for c in self.cards.values() if c["member_id"] == parts[1]]
            return 200, {}, {"results": copy.deepcopy(found)}
        if parts[0] == "cards" and len(parts) == 2 and seen.method == "DELETE":
            if parts[1] == self.broken:
                return 500, {}, {"error": "database unavailable"}
            if self.cards.pop(parts[1], None) is None:
                return 404, {}, {"error": "not found"}
            return 204, {}, None
        return 404, {}, {"error": "no route"}
