"""Sign-in throttle: at most 5 password checks per account and address, 20 per address.

The promise: within any 15 minutes, one client address gets at most `LOGIN_FAILURE_LIMIT`
(5) password checks for one account, and at most `LOGIN_IP_FAILURE_LIMIT` failed checks across
all accounts; further attempts answer 429 without the password being looked at.

How it is kept:
- The account is named by `login_identity` (NFKC, trimmed, case-folded), the very spelling the
  authentication backend looks up, so `" a@example.com"`, `"A@EXAMPLE.COM\\t"` and a fullwidth
  letter share one counter.
- A slot is taken *before* the password is checked, with `cache.add`, which is atomic on both
  caches we run (an INSERT on the database cache, SET NX on Redis, shared by every process and
  machine when PRIVACYOPS_REDIS_URL is set). Parallel attempts can never take the same slot, so
  twelve simultaneous wrong passwords get five checks, not twelve.
- Each slot lives the window from the attempt that took it (a sliding window). A successful
  sign-in frees the account's slots and gives back its address slot.
- Only keyed hashes (HMAC with SECRET_KEY) of the identity and of the address reach the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from privacyops.web.ratelimit import keyed_hash


@dataclass(frozen=True)
class SigninTicket:
    """Permission for one password check; `refused` says which limit was reached instead."""

    account_keys: tuple[str, ...]
    address_key: str | None
    refused: str | None = None


def _keys(prefix: str, count: int) -> list[str]:
    return [f"{prefix}:{n}" for n in range(count)]


def _take_slot(keys: list[str]) -> str | None:
    """Take a free slot among `keys`; None when every one is taken."""
    taken = cache.get_many(keys)
    seconds = settings.LOGIN_FAILURE_WINDOW_SECONDS
    stamp = timezone.now().timestamp()
    for key in keys:
        if key not in taken and cache.add(key, stamp, timeout=seconds):
            return key
    return None


def signin_slot_take(*, identity: str, ip: str) -> SigninTicket:
    """Reserve one password check for `identity` from `ip`, or say which limit refuses it."""
    address = keyed_hash("login-ip", ip)
    account = keyed_hash("login-account", f"{ip}|{identity}")
    account_keys = tuple(_keys(f"login-account:{account}", settings.LOGIN_FAILURE_LIMIT))
    address_key = _take_slot(_keys(f"login-ip:{address}", settings.LOGIN_IP_FAILURE_LIMIT))
    if address_key is None:
        return SigninTicket(account_keys, None, refused="address")
    if _take_slot(list(account_keys)) is None:
        cache.delete(address_key)
        return SigninTicket(account_keys, None, refused="account")
    return SigninTicket(account_keys, address_key)


def signin_succeeded(ticket: SigninTicket) -> None:
    """The password was right: the account starts afresh and the address gets its slot back."""
    cache.delete_many([*ticket.account_keys, *([ticket.address_key] if ticket.address_key else [])])
