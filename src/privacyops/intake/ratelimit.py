"""At most three public submissions per client address per hour, across all workspaces.

The count is per address, not per workspace: an installation with many workspaces must not
multiply what one address may file. Each submission takes a slot of the shared sliding-window
limiter (`privacyops.web.ratelimit`: atomic `cache.add`, one entry per slot living exactly one
hour), so processes and machines sharing the cache never hand out a fourth slot. Only a keyed
hash of the address reaches the cache or the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from privacyops.web.ratelimit import keyed_hash, slot_take

SUBMISSIONS_PER_WINDOW = 3
WINDOW = timedelta(hours=1)


def ip_hash(ip: str) -> str:
    """HMAC-SHA256 of the client address, keyed with SECRET_KEY: not reversible by a dictionary."""
    return keyed_hash("intake-ip", ip)


def submission_slot_take(*, address_hash: str) -> datetime | None:
    """Take a slot for one submission. None when taken; otherwise when the next one frees up."""
    return slot_take(scope="intake-submit", key=address_hash, limit=SUBMISSIONS_PER_WINDOW,
                     window=WINDOW)
