"""The submission limiter shared by several processes, on the database cache and on Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from privacyops.intake.ratelimit import ip_hash
from tests.redis_server import redis_url
from tests.scale.conftest import control_database_url

__all__ = ["redis_url"]

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = """
import json, sys, time
import django
django.setup()
from django.core.cache import cache
from privacyops.intake.ratelimit import submission_slot_take
cache.get("warm-up")  # connect before the barrier, so the race is the slot, not the connect
print("ready", flush=True)
sys.stdin.readline()
began = time.monotonic()
taken = submission_slot_take(address_hash=sys.argv[1]) is None
print(json.dumps({"taken": taken, "began": began, "ended": time.monotonic()}), flush=True)
"""
PROCESSES = 6
# Rounds until one overlaps (the first usually does; on a loaded machine, running the suite
# in parallel, the interpreters can wake one after another several times in a row).
ROUNDS = 10


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """How many of the attempts were inside the limiter at the same instant, at most."""
    return max(sum(1 for b, e in intervals if b <= began <= e) for began, _ in intervals)


def _race_once(env: dict[str, str], address: str) -> tuple[list[bool], int]:
    """Line `PROCESSES` interpreters up at a barrier (each says "ready", then waits for "go"
    on stdin), release them together, and return who got a slot and the overlap reached."""
    children = [
        subprocess.Popen([sys.executable, "-c", WORKER, address], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(PROCESSES)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if line != "ready":
                _, err = child.communicate(timeout=60)
                pytest.fail(f"a racer did not reach the barrier: {line!r} {err}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    intervals = [(r["began"], r["ended"]) for r in results]
    return [r["taken"] for r in results], _most_at_once(intervals)


def _race(env: dict[str, str]) -> None:
    """Every round hands out exactly three slots; at least one round must really overlap,
    or the test says so instead of passing on a serial run."""
    overlaps = []
    for round_number in range(ROUNDS):
        taken, overlap = _race_once(env, ip_hash(f"203.0.113.{50 + round_number}"))
        assert sorted(taken) == [False] * (PROCESSES - 3) + [True] * 3, taken
        overlaps.append(overlap)
        if overlap >= 2:
            return
    pytest.fail(f"the racers never overlapped (at most {max(overlaps)} at once in {ROUNDS} "
                "rounds): this run tested nothing about concurrency")


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACYOPS_")}
    env["PRIVACYOPS_DATA_DIR"] = os.environ["PRIVACYOPS_DATA_DIR"]
    env["DJANGO_SETTINGS_MODULE"] = "privacyops.settings"
    return env


class TestAcrossProcesses:
    def test_database_cache_hands_out_three_slots(self):
        env = _base_env()
        env["PRIVACYOPS_DATABASE_URL"] = control_database_url()
        _race(env)

    def test_redis_hands_out_three_slots(self, redis_url):
        env = _base_env()
        env["PRIVACYOPS_REDIS_URL"] = redis_url
        _race(env)

    def test_most_at_once_counts_overlap(self):
        assert _most_at_once([(0, 1), (2, 3), (4, 5)]) == 1
        assert _most_at_once([(0, 3), (1, 2), (2.5, 4)]) == 2
        assert _most_at_once([(0, 5), (1, 5), (2, 5)]) == 3


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
