"""Creating tenants, accounts, memberships and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from privacyops.audit.models import Outcome
from privacyops.audit.services import audit_record
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ApiToken, Membership, Role, Tenant, User

TOKEN_PREFIX = "po_"  # noqa: S105 - a marker, not a secret


def _checked_email(email: str) -> str:
    email = (email or "").strip().lower()
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


@transaction.atomic(durable=True)
def api_token_create(
    *, user: User | None, name: str, actor: Actor, tenant: Tenant | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and only its hash is stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, tenant=tenant, name=name.strip() or "token", prefix=raw[:10],
        token_hash=token_digest(raw),
    )
    audit_record(actor=actor, action="token.created", tenant_id=tenant.pk if tenant else None,
                 target_type="api_token", target_id=token.pk, metadata={"name": token.name})
    return token, raw


@transaction.atomic(durable=True)
def login_record(*, user: User) -> None:
    audit_record(actor=Actor.for_user(user), action="auth.login", tenant_id=None,
                 target_type="user", target_id=user.pk)


@transaction.atomic(durable=True)
def login_failure_record() -> None:
    """A failed sign-in; the typed email is not recorded (it may be anyone's address)."""
    audit_record(actor=Actor.system("login"), action="auth.login_failed", tenant_id=None,
                 target_type="login", outcome=Outcome.FAILURE)


@transaction.atomic(durable=True)
def user_time_zone_set(*, user: User, time_zone: str, actor: Actor) -> User:
    """The zone the user's pages show times in (an IANA name such as Europe/Berlin)."""
    from privacyops.errors import ValidationFailed
    from privacyops.web.timezones import is_time_zone

    time_zone = (time_zone or "").strip()
    if not is_time_zone(time_zone):
        raise ValidationFailed(
            "Pick a time zone from the list (an IANA name such as Europe/Berlin or UTC).",
            field="time_zone")
    previous = user.time_zone
    user.time_zone = time_zone
    user.save(update_fields=["time_zone"])
    audit_record(actor=actor, action="user.time_zone_changed", tenant_id=None, target_type="user",
                 target_id=user.pk, metadata={"from": previous, "to": time_zone})
    return user
