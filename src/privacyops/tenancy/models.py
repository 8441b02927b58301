"""Tenants, people who log in, their roles per tenant, and API tokens."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from privacyops.tenancy.identity import login_identity


class Role(models.TextChoices):
    SUPER_ADMIN = "super-admin", "Super admin"
    ADMIN = "admin", "Admin"
    IT_ADMIN = "it-admin", "IT admin"
    MEMBER = "member", "Member"


ADMIN_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN})


def new_hash_key() -> bytes:
    return secrets.token_bytes(32)


class Tenant(models.Model):
    """A customer organisation (workspace). Its row is also the per-tenant hold lock."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    # A deactivated tenant keeps its history (jobs, holds, audit) but takes no new jobs.
    is_active = models.BooleanField(default=True)
    approval_required_types = models.JSONField(default=list)
    super_admins_can_approve = models.BooleanField(default=False)
    response_deadline_days = models.PositiveSmallIntegerField(default=30)
    deletion_grace_hours = models.PositiveSmallIntegerField(default=72)
    audit_retention_days = models.PositiveIntegerField(default=3650)
    privacy_contact_email = models.EmailField(blank=True, default="")
    # Where a data subject's reply to our emails goes; empty: the privacy contact.
    reply_to_email = models.EmailField(blank=True, default="")
    # The language of the public pages and emails when the visitor's browser asks for none we
    # have (a code of settings.LANGUAGES); a request's own language wins for its emails.
    default_language = models.CharField(max_length=8, default="en")
    # HMAC key of the `hash` erase action; destroyed when the tenant is purged.
    hash_key = models.BinaryField(default=new_hash_key, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.approval_required_types and self._state.adding:
            self.approval_required_types = ["ERASE", "PURGE"]
        super().save(*args, **kwargs)


class ConnectorType(models.TextChoices):
    """How PrivacyOps reaches a system: a SQL database, an HTTP service described by a
    declarative map, or a manual system whose owner does each step by hand and confirms it."""

    SQL = "sql", "SQL database"
    HTTP = "http", "HTTP service"
    MANUAL = "manual", "Manual (a person confirms)"


class System(models.Model):
    """One of a tenant's datastores: where its data lives and how the data map describes it.

    The connection itself stays outside the control DB: `connection_ref` names the environment
    variable (or per-tenant template) the data map reads, never a URL with a password.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="systems")
    name = models.CharField(max_length=100)
    connector_type = models.CharField(max_length=20, choices=ConnectorType.choices,
                                      default=ConnectorType.SQL)
    # A file in PRIVACYOPS_DATAMAP_DIR, without its `.yaml`.
    datamap_name = models.CharField(max_length=100)
    connection_ref = models.CharField(max_length=200, blank=True, default="")
    # The tenant's key in this datastore (value of the data map's tenant column).
    datastore_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # The last live check's drift (by `system test` or the worker's daily pass): the sorted
    # names of unmapped personal-looking tables and columns, and for each what the guess rests
    # on (names and counts, never a sampled value). Empty: no drift, or never checked.
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    drift_keys = models.JSONField(default=list, blank=True)
    drift_unmapped = models.JSONField(default=list, blank=True)

    class Meta:
        ordering: ClassVar = ["tenant_id", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "name"], name="system_name_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.tenant.slug})"


class EmailUserManager(UserManager["User"]):
    def create_user(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        email = login_identity(email)
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """Someone who logs in. `is_staff` marks platform staff, who act across tenants."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True, default="")
    # Pages show times in this zone (IANA name, e.g. Europe/Berlin); UTC until the user picks one.
    time_zone = models.CharField(max_length=64, default="UTC")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects: ClassVar[EmailUserManager] = EmailUserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Membership(models.Model):
    """A user's role in one tenant."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_role_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} @ {self.tenant}"


class ApiToken(models.Model):
    """A per-user (or per-tenant application) API token, stored as a SHA-256 hash."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens", null=True)
    # A tenant application token acts for the tenant's privacy center, not for a person.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Optional end of life; past it the token answers 401 "expired".
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SigninFailureWindow(models.Model):
    """Failed sign-ins of one identity from one address, gathered until the window closes.

    An anonymous client must not grow the audit log without bound: failures are counted here
    and become one `auth.login_failed` event with their count when the window closes. Only
    keyed hashes of the typed identity and of the address are kept.
    """

    window_key = models.CharField(max_length=64, unique=True)
    identity_hash = models.CharField(max_length=64)
    address_hash = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField(db_index=True)
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.failures} failed sign-ins since {self.first_at:%Y-%m-%d %H:%M}"
