"""Reads of accounts and their API tokens, scoped to the viewer."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from privacyops.tenancy.models import ApiToken, User


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The viewer's own personal tokens, newest first (revoked and expired ones included)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def token_status(token: ApiToken) -> str:
    """`revoked`, `expired` or `active`, in that order of precedence."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"
