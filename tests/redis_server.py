"""A Redis database of the test's own: on the Redis that answers at PRIVACYOPS_TEST_REDIS_URL,
or, when none answers there, on a throwaway redis-server started for the test.

Whether Redis is used is decided by whether it answers, never by whether a binary is installed:
a machine whose Redis runs elsewhere (a container, a service) runs these tests all the same.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

REDIS_URL = os.environ.get("PRIVACYOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# A database carrying this key belongs to these tests and may be flushed when nobody holds it.
REDIS_MARKER = "privacyops-test:scale-db"
REDIS_LOCK = "privacyops-test:scale-lock"


def with_db(url: str, number: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{number}", parts.query, parts.fragment))


def answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_redis() -> Iterator[str]:
    """A redis-server of its own on a free port, stopped afterwards."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(f"No Redis answers at {REDIS_URL} and redis-server is not installed: start "
                    "Redis, set PRIVACYOPS_TEST_REDIS_URL, or install Debian's redis-server.")
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory(prefix="privacyops-redis-") as folder:
        process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not answers(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"The throwaway redis-server on port {port} did not start.")
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def own_database(base_url: str) -> Iterator[str]:
    """An empty database (1 to 15) of the Redis at `base_url`, flushed afterwards."""
    base = redis.Redis.from_url(base_url, socket_timeout=5)
    base_db = int(base.connection_pool.connection_kwargs.get("db") or 0)
    base.close()
    owner = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if number == base_db:
            continue
        client = redis.Redis.from_url(with_db(base_url, number), socket_timeout=5)
        if not client.set(REDIS_LOCK, owner, nx=True, ex=900):
            continue
        if client.dbsize() > 1 and not client.exists(REDIS_MARKER):
            client.delete(REDIS_LOCK)  # someone else's data: leave it alone
            continue
        with client.pipeline(transaction=True) as pipe:
            pipe.flushdb().set(REDIS_MARKER, "1").set(REDIS_LOCK, owner, ex=900).execute()
        try:
            yield with_db(base_url, number)
        finally:
            with client.pipeline(transaction=True) as pipe:
                pipe.flushdb().set(REDIS_MARKER, "1").execute()
            client.close()
        return
    pytest.fail(f"No free Redis database on {base_url} for this test (1 to 15 are in use).")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of this test's own, empty; flushed afterwards (that database only)."""
    if answers(REDIS_URL):
        with own_database(REDIS_URL) as url:
            yield url
    else:
        with throwaway_redis() as server, own_database(server) as url:
            yield url
