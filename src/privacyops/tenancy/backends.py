"""The authentication backend: looks an account up by its normalised sign-in identity."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from privacyops.tenancy.identity import login_identity
from privacyops.tenancy.models import User


class EmailBackend(ModelBackend):
    """Django's model backend, with the typed email read as `login_identity` reads it."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None,
        password: str | None = None, **kwargs: Any,
    ) -> User | None:
        username = username or kwargs.pop("email", None)
        if not isinstance(username, str) or password is None:
            return None
        user = super().authenticate(request, username=login_identity(username),
                                    password=password, **kwargs)
        return user if isinstance(user, User) else None
