"""Shared browser-test infrastructure: Debian's chromium driven by Playwright against a live
server, a real SMTP server, sign-in and screenshot helpers. Reuse it for any page.

Contract
--------
Every test collected under ``tests/browser/`` is marked ``browser`` (``-m "not browser"`` skips
them). Fixtures:

``live_server``
    pytest-django's live server (a thread of this process) on a *transactional* database, so
    rows a test writes with ``tests.factories`` or the services are visible to the server and
    the other way round. Settings changed through the ``settings`` fixture apply to it too.
``browser`` (session)
    Playwright's sync API driving ``/usr/bin/chromium`` (``apt-get install chromium``) headless.
    ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set because the sync API runs an event loop in this thread.
``context`` / ``page`` (per test)
    A fresh context (no cookies), ``base_url`` = the live server, so ``page.goto("/login/")``
    works; viewport 1280x900; downloads accepted. Console errors and uncaught page errors are
    collected in ``console_errors``; the test fails at teardown if any remain. A test that
    provokes one on purpose removes it from that list. The page's last state is saved as
    ``<test name>-final.png``.
``console_errors``
    The list above (strings).
``smtp_server``
    A real SMTP server (aiosmtpd ``Controller``) on 127.0.0.1 and a free port, per test.
    ``.messages`` holds every message received as ``email.message.EmailMessage``;
    ``.wait_for(predicate, timeout=10)`` returns the first message matching ``predicate``.
``mail_to_smtp``
    Points Django's email (``EMAIL_BACKEND`` = SMTP, ``EMAIL_HOST``/``EMAIL_PORT``) at
    ``smtp_server`` for the test, and returns the server.

Helpers (import them: ``from tests.browser.conftest import login, screenshot``):

``login(page, email, password=PASSWORD)``
    Signs in through ``/login/`` with ``tests.factories.PASSWORD`` and waits to leave it.
``screenshot(page, name)`` / ``screenshots_at_widths(page, name, widths=(1280, 390))``
    Save full-page PNGs into ``test-artifacts/screenshots/`` at the repository root
    (gitignored). Save every page a test visits; look at them.

Passwords are hashed with a fast hasher here: Argon2 is slow by design, and no browser test
is about hashing.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from tests.factories import PASSWORD

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parent.parent / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


# --- helpers ----------------------------------------------------------------------------------

def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG of the page as it is now; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def screenshots_at_widths(page: Any, name: str, widths: tuple[int, ...] = (1280, 390)) -> None:
    """Save `<name>-<width>.png` at each width (desktop and phone), then restore the viewport."""
    original = page.viewport_size or VIEWPORT
    for width in widths:
        page.set_viewport_size({"width": width, "height": original["height"]})
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size(original)


def login(page: Any, email_address: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email_address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


# --- browser ----------------------------------------------------------------------------------

@pytest.fixture(autouse=True, scope="session")
def _static_root_exists() -> None:
    """WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collect."""
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, accept_downloads=True, locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def page(context: Any, console_errors: list[str], request: pytest.FixtureRequest) -> Iterator[Any]:
    page = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            console_errors.append(f"console error: {message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(f"uncaught page error: {error}"))
    yield page
    try:
        screenshot(page, f"{request.node.name}-final")
    except Exception:  # noqa: S110 — a closed page has nothing left to show
        pass
    page.close()
    assert not console_errors, "The browser reported errors:\n" + "\n".join(console_errors)


# --- SMTP ------------------------------------------------------------------------------------

@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool] = lambda m: True, timeout: float = 10
    ) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if predicate(message):
                    return message
            time.sleep(0.05)
        subjects = [str(m["Subject"]) for m in self.messages]
        raise AssertionError(f"No matching email within {timeout}s; received: {subjects}")


class _Collector:
    def __init__(self, messages: list[EmailMessage]) -> None:
        self.messages = messages

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", _free_port())
    controller = Controller(_Collector(server.messages), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def mail_to_smtp(settings: Any, smtp_server: SmtpServer) -> SmtpServer:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    return smtp_server
