"""Who did it: the actor recorded on every audit event and passed to every service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from privacyops.errors import PermissionDenied
from privacyops.tenancy.models import User

ActorType = Literal["user", "api_token", "system", "subject", "owner"]


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str
    label: str
    user: User | None = field(default=None, compare=False, repr=False)

    @classmethod
    def for_user(cls, user: User, *, token_prefix: str | None = None) -> Actor:
        if token_prefix:
            return cls("api_token", f"{user.pk}:{token_prefix}", user.email, user)
        return cls("user", str(user.pk), user.email, user)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls("system", name, name)

    @classmethod
    def subject(cls, subject_ref: str) -> Actor:
        """A data subject acting through the privacy center; referenced by id, never email."""
        return cls("subject", subject_ref, f"data subject {subject_ref}")

    @classmethod
    def owner(cls, email: str, *, system: str) -> Actor:
        """The owner of a manual system confirming through the emailed link (not signed in):
        the email they typed, and the system they answered for."""
        return cls("owner", email[:100], f"owner of {system}: {email}"[:200])


def acting_user(actor: Actor) -> User:
    """The signed-in user behind an actor; system and subject actors have none."""
    if actor.user is None:
        raise PermissionDenied("This action needs a signed-in user or a user API token.")
    return actor.user
