"""The submission limiter shared by several processes, on the database cache and on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.db import connection

from privacyops.intake.ratelimit import ip_hash
from tests.redis_server import redis_url

__all__ = ["redis_url"]

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


def _test_database_url() -> str:
    """The URL of this test run's control database (SQLite file or PostgreSQL database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    assert connection.vendor == "postgresql", connection.vendor
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return (f"postgresql://{quote(db['USER'])}{password}@{db['HOST']}:{db['PORT'] or 5432}/"
            f"{db['NAME']}")


class TestAcrossProcesses:
    def test_database_cache_hands_out_three_slots(self):
        env = _base_env()
        env["PRIVACYOPS_DATABASE_URL"] = _test_database_url()
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
