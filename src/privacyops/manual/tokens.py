"""The owner's link: a signed token naming the task and its expiry, stored only as a hash.

Tampering breaks the signature; a link past its expiry (the task's deadline) is refused even
if the database still says waiting; a link replaced by a newer email or already used is told
apart from a damaged one, so the page can say what happened.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core import signing

SALT = "privacyops.manual.owner-link"


@dataclass(frozen=True)
class LinkClaim:
    task_id: int
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_make(*, task_id: int, expires_at: datetime) -> str:
    payload = {"t": task_id, "e": int(expires_at.timestamp()), "n": secrets.token_urlsafe(16)}
    return signing.dumps(payload, salt=SALT)


def token_read(token: str) -> LinkClaim | None:
    """The task and expiry a token names; None when the signature does not verify."""
    try:
        payload = signing.loads(token, salt=SALT)
        return LinkClaim(task_id=int(payload["t"]),
                         expires_at=datetime.fromtimestamp(int(payload["e"]), tz=UTC))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
