"""The scale profile with real servers: Redis (queue, cache), moto's S3 server, worker processes.

Every worker is a real `privacyops worker` subprocess sharing the test's control database
(the SQLite file, or PostgreSQL when PRIVACYOPS_DATABASE_URL points there).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.demo_store import DemoStore, demo_store
from tests.redis_server import redis_url

__all__ = ["DemoStore", "demo_store", "redis_url"]

# Chosen per process by each test, never inherited from the shell running pytest.
PROFILE_VARIABLES = {"PRIVACYOPS_ENV", "PRIVACYOPS_TASKS_BACKEND", "PRIVACYOPS_REDIS_URL",
                     "PRIVACYOPS_DATABASE_URL", "PRIVACYOPS_TRUSTED_PROXY_COUNT"}


@pytest.fixture
def rq_backend(settings, redis_url: str) -> str:
    """This test process enqueues onto the test's Redis database, as a web process would."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": redis_url, "DEFAULT_TIMEOUT": -1}}
    return redis_url


def control_database_url() -> str:
    """The URL of the test control database, for processes started by the test."""
    database = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    assert connection.vendor == "postgresql"
    user = quote(str(database.get("USER") or ""), safe="")
    password = quote(str(database.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{database['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    """The environment of a worker or server process on another "machine" of the profile."""
    env = {key: value for key, value in os.environ.items()
           if key not in PROFILE_VARIABLES and not key.startswith("PRIVACYOPS_S3_")}
    env.update({
        "PRIVACYOPS_DATA_DIR": str(settings.DATA_DIR),
        "PRIVACYOPS_DATABASE_URL": control_database_url(),
        "PRIVACYOPS_DATAMAP_DIR": settings.DATAMAP_DIR,
        "PRIVACYOPS_JOB_LEASE_SECONDS": str(settings.JOB_LEASE_SECONDS),
    })
    env.update(overrides)
    return env


def run_worker_batch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacyops.cli", "worker", "--batch"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: object, *, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s")


def stop_process(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then the output; a process that ignores SIGTERM fails the test."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the process ignored SIGTERM for 30s:\n{output}")
    return output or ""


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str = "test-access-key"
    secret_access_key: str = "test-secret-key"
    region: str = "eu-central-1"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible server on a free local port, for the whole session."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    server = S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    pytest.fail(f"moto_server did not start on port {port}:\n{output}")
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
