"""HTTP hardening a visitor's browser sees: the headers, the idle timeout, the server banner."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

import privacyops

pytestmark = pytest.mark.django_db

SRC = Path(privacyops.__file__).resolve().parent


def _csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


class TestHeaders:
    @pytest.mark.parametrize("path", ["/login/", "/platform/privacy/", "/api/v1/jobs",
                                      "/api/v1/docs", "/privacy/request", "/no-such-page/"])
    def test_every_answer_carries_the_policy_and_the_browser_headers(self, client, staff, path):
        client.force_login(staff)
        response = client.get(path)
        directives = _csp_directives(response)
        assert directives["script-src"] == ["'self'"]
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "'unsafe-eval'" not in response["Content-Security-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response  # development: no HSTS

    def test_no_template_holds_inline_script(self):
        """The policy would block it, so it would silently not run: keep all script in files.

        Email bodies are not pages: mail readers ignore style sheets, so their HTML part keeps
        its styles inline (and still holds no script)."""
        offenders = []
        for template in SRC.rglob("templates/**/*.html"):
            is_email = "email" in template.name or "mail" in template.parent.name
            text = template.read_text()
            patterns = [r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"javascript:",
                        r"\bhx-on"] + ([] if is_email else [r"\sstyle\s*="])
            for pattern in patterns:
                offenders += [f"{template.relative_to(SRC)}: {m.group(0)}"
                              for m in re.finditer(pattern, text, re.IGNORECASE)]
        assert offenders == []


PRODUCTION_BOOT = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/login/", secure=True, HTTP_HOST="localhost")
print(json.dumps({"status": response.status_code,
                  "hsts": response.get("Strict-Transport-Security"),
                  "cookies": {name: bool(c["secure"]) for name, c in response.cookies.items()},
                  "session_cookie_secure": settings.SESSION_COOKIE_SECURE}))
"""


def test_production_sends_hsts_and_secure_cookies(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRIVACYOPS_")}
    env.update({"PRIVACYOPS_DATA_DIR": str(tmp_path), "PRIVACYOPS_ENV": "production",
                "PRIVACYOPS_SECRET_KEY": "s" * 50, "PRIVACYOPS_ARTIFACT_KEY": "a" * 50,
                "DJANGO_SETTINGS_MODULE": "privacyops.settings"})
    booted = subprocess.run([sys.executable, "-c", PRODUCTION_BOOT], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert booted.returncode == 0, booted.stderr
    shown = json.loads(booted.stdout.strip().splitlines()[-1])
    assert shown["status"] == 200
    assert shown["hsts"].startswith("max-age=31536000")
    assert shown["cookies"] == {"csrftoken": True}
    assert shown["session_cookie_secure"] is True


class TestIdleTimeout:
    def test_a_session_idle_for_thirty_minutes_must_sign_in_again(self, client, staff):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            client.force_login(staff)
            assert client.get("/platform/privacy/").status_code == 200
        with time_machine.travel(start + timedelta(minutes=29), tick=False):
            assert client.get("/platform/privacy/").status_code == 200
        with time_machine.travel(start + timedelta(minutes=58), tick=False):
            assert client.get("/platform/privacy/").status_code == 200  # 29 idle minutes again
        with time_machine.travel(start + timedelta(minutes=89), tick=False):
            response = client.get("/platform/privacy/", follow=True)
        assert response.redirect_chain[-1][0] == "/login/?next=/platform/privacy/"
        assert "without activity" in response.content.decode()
        assert client.get("/platform/privacy/").status_code == 302  # signed out for good

    def test_the_api_answers_401_with_a_sentence(self, client, staff):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            client.force_login(staff)
            assert client.get("/api/v1/jobs").status_code == 200
        with time_machine.travel(start + timedelta(minutes=31), tick=False):
            response = client.get("/api/v1/jobs")
        assert response.status_code == 401
        assert response.json()["code"] == "session_expired"
        assert "Sign in again" in response.json()["message"]

    def test_the_limit_is_a_setting(self, client, staff, settings):
        settings.SESSION_IDLE_SECONDS = 5 * 60
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            client.force_login(staff)
            client.get("/platform/privacy/")
        with time_machine.travel(start + timedelta(minutes=6), tick=False):
            assert client.get("/platform/privacy/").status_code == 302


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_names_no_server_software(tmp_path):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRIVACYOPS_")}
    env.update({"PRIVACYOPS_DATA_DIR": str(tmp_path), "PRIVACYOPS_TASKS_BACKEND": "immediate"})
    server = subprocess.Popen(
        [sys.executable, "-m", "privacyops.cli", "serve", "--port", str(port), "--workers", "1",
         "--no-worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        response = None
        while time.monotonic() < deadline and response is None:
            try:
                response = urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5)
            except OSError:
                time.sleep(0.3)
        assert response is not None, "the server did not answer within 60s"
        assert response.status == 200
        assert "Server" not in response.headers
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    finally:
        server.terminate()
        server.communicate(timeout=30)
