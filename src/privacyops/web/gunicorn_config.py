"""Gunicorn settings of `privacyops serve` (loaded with `-c python:privacyops.web.gunicorn_config`).

Gunicorn names itself and its version in a `Server` header on every response and has no
setting to turn that off; the banner only helps an attacker pick exploits, so the header line
is dropped from the response head here.
"""

from __future__ import annotations

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _headers_without_server(self: wsgi.Response) -> list[str]:
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


wsgi.Response.default_headers = _headers_without_server  # type: ignore[method-assign]
