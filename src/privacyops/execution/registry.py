"""Which datastore and scopes a tenant has: its data map, loaded once per process."""

from __future__ import annotations

from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

from django.conf import settings

from privacyops.connectors import Target
from privacyops.datamap import DataMap, DataMapError, load_datamap, resolve_connection_url
from privacyops.errors import DomainError, ValidationFailed
from privacyops.tenancy.models import Tenant

if TYPE_CHECKING:  # SQLAlchemy is imported by the first datastore used, not by every page
    from privacyops.connectors.sql import SqlDatastore

DEFAULT_TARGET_TYPES = ("subject", "tenant")
_cache: dict[Path, tuple[float, DataMap]] = {}
_engines: dict[tuple[str, str, int], SqlDatastore] = {}
_lock = Lock()


class DatastoreUnavailable(DomainError):
    code = "datastore_unavailable"
    status = 503


def datamap_path(name: str) -> Path:
    return Path(settings.DATAMAP_DIR) / f"{name}.yaml"


def datamap_for(tenant: Tenant) -> DataMap | None:
    """The tenant's data map, reloaded when its file changes; None when none is configured."""
    if not tenant.datamap_name:
        return None
    path = datamap_path(tenant.datamap_name)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise DatastoreUnavailable(
            f"The data map {path} of tenant {tenant.slug} does not exist; create it (see "
            "`privacyops datamap draft`) or fix the tenant's data map name."
        ) from None
    with _lock:
        cached = _cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = (mtime, load_datamap(path))
            except DataMapError as error:
                raise DatastoreUnavailable(
                    f"The data map {path} is invalid: " + "; ".join(error.lines())
                ) from None
            _cache[path] = cached
            for key in [k for k in _engines if k[0] == str(path)]:
                _engines.pop(key).close()
        return cached[1]


def target_types_for(tenant: Tenant) -> tuple[str, ...]:
    """The scopes a job for this tenant may target: those its data map declares."""
    datamap = datamap_for(tenant)
    if datamap is None:
        return DEFAULT_TARGET_TYPES
    return tuple(datamap.scope_entities())


def datastore_for(tenant: Tenant) -> SqlDatastore:
    """The connector for the tenant's datastore (one engine per URL per process)."""
    datamap = datamap_for(tenant)
    if datamap is None:
        raise DatastoreUnavailable(
            f"Tenant {tenant.slug} has no data map; set its data map name to a YAML file in "
            f"{settings.DATAMAP_DIR}."
        )
    try:
        url = resolve_connection_url(datamap, tenant.datastore_key or None)
    except DataMapError as error:
        raise DatastoreUnavailable("; ".join(error.lines())) from None
    key = (str(datamap_path(tenant.datamap_name)), url, tenant.pk)
    with _lock:
        if key not in _engines:
            from privacyops.connectors.sql import SqlDatastore

            try:
                _engines[key] = SqlDatastore(datamap, url,
                                             hash_key=bytes(tenant.hash_key or b""))
            except ImportError as error:
                raise DatastoreUnavailable(
                    f"The datastore of tenant {tenant.slug} needs a database driver that is "
                    f"not installed ({error}). Install the optional extra for it: "
                    "pip install 'privacyops[postgresql]' (PostgreSQL) or "
                    "'privacyops[mysql]' (MySQL, MariaDB)."
                ) from None
        return _engines[key]


def target_for(tenant: Tenant, target_type: str, target_id: str) -> Target:
    if target_type not in target_types_for(tenant):
        raise ValidationFailed(f"Unknown target type {target_type!r} for tenant {tenant.slug}.")
    key = tenant.datastore_key or None
    if target_type == "tenant":
        return Target(scope="tenant", id=key or target_id, tenant_key=key)
    return Target(scope=target_type, id=target_id, tenant_key=key)
