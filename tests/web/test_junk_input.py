"""No junk in a URL earns a 5xx: every URL pattern (pages from the resolver, the API from its
OpenAPI document), junk in every path and query value, as every role.

Junk: letters where a number goes, a 25-digit id, a negative number, CR LF, a NUL, a bidi
override, and a very long value. An answer must be below 500; a refusal is a 4xx (and a 4xx
from the API is a JSON sentence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from privacyops.api import api
from tests import factories
from tests.workspace.demo_store import acme, demo_store, demo_template, globex

__all__ = ["acme", "demo_store", "demo_template", "globex"]

pytestmark = pytest.mark.django_db

JUNK = ["abc", "9" * 25, "-1", "0", "x\r\ny", "a\x00b", "\u202egnp.exe", "z" * 3000]
# Query names the pages and the API read, and names they do not: both must be harmless.
QUERY_NAMES = ["after", "before", "cursor", "page", "limit", "offset", "status", "type",
               "tenant", "tenant_id", "target_id", "target_type", "job_id", "search", "q",
               "since", "until", "actor", "action", "outcome", "workspace", "next", "format",
               "verified", "overdue", "scope_type", "scope_id", "active", "sort", "subject_id"]
ROLES = ["anonymous", "member", "admin", "super-admin", "staff"]
GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)|<(?:(\w+):)?(\w+)>")


def _route(pattern: URLPattern | URLResolver) -> str:
    return str(pattern.pattern)


def _clean(route: str) -> str:
    return route.replace("^", "").replace("$", "").replace("(?!request/)", "").replace("\\", "")


def page_routes() -> list[str]:
    """Every route of the site outside the API, as `privacy/<slug>/code/` text."""
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + _clean(_route(pattern))
            if route.startswith("api/"):
                continue
            if isinstance(pattern, URLResolver):
                walk(list(pattern.url_patterns), route)
            else:
                found.append(route)

    walk(list(get_resolver().url_patterns), "")
    return sorted(set(found))


def api_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path with {params}, query names) of every documented API operation."""
    schema = api.get_openapi_schema()
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            operations.append((method.upper(), path, query))
    return operations


def _fill(route: str, value: str, slug: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name == "slug" or match.group(2) == "slug":
            return slug
        return quote(value, safe="")

    return "/" + GROUP.sub(replace, route)


def _api_fill(path: str, value: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda _: quote(value, safe=""), path)


def paths_to_try(route: str) -> Iterator[tuple[str, str]]:
    """(path, junk value for the query) pairs: the same junk in the path and the query."""
    for value in JUNK:
        yield _fill(route, value, "acme"), value
    if GROUP.search(route):
        yield _fill(route, "1", "no-such-workspace"), "1"


@pytest.fixture
def clients(acme, globex) -> dict[str, Client]:
    users = {
        "member": factories.user_create(tenant=acme, role="member"),
        "admin": factories.user_create(tenant=acme, role="admin"),
        "super-admin": factories.user_create(tenant=acme, role="super-admin"),
        "staff": factories.user_create(is_staff=True),
    }
    factories.user_create(tenant=globex, role="admin")
    staff = users["staff"]
    job = factories.job_create(tenant=acme, requested_by=staff, target_id="1")
    factories.hold_create(tenant=acme, created_by=staff, scope_id=str(job.target_id))
    made = {"anonymous": Client(raise_request_exception=False)}
    for role, user in users.items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        made[role] = client
    return made


def _check(response, method: str, path: str, role: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{role} {method} {path[:120]!r} → {response.status_code}")


def _junk_query(names: list[str], value: str) -> dict[str, str]:
    return dict.fromkeys(names, value)


@pytest.mark.parametrize("role", ROLES)
def test_pages_answer_junk_without_a_server_error(clients, role):
    client = clients[role]
    failures: list[str] = []
    # Signing out last: the other pages are walked signed in.
    routes = sorted(page_routes(), key=lambda route: route.startswith("logout"))
    assert len(routes) >= 30, routes
    for route in routes:
        for path, value in paths_to_try(route):
            response = client.get(path, _junk_query(QUERY_NAMES, value))
            _check(response, "GET", path, role, failures)
            response = client.post(path, _junk_query(QUERY_NAMES, value))
            _check(response, "POST", path, role, failures)
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_api_answers_junk_with_a_json_sentence(clients, role):
    client = clients[role]
    failures: list[str] = []
    operations = api_operations()
    assert len(operations) >= 15, operations
    for method, template, query in operations:
        values = JUNK if "{" in template else JUNK[:1]
        for value in values:
            path = "/api/v1" + _api_fill(template, value).removeprefix("/api/v1")
            if method == "GET":
                response = client.get(path, _junk_query(query, value))
            else:
                response = client.generic(method, path, '{"tenant_id": "' + "9" * 25 + '"}',
                                          content_type="application/json")
            _check(response, method, path, role, failures)
            if 400 <= response.status_code < 500 and response.status_code != 405:
                body = response.json()
                if not (isinstance(body.get("message"), str) and len(body["message"]) > 5):
                    failures.append(f"{role} {method} {path[:80]!r}: no sentence in {body}")
    assert failures == [], "\n".join(failures)
