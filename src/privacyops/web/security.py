"""HTTP hardening every response gets: a Content-Security-Policy and a session idle timeout.

Django's SecurityMiddleware already sends `X-Content-Type-Options: nosniff`, the
`Referrer-Policy` and, in production behind TLS, HSTS (see settings.py); this module adds what
Django 5.2 has no setting for.

The policy allows scripts, styles and fonts from this site only: no inline script, no inline
event handler, no `eval`, no other origin. Every page's behaviour lives in static files (htmx,
`workspace/gdpr.js`, Swagger UI's own bundle), so a script injected into a page would not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib import auth, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

LAST_SEEN = "_privacyops_last_seen"
# Writing the session on every request would cost a write per page; a minute is precise enough.
LAST_SEEN_RESOLUTION = 60


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


def _expired_answer(request: HttpRequest) -> HttpResponse:
    minutes = settings.SESSION_IDLE_SECONDS // 60
    sentence = (f"Your session ended after {minutes} minutes without activity. "
                "Sign in again to continue.")
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "session_expired", "message": sentence}, status=401)
    messages.info(request, sentence)
    login_url = f"{settings.LOGIN_URL}?next={quote(request.get_full_path())}"
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = login_url
        return response
    return HttpResponseRedirect(login_url)


def stamp_sign_in(sender: object, request: HttpRequest, **kwargs: object) -> None:
    """The idle clock starts at sign-in (connected to `user_logged_in` in WebConfig.ready)."""
    if hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())


class SessionIdleTimeoutMiddleware:
    """Signs out an account idle for longer than PRIVACYOPS_SESSION_IDLE_MINUTES.

    The time of the last request is kept in the (server-side) session; a request after the idle
    limit ends the session and asks the person to sign in again.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN)
            if isinstance(last_seen, int) and now - last_seen > settings.SESSION_IDLE_SECONDS:
                auth.logout(request)
                return _expired_answer(request)
            if not isinstance(last_seen, int) or now - last_seen >= LAST_SEEN_RESOLUTION:
                request.session[LAST_SEEN] = now
        return self.get_response(request)
