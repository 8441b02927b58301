"""Tenants, their members and systems, platform staff accounts and API tokens.

Each write is one durable transaction with its audit event; the CLI, the API and the
Platform → Tenants pages all call these functions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from privacyops.audit.models import Outcome
from privacyops.audit.services import audit_record
from privacyops.datamap import DataMapError, parse_datamap
from privacyops.datamap.http_loader import map_connector, parse_http_map
from privacyops.datamap.loader import read_map_yaml
from privacyops.errors import Conflict, NotFound, ValidationFailed
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.identity import login_identity
from privacyops.tenancy.models import (
    ApiToken,
    ConnectorType,
    Membership,
    Role,
    SigninFailureWindow,
    System,
    Tenant,
    User,
)
from privacyops.tenancy.policy import require
from privacyops.web.ratelimit import keyed_hash

TOKEN_PREFIX = "po_"  # noqa: S105 - a marker, not a secret


def checked_email(email: str) -> str:
    """The address as sign-in sees it (trimmed, NFKC, case-folded), or a sentence."""
    email = login_identity(email)
    # Django's validator knows ASCII local parts only; an address such as zoë@example.com
    # (RFC 6531) is judged by its shape with each non-ASCII letter standing in for one.
    shape = "".join(c if c.isascii() or not c.isalpha() else "a" for c in email)
    try:
        validate_email(shape)
    except ValidationError:
        raise ValidationFailed("This is not an email address; write it as name@example.com.",
                               field="email") from None
    return email


ROLE_SENTENCE = "use one of " + ", ".join(Role.values)
APPROVAL_TYPES = ("EXPORT", "ERASE", "PURGE", "RECTIFY", "RESTRICT")
RETENTION_DAYS = (30, 3650)


def _require_manager(actor: Actor) -> None:
    """Tenants, members, systems and staff accounts are managed by platform staff; a system
    actor is someone with a shell on the server (the `privacyops` CLI)."""
    if actor.type != "system":
        require(acting_user(actor), "tenant.manage", None)


def _locked_tenant(tenant_id: int) -> Tenant:
    tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} does not exist; `privacyops tenant list` shows "
                       "the tenants.")
    return tenant


def _password_or_generated(password: str | None) -> tuple[str, bool]:
    if password:
        try:
            validate_password(password)
        except ValidationError as error:
            raise ValidationFailed(" ".join(error.messages), field="password") from None
        return password, False
    return secrets.token_urlsafe(12), True


# --- accounts -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AccountCreated:
    """A new account and, when PrivacyOps chose it, its first password (shown once)."""

    user: User
    initial_password: str | None


def _user_new(*, email: str, password: str | None, full_name: str, is_staff: bool
              ) -> AccountCreated:
    email = checked_email(email)
    if User.objects.filter(email=email).exists():
        raise Conflict("An account with this email already exists.", code="account_exists",
                       field="email")
    chosen, generated = _password_or_generated(password)
    user = User.objects.create_user(email, chosen, is_staff=is_staff, is_superuser=False,
                                    full_name=full_name.strip())
    return AccountCreated(user, chosen if generated else None)


@transaction.atomic(durable=True)
def staff_create(*, email: str, password: str | None = None, full_name: str = "",
                 actor: Actor) -> AccountCreated:
    """A platform staff account: sees and manages every tenant."""
    _require_manager(actor)
    created = _user_new(email=email, password=password, full_name=full_name, is_staff=True)
    audit_record(actor=actor, action="staff.created", tenant_id=None, target_type="user",
                 target_id=created.user.pk)
    return created


@transaction.atomic(durable=True)
def staff_deactivate(*, user_id: int, actor: Actor) -> User:
    """The account can no longer sign in or use its tokens; its history stays attributed."""
    _require_manager(actor)
    user = User.objects.select_for_update().filter(pk=user_id, is_staff=True).first()
    if user is None:
        raise NotFound(f"No platform staff account has id {user_id}; `privacyops staff list` "
                       "shows them.")
    if actor.user is not None and actor.user.pk == user.pk:
        raise Conflict("You cannot deactivate your own account; ask another staff member.",
                       code="self_deactivation")
    if user.is_active and not User.objects.filter(is_staff=True, is_active=True).exclude(
            pk=user.pk).exists():
        raise Conflict("This is the last active platform staff account; create another one "
                       "first (`privacyops staff create`).", code="last_staff")
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(actor=actor, action="staff.deactivated", tenant_id=None,
                     target_type="user", target_id=user.pk)
    return user


def staff_user_create(*, email: str, password: str, full_name: str = "") -> User:
    """`privacyops createadmin`: a staff account made from the server's shell."""
    try:
        validate_password(password)
    except ValidationError as error:
        raise ValidationFailed(" ".join(error.messages), field="password") from None
    return staff_create(email=email, password=password, full_name=full_name,
                        actor=Actor.system("cli")).user


# --- tenants ------------------------------------------------------------------------------

def _checked_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    try:
        validate_slug(slug)
    except ValidationError:
        raise ValidationFailed(
            f"{slug!r} is not a usable slug; use lower-case letters, digits and hyphens "
            "(it becomes the workspace's host name label, e.g. `acme`).", field="slug"
        ) from None
    if len(slug) > 63:
        raise ValidationFailed("A slug has at most 63 characters.", field="slug")
    return slug


def _checked_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A name of 1 to 200 characters is required.", field="name")
    return name


@transaction.atomic(durable=True)
def tenant_create(*, slug: str, name: str, actor: Actor, privacy_contact_email: str = "",
                  approval_required_types: list[str] | None = None) -> Tenant:
    """A new tenant. A slug is taken once: creating it again changes nothing and says so."""
    _require_manager(actor)
    slug = _checked_slug(slug)
    existing = Tenant.objects.filter(slug=slug).first()
    if existing is not None:
        raise Conflict(f"Tenant {slug} already exists (id {existing.pk}); nothing was changed.",
                       code="tenant_exists", tenant_id=existing.pk)
    tenant = Tenant(slug=slug, name=_checked_name(name),
                    privacy_contact_email=checked_email(privacy_contact_email)
                    if privacy_contact_email else "")
    if approval_required_types is not None:
        tenant.approval_required_types = _checked_approval_types(approval_required_types)
    tenant.save()
    audit_record(actor=actor, action="tenant.created", tenant_id=tenant.pk, target_type="tenant",
                 target_id=tenant.pk, metadata={"slug": slug})
    return tenant


def _checked_language(code: str) -> str:
    code = (code or "").strip().lower()
    offered = [c for c, _ in settings.LANGUAGES]
    if code not in offered:
        raise ValidationFailed(f"Unknown language {code!r}; choose one of {', '.join(offered)}.",
                               field="default_language")
    return code


def _checked_approval_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(APPROVAL_TYPES))
    if unknown:
        raise ValidationFailed(f"Unknown job type(s) {', '.join(unknown)}; approval can be "
                               f"required for {', '.join(APPROVAL_TYPES)}.",
                               field="approval_required_types")
    return [t for t in APPROVAL_TYPES if t in types]


@transaction.atomic(durable=True)
def tenant_update(*, tenant_id: int, actor: Actor, name: str | None = None,
                  approval_required_types: list[str] | None = None,
                  super_admins_can_approve: bool | None = None,
                  audit_retention_days: int | None = None,
                  privacy_contact_email: str | None = None,
                  reply_to_email: str | None = None,
                  default_language: str | None = None) -> Tenant:
    """Change a tenant's name or policy; the event lists each changed field, old and new."""
    _require_manager(actor)
    tenant = _locked_tenant(tenant_id)
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = _checked_name(name)
    if approval_required_types is not None:
        wanted["approval_required_types"] = _checked_approval_types(approval_required_types)
    if super_admins_can_approve is not None:
        wanted["super_admins_can_approve"] = bool(super_admins_can_approve)
    if audit_retention_days is not None:
        low, high = RETENTION_DAYS
        if not low <= audit_retention_days <= high:
            raise ValidationFailed(f"Audit retention is {low} to {high} days.",
                                   field="audit_retention_days")
        wanted["audit_retention_days"] = audit_retention_days
    if privacy_contact_email is not None:
        wanted["privacy_contact_email"] = (checked_email(privacy_contact_email)
                                           if privacy_contact_email.strip() else "")
    if reply_to_email is not None:
        wanted["reply_to_email"] = checked_email(reply_to_email) if reply_to_email.strip() else ""
    if default_language is not None:
        wanted["default_language"] = _checked_language(default_language)
    changes = {field: [getattr(tenant, field), value] for field, value in wanted.items()
               if getattr(tenant, field) != value}
    if changes:
        for field, (_, value) in changes.items():
            setattr(tenant, field, value)
        tenant.save(update_fields=list(changes))
        for address in ("privacy_contact_email", "reply_to_email"):
            if address in changes:  # an address: not in the audit metadata
                changes[address] = ["…", "…"]
        audit_record(actor=actor, action="tenant.updated", tenant_id=tenant.pk,
                     target_type="tenant", target_id=tenant.pk, metadata={"changes": changes})
    return tenant


def _tenant_set_active(*, tenant_id: int, active: bool, actor: Actor) -> Tenant:
    _require_manager(actor)
    tenant = _locked_tenant(tenant_id)
    if tenant.is_active != active:
        tenant.is_active = active
        tenant.save(update_fields=["is_active"])
        audit_record(actor=actor, action="tenant.activated" if active else "tenant.deactivated",
                     tenant_id=tenant.pk, target_type="tenant", target_id=tenant.pk)
    return tenant


@transaction.atomic(durable=True)
def tenant_deactivate(*, tenant_id: int, actor: Actor) -> Tenant:
    """The tenant takes no new jobs; its jobs, holds, audit and systems stay as they are."""
    return _tenant_set_active(tenant_id=tenant_id, active=False, actor=actor)


@transaction.atomic(durable=True)
def tenant_activate(*, tenant_id: int, actor: Actor) -> Tenant:
    return _tenant_set_active(tenant_id=tenant_id, active=True, actor=actor)


# --- members ------------------------------------------------------------------------------

def _checked_role(role: str) -> str:
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}; {ROLE_SENTENCE}.", field="role")
    return role


@dataclass(frozen=True)
class MemberAdded:
    membership: Membership
    initial_password: str | None  # set when the person's account was created just now


@transaction.atomic(durable=True)
def member_add(*, tenant_id: int, email: str, role: str, actor: Actor, full_name: str = "",
               password: str | None = None) -> MemberAdded:
    """Give a person a role in a tenant, creating their account when they have none.

    A new account without a chosen password gets a generated one, returned once."""
    _require_manager(actor)
    role = _checked_role(role)
    tenant = _locked_tenant(tenant_id)
    email = checked_email(email)
    user = User.objects.filter(email=email).first()
    initial_password = None
    if user is None:
        created = _user_new(email=email, password=password, full_name=full_name, is_staff=False)
        user, initial_password = created.user, created.initial_password
    elif Membership.objects.filter(user=user, tenant=tenant).exists():
        raise Conflict(f"This person is already a member of {tenant.slug}; change their role "
                       "instead (`privacyops member role`).", code="member_exists")
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    audit_record(actor=actor, action="member.added", tenant_id=tenant.pk, target_type="user",
                 target_id=user.pk, metadata={"role": role})
    return MemberAdded(membership, initial_password)


def _membership(tenant: Tenant, user_id: int) -> Membership:
    membership = (Membership.objects.select_for_update().select_related("user")
                  .filter(tenant=tenant, user_id=user_id).first())
    if membership is None:
        raise NotFound(f"User {user_id} is not a member of {tenant.slug}; "
                       f"`privacyops member list --tenant {tenant.slug}` shows its members.")
    return membership


@transaction.atomic(durable=True)
def member_role_set(*, tenant_id: int, user_id: int, role: str, actor: Actor) -> Membership:
    _require_manager(actor)
    role = _checked_role(role)
    membership = _membership(_locked_tenant(tenant_id), user_id)
    if membership.role != role:
        old, membership.role = membership.role, role
        membership.save(update_fields=["role"])
        audit_record(actor=actor, action="member.role_changed", tenant_id=tenant_id,
                     target_type="user", target_id=user_id, metadata={"from": old, "to": role})
    return membership


@transaction.atomic(durable=True)
def member_remove(*, tenant_id: int, user_id: int, actor: Actor) -> None:
    """The person loses their role in the tenant; their account stays (other tenants, history)."""
    _require_manager(actor)
    membership = _membership(_locked_tenant(tenant_id), user_id)
    role = membership.role
    membership.delete()
    audit_record(actor=actor, action="member.removed", tenant_id=tenant_id, target_type="user",
                 target_id=user_id, metadata={"role": role})


def member_by_email(tenant: Tenant, email: str) -> int:
    """The user id of a member named by email (the CLI's way of naming people)."""
    user_id = (Membership.objects.filter(tenant=tenant, user__email=email.strip().lower())
               .values_list("user_id", flat=True).first())
    if user_id is None:
        raise NotFound(f"Nobody with this email is a member of {tenant.slug}; "
                       f"`privacyops member list --tenant {tenant.slug}` shows its members.")
    return user_id


# --- systems ------------------------------------------------------------------------------

DATAMAP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def datamap_file(name: str) -> Path:
    return Path(settings.DATAMAP_DIR) / f"{name}.yaml"


def datamap_install(file_or_name: str) -> str:
    """The data-map name for `--datamap FILE_OR_NAME`: a name in PRIVACYOPS_DATAMAP_DIR, or a
    YAML file elsewhere, validated and copied into that folder under the `name` it declares."""
    given = Path(file_or_name).expanduser()
    folder = Path(settings.DATAMAP_DIR)
    if given.suffix not in {".yaml", ".yml"} and "/" not in file_or_name:
        if datamap_file(file_or_name).is_file():
            return file_or_name
        raise NotFound(
            f"There is no data map {file_or_name!r}: {datamap_file(file_or_name)} does not "
            "exist. Give the path of your YAML file (it is copied there), or write one with "
            "`privacyops datamap draft --url URL --out FILE`.", code="datamap_not_found"
        )
    if not given.is_file():
        raise NotFound(f"The data-map file {given} does not exist; check the path, or write one "
                       "with `privacyops datamap draft --url URL --out FILE`.",
                       code="datamap_not_found")
    try:
        name = _parsed_map(given)[1].name
    except DataMapError as error:
        raise ValidationFailed(f"The data map {given} is invalid: " + "; ".join(error.lines())
                               + " Fix it (`privacyops datamap check FILE`) and try again.",
                               field="datamap") from None
    if not DATAMAP_NAME.match(name):
        raise ValidationFailed(f"The data map's name {name!r} cannot be a file name; use letters, "
                               "digits, `-`, `_` and `.` (e.g. `name: clinic`).", field="datamap")
    target = datamap_file(name)
    if target.exists() and target.resolve() == given.resolve():
        return name
    if target.exists() and target.read_bytes() != given.read_bytes():
        raise Conflict(f"A different data map named {name} is already in {folder}; change the "
                       f"`name:` in your file, or replace {target} if it is meant to change.",
                       code="datamap_exists")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(given, target)
    return name


def _parsed_map(path: Path) -> tuple[str, Any]:
    """The connector a map file is for (`connector:`, sql when absent) and the map, validated
    by the loader of its kind; raises :class:`DataMapError`."""
    data = read_map_yaml(path)
    kind = map_connector(data)
    if kind == ConnectorType.HTTP:
        return kind, parse_http_map(data, source=str(path))
    if kind == ConnectorType.MANUAL:
        from privacyops.manual.schema import parse_manual_map

        return kind, parse_manual_map(data, source=str(path))
    return kind, parse_datamap(data, source=str(path))


def _checked_datamap(name: str, key: str, connector_type: str = ConnectorType.SQL) -> str:
    """Validate the named map with the loader of its kind (it must be the system's connector
    type) and return its connection reference: the environment variable of the database URL
    (SQL) or of the base URL (HTTP); empty when the map holds it (or a manual system)."""
    if not DATAMAP_NAME.match(name or ""):
        raise ValidationFailed(f"{name!r} is not a data-map name; give the file's name in "
                               f"{settings.DATAMAP_DIR} without `.yaml`.", field="datamap")
    path = datamap_file(name)
    if not path.is_file():
        raise NotFound(
            f"There is no data map {name!r} in {settings.DATAMAP_DIR} ({path} does not exist); "
            "put the YAML file there, or pass its path to `privacyops system add --datamap`.",
            code="datamap_not_found", field="datamap",
        )
    try:
        kind, parsed = _parsed_map(path)
    except DataMapError as error:
        raise ValidationFailed(f"The data map {path} is invalid: " + "; ".join(error.lines())
                               + " Fix it (`privacyops datamap check FILE`) and try again.",
                               field="datamap") from None
    if kind != connector_type:
        raise ValidationFailed(
            f"The map {name} is for a {kind} system (its `connector:` is {kind}), not "
            f"{connector_type}; give the connector type {kind} (`--type {kind}`), or a "
            f"{connector_type} map.", field="connector_type")
    if kind == ConnectorType.HTTP:
        return str(parsed.base_url_env or "")
    if kind == ConnectorType.MANUAL:
        return ""
    datamap = parsed
    if datamap.is_shared and not key:
        raise ValidationFailed(
            f"The data map {name} describes a datastore shared by tenants (tenant column "
            f"{datamap.tenant_column}); give this tenant's value of that column as the key.",
            field="datastore_key",
        )
    connection = datamap.connection
    if connection.per_tenant is not None:
        if not key:
            raise ValidationFailed(
                f"The data map {name} has a database per tenant "
                f"({connection.per_tenant.url_env_template}); give the tenant's part of the "
                "variable name as the key.", field="datastore_key")
        return str(connection.per_tenant.url_env_template)
    return str(connection.url_env or "")


def _checked_connector(connector_type: str) -> str:
    if connector_type not in ConnectorType.values:
        raise ValidationFailed(
            f"Unknown connector type {connector_type!r}: a system's connector is sql, http or "
            "manual.",
            field="connector_type",
        )
    return connector_type


def _checked_system_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A system name of 1 to 100 characters is required.", field="name")
    return name


@transaction.atomic(durable=True)
def system_add(*, tenant_id: int, name: str, datamap_name: str, datastore_key: str = "",
               connector_type: str = ConnectorType.SQL, actor: Actor) -> System:
    """Point a tenant at one of its datastores. The data map is validated now, not at the
    first job; the connection itself stays in the environment the data map names."""
    _require_manager(actor)
    tenant = _locked_tenant(tenant_id)
    name = _checked_system_name(name)
    connector_type = _checked_connector(connector_type)
    key = (datastore_key or "").strip()
    if System.objects.filter(tenant=tenant, name=name).exists():
        raise Conflict(f"Tenant {tenant.slug} already has a system named {name}; choose another "
                       "name or edit that system.", code="system_exists", field="name")
    connection_ref = _checked_datamap(datamap_name, key, connector_type)
    system = System.objects.create(
        tenant=tenant, name=name, connector_type=connector_type, datamap_name=datamap_name,
        connection_ref=connection_ref, datastore_key=key,
    )
    audit_record(actor=actor, action="system.added", tenant_id=tenant.pk, target_type="system",
                 target_id=system.pk,
                 metadata={"name": name, "connector_type": connector_type,
                           "datamap": datamap_name, "connection_ref": connection_ref})
    return system


def _locked_system(tenant_id: int, system_id: int) -> System:
    system = (System.objects.select_for_update().select_related("tenant")
              .filter(pk=system_id, tenant_id=tenant_id).first())
    if system is None:
        raise NotFound(f"Tenant {tenant_id} has no system {system_id}; `privacyops system list` "
                       "shows the systems.")
    return system


@transaction.atomic(durable=True)
def system_update(*, tenant_id: int, system_id: int, actor: Actor, name: str | None = None,
                  datamap_name: str | None = None, datastore_key: str | None = None) -> System:
    _require_manager(actor)
    system = _locked_system(tenant_id, system_id)
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = _checked_system_name(name)
        if System.objects.filter(tenant_id=tenant_id, name=wanted["name"]).exclude(
                pk=system.pk).exists():
            raise Conflict(f"This tenant already has a system named {wanted['name']}.",
                           code="system_exists", field="name")
    if datamap_name is not None:
        wanted["datamap_name"] = datamap_name
    if datastore_key is not None:
        wanted["datastore_key"] = datastore_key.strip()
    changes = {field: [getattr(system, field), value] for field, value in wanted.items()
               if getattr(system, field) != value}
    if {"datamap_name", "datastore_key"} & set(changes):
        ref = _checked_datamap(wanted.get("datamap_name", system.datamap_name),
                               wanted.get("datastore_key", system.datastore_key),
                               system.connector_type)
        if ref != system.connection_ref:
            changes["connection_ref"] = [system.connection_ref, ref]
    if changes:
        for field, (_, value) in changes.items():
            setattr(system, field, value)
        system.save(update_fields=list(changes))
        audit_record(actor=actor, action="system.updated", tenant_id=tenant_id,
                     target_type="system", target_id=system.pk, metadata={"changes": changes})
    return system


@transaction.atomic(durable=True)
def system_remove(*, tenant_id: int, system_id: int, actor: Actor) -> None:
    """Forget a system. Its datastore and data-map file are left untouched."""
    _require_manager(actor)
    system = _locked_system(tenant_id, system_id)
    name = system.name
    system.delete()
    audit_record(actor=actor, action="system.removed", tenant_id=tenant_id, target_type="system",
                 target_id=system_id, metadata={"name": name})


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
