"""Sliding-window limits shared by every process: at most `limit` uses of a key per window.

The limiter keeps one cache entry per used slot, each living exactly one window from the use
that took it. `cache.add` is atomic on both backends we run (an INSERT on the database cache,
SET NX on Redis), so processes and machines sharing the cache never hand out the same slot
twice, and the window slides: the use after `limit` in any window finds every slot taken.
Callers pass a keyed hash (`keyed_hash`), never an address or an email in clear.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` keyed with SECRET_KEY: not reversible by a dictionary."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def slot_take(*, scope: str, key: str, limit: int, window: timedelta) -> datetime | None:
    """Take a slot for one use. None when taken; otherwise when the next slot frees up."""
    now = timezone.now()
    seconds = int(window.total_seconds())
    keys = [f"{scope}:{key}:{n}" for n in range(limit)]
    for slot in keys:
        if cache.add(slot, now.timestamp(), timeout=seconds):
            return None
    taken = [value for value in cache.get_many(keys).values() if isinstance(value, float)]
    if len(taken) < len(keys):
        # A slot expired between our attempts and this read: try once more.
        for slot in keys:
            if cache.add(slot, now.timestamp(), timeout=seconds):
                return None
    oldest = min(taken) if taken else now.timestamp()
    return datetime.fromtimestamp(oldest, tz=UTC) + window
