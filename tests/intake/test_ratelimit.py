"""The submission limiter shared by several processes, on the database cache and on Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from privacyops.intake.ratelimit import ip_hash

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = """
import sys, time
import django
django.setup()
from privacyops.intake.ratelimit import submission_slot_take
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
print("taken" if submission_slot_take(tenant_id=1, address_hash=sys.argv[2]) is None else "refused")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _race(env: dict[str, str], processes: int = 8) -> list[str]:
    """Start `processes` interpreters that all try to take a slot at the same instant."""
    start = time.time() + 3.0
    address = ip_hash("203.0.113.50")
    children = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(start), address], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    answers = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        answers.append(out.strip())
    return answers


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACYOPS_")}
    env["PRIVACYOPS_DATA_DIR"] = os.environ["PRIVACYOPS_DATA_DIR"]
    env["DJANGO_SETTINGS_MODULE"] = "privacyops.settings"
    return env


class TestAcrossProcesses:
    def test_database_cache_hands_out_three_slots(self):
        if connection.vendor != "sqlite":
            pytest.skip("points the workers at the SQLite test database file")
        env = _base_env()
        env["PRIVACYOPS_DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
        answers = _race(env)
        assert sorted(answers) == ["refused"] * 5 + ["taken"] * 3

    def test_redis_hands_out_three_slots(self, redis_url):
        env = _base_env()
        env["PRIVACYOPS_REDIS_URL"] = redis_url
        answers = _race(env)
        assert sorted(answers) == ["refused"] * 5 + ["taken"] * 3


class TestRedisBackedForm:
    def test_fourth_submission_is_refused_through_redis(self, client, tenant, settings,
                                                          redis_url):
        from tests.intake.conftest import form_data

        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": redis_url}}
        for _ in range(3):
            response = client.post("/privacy/request/acme/", form_data(),
                                   REMOTE_ADDR="203.0.113.9")
            assert response.status_code == 302
        response = client.post("/privacy/request/acme/", form_data(), REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 429
