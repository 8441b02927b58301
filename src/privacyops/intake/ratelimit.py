"""At most three public submissions per client address per hour and workspace.

The limiter keeps one cache entry per used slot, each living exactly one hour from the
submission that took it. `cache.add` is atomic on both backends we run (an INSERT on the
database cache, SET NX on Redis), so processes and machines sharing the cache never hand out
the same slot twice, and the window slides: the fourth submission in any hour finds all
three slots taken. Only a keyed hash of the address reaches the cache or the database.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

SUBMISSIONS_PER_WINDOW = 3
WINDOW = timedelta(hours=1)


def ip_hash(ip: str) -> str:
    """HMAC-SHA256 of the client address, keyed with SECRET_KEY: not reversible by a dictionary."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"intake-ip|{ip}".encode(), hashlib.sha256).hexdigest()


def _slot_key(tenant_id: int, address_hash: str, slot: int) -> str:
    return f"intake-submit:{tenant_id}:{address_hash}:{slot}"


def submission_slot_take(*, tenant_id: int, address_hash: str) -> datetime | None:
    """Take a slot for one submission. None when taken; otherwise when the next one frees up."""
    now = timezone.now()
    seconds = int(WINDOW.total_seconds())
    keys = [_slot_key(tenant_id, address_hash, n) for n in range(SUBMISSIONS_PER_WINDOW)]
    for key in keys:
        if cache.add(key, now.timestamp(), timeout=seconds):
            return None
    taken = [value for value in cache.get_many(keys).values() if isinstance(value, float)]
    if len(taken) < len(keys):
        # A slot expired between our attempts and this read: try once more.
        for key in keys:
            if cache.add(key, now.timestamp(), timeout=seconds):
                return None
    oldest = min(taken) if taken else now.timestamp()
    return datetime.fromtimestamp(oldest, tz=UTC) + WINDOW
