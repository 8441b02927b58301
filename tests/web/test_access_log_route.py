"""The access log names the route that answered, never the path (tokens live in paths).

`privacyops.logs.AccessLogRouteMiddleware` leaves the route in the WSGI environ, where
gunicorn's access-log format reads it (`tests/web/test_log_hygiene_serve.py` reads the lines
of a real `privacyops serve`)."""

from __future__ import annotations

import re

import pytest

from privacyops.logs import ACCESS_LOG_ROUTE
from privacyops.web import gunicorn_conf

pytestmark = pytest.mark.django_db

TOKEN = "Zq7canaryTOKEN0000"


def route(response) -> str:
    return response.wsgi_request.META[ACCESS_LOG_ROUTE]


def test_a_token_path_is_logged_as_its_route(client, tenant):
    response = client.get(f"/privacy/request/acme/verify/{TOKEN}/")
    assert route(response) == "/privacy/request/<slug:slug>/verify/<str:token>/"
    assert TOKEN not in route(response)


def test_pages_by_their_pattern_and_errors_too(client, staff):
    client.force_login(staff)
    assert route(client.get("/platform/privacy/holds/")) == "/platform/privacy/holds/"
    missing = client.get("/platform/privacy/jobs/987654/")
    assert missing.status_code == 404
    assert route(missing) == "/platform/privacy/jobs/<int:job_id>/"
    assert route(client.get(f"/no/such/{TOKEN}/")) == "(no route)"


def test_the_format_reads_the_route_and_no_path_or_query():
    form = gunicorn_conf.access_log_format
    assert "%({privacyops.route}e)s" in form
    assert not re.search(r"%\((r|U|q|\{raw_uri\}e|\{path_info\}e)\)s", form)
