"""Creating tenants, accounts, memberships and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from privacyops.audit.models import Outcome
from privacyops.audit.services import audit_record
from privacyops.errors import Conflict, NotFound, ValidationFailed
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.identity import login_identity
from privacyops.tenancy.models import ApiToken, Membership, Role, SigninFailureWindow, Tenant, User
from privacyops.tenancy.ratelimit import keyed_hash

TOKEN_PREFIX = "po_"  # noqa: S105 - a marker, not a secret


def _checked_email(email: str) -> str:
    email = login_identity(email)
    validate_email(email)
    return email


@transaction.atomic
def staff_user_create(*, email: str, password: str, full_name: str = "") -> User:
    email = _checked_email(email)
    if User.objects.filter(email=email).exists():
        raise ValidationError(f"An account with the email {email} already exists.")
    validate_password(password)
    return User.objects.create_user(
        email, password, is_staff=True, is_superuser=False, full_name=full_name
    )


@transaction.atomic
def user_create(*, email: str, password: str, full_name: str = "") -> User:
    email = _checked_email(email)
    if User.objects.filter(email=email).exists():
        raise ValidationError(f"An account with the email {email} already exists.")
    validate_password(password)
    return User.objects.create_user(email, password, full_name=full_name)


@transaction.atomic
def tenant_create(*, slug: str, name: str, datastore_key: str = "", datamap_name: str = "",
                  privacy_contact_email: str = "") -> Tenant:
    return Tenant.objects.create(
        slug=slug, name=name, datastore_key=datastore_key, datamap_name=datamap_name,
        privacy_contact_email=privacy_contact_email,
    )


@transaction.atomic
def membership_set(*, user: User, tenant: Tenant, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.")
    membership, _ = Membership.objects.update_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
    return membership


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


MAX_TOKEN_DAYS = 3650


@transaction.atomic(durable=True)
def api_token_create(
    *, user: User | None, name: str, actor: Actor, tenant: Tenant | None = None,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and only its hash is stored."""
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise ValidationFailed(
            f"expires_in_days must be between 1 and {MAX_TOKEN_DAYS}; leave it out for a "
            "token that lives until it is revoked."
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = (timezone.now() + timedelta(days=expires_in_days)) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user, tenant=tenant, name=name.strip() or "token", prefix=raw[:10],
        token_hash=token_digest(raw), expires_at=expires_at,
    )
    metadata: dict[str, object] = {"name": token.name}
    if expires_at is not None:
        metadata["expires_at"] = expires_at.isoformat()
    audit_record(actor=actor, action="token.created", tenant_id=tenant.pk if tenant else None,
                 target_type="api_token", target_id=token.pk, metadata=metadata)
    return token, raw


@transaction.atomic(durable=True)
def api_token_revoke(*, token_id: int, actor: Actor) -> ApiToken:
    """Revoke one of the actor's own personal tokens (the server's CLI: anyone's).

    Another person's token answers 404 like a missing one. Revoking twice is refused, so the
    audit log holds one `token.revoked` per token.
    """
    rows = ApiToken.objects.select_for_update().filter(pk=token_id, user__isnull=False)
    if actor.type != "system":
        rows = rows.filter(user=acting_user(actor))
    token = rows.first()
    if token is None:
        raise NotFound(f"There is no API token {token_id} of yours; list them with "
                       "GET /api/v1/tokens or `privacyops manage token list`.")
    if token.revoked_at is not None:
        raise Conflict(f"Token {token.prefix}… was already revoked on "
                       f"{token.revoked_at:%Y-%m-%d %H:%M} UTC; nothing to do.",
                       code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="token.revoked", tenant_id=None, target_type="api_token",
                 target_id=token.pk, metadata={"name": token.name, "prefix": token.prefix,
                                               "owner_id": token.user_id})
    return token


@transaction.atomic(durable=True)
def login_record(*, user: User) -> None:
    audit_record(actor=Actor.for_user(user), action="auth.login", tenant_id=None,
                 target_type="user", target_id=user.pk)


@transaction.atomic(durable=True)
def login_failure_record(*, identity: str, ip: str, refused: bool = False) -> None:
    """Count a failed (or throttled) sign-in in its identity and address's open window.

    The typed identity may be anyone's address and is kept only as a keyed hash; the window
    becomes one audit event when `login_failure_windows_close` finds it over.
    """
    now = timezone.now()
    identity_hash = keyed_hash("login-identity", identity)
    address_hash = keyed_hash("login-ip", ip)
    window_key = keyed_hash("login-window", f"{identity_hash}|{address_hash}")
    counted = {"refused": F("refused") + 1} if refused else {"failures": F("failures") + 1}
    for _ in range(2):
        if SigninFailureWindow.objects.filter(window_key=window_key).update(last_at=now, **counted):
            return
        try:
            with transaction.atomic():
                SigninFailureWindow.objects.create(
                    window_key=window_key, identity_hash=identity_hash, address_hash=address_hash,
                    failures=0 if refused else 1, refused=1 if refused else 0,
                    first_at=now, last_at=now,
                )
            return
        except IntegrityError:
            continue  # another request opened the window first: count in it


def login_failure_windows_close_due() -> int:
    """Close the windows that are over, without a write transaction when there are none."""
    cutoff = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    if not SigninFailureWindow.objects.filter(first_at__lte=cutoff).exists():
        return 0
    return login_failure_windows_close()


@transaction.atomic(durable=True)
def login_failure_windows_close(*, limit: int = 500) -> int:
    """Turn each window older than LOGIN_FAILURE_WINDOW_SECONDS into one audit event."""
    cutoff = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    windows = list(
        SigninFailureWindow.objects.select_for_update(skip_locked=True)
        .filter(first_at__lte=cutoff).order_by("first_at")[:limit]
    )
    for window in windows:
        audit_record(
            actor=Actor.system("login"), action="auth.login_failed", tenant_id=None,
            target_type="login", target_id=window.identity_hash[:16], outcome=Outcome.FAILURE,
            metadata={"failures": window.failures, "refused": window.refused,
                      "first_at": window.first_at.isoformat(),
                      "last_at": window.last_at.isoformat(),
                      "identity_hash": window.identity_hash,
                      "address_hash": window.address_hash},
        )
    SigninFailureWindow.objects.filter(pk__in=[w.pk for w in windows]).delete()
    return len(windows)
