"""Which datastore and scopes a tenant has: its systems' data maps, loaded once per process.

A tenant's datastores are its `System` rows. Jobs run on one SQL system for now, the tenant's
first (`system_for`); running a job on every system that holds the target comes later. The
`*_for(tenant)` functions keep their names and meaning for callers; the `*_of_system`
functions serve `privacyops system test` and the health on Platform → Tenants.
"""

from __future__ import annotations

from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

from django.conf import settings

from privacyops.connectors import Target
from privacyops.datamap import DataMap, DataMapError, load_datamap, resolve_connection_url
from privacyops.errors import DomainError, ValidationFailed
from privacyops.tenancy.models import ConnectorType, System, Tenant

if TYPE_CHECKING:  # SQLAlchemy is imported by the first datastore used, not by every page
    from privacyops.connectors.base import SystemConnector
    from privacyops.connectors.sql import SqlDatastore

DEFAULT_TARGET_TYPES = ("subject", "tenant")
_cache: dict[Path, tuple[float, DataMap]] = {}
_engines: dict[tuple[str, str, int], SqlDatastore] = {}
_lock = Lock()


class DatastoreUnavailable(DomainError):
    code = "datastore_unavailable"
    status = 503


class DataMapUnusable(DatastoreUnavailable):
    """The system's data map file is missing or invalid: its configuration, not an outage (409).

    Still worth another attempt for a job: an operator may fix the file before it runs out."""

    code = "datamap_unusable"
    status = 409


class NoSystem(DatastoreUnavailable):
    """The tenant has no system to run on: its configuration, not an outage (409)."""

    code = "no_system"
    status = 409


def datamap_path(name: str) -> Path:
    return Path(settings.DATAMAP_DIR) / f"{name}.yaml"


def system_for(tenant: Tenant) -> System | None:
    """The system a job of this tenant runs on: its first SQL system (None when it has none).

    Kept on the tenant object for the rest of its life, so a request asks once; a list of
    tenants fetched with `prefetch_related("systems")` asks no more at all."""
    if hasattr(tenant, "_job_system"):
        cached: System | None = tenant._job_system
        return cached
    prefetched = getattr(tenant, "_prefetched_objects_cache", {}).get("systems")
    if prefetched is not None:  # a page listing tenants asked for all their systems at once
        cached = min((s for s in prefetched if s.connector_type == ConnectorType.SQL),
                     key=lambda s: s.pk, default=None)
    else:
        cached = (System.objects.filter(tenant=tenant, connector_type=ConnectorType.SQL)
                  .order_by("pk").first())
        if cached is not None:
            cached.tenant = tenant  # the object in hand: reading system.tenant asks no more
    tenant._job_system = cached  # type: ignore[attr-defined]
    return cached


def tenant_key_for(tenant: Tenant) -> str | None:
    """The tenant's key in the datastore its jobs run on (None: the datastore is its own)."""
    system = system_for(tenant)
    return (system.datastore_key or None) if system is not None else None


def datamap_of_system(system: System) -> DataMap:
    """The system's data map, reloaded when its file changes."""
    path = datamap_path(system.datamap_name)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise DataMapUnusable(
            f"The data map {path} of system {system.name} (tenant {system.tenant.slug}) does not "
            "exist; create it (see `privacyops datamap draft`) or point the system at another "
            "data map (`privacyops system edit`)."
        ) from None
    with _lock:
        cached = _cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = (mtime, load_datamap(path))
            except DataMapError as error:
                raise DataMapUnusable(
                    f"The data map {path} is invalid: " + "; ".join(error.lines())
                ) from None
            _cache[path] = cached
            for key in [k for k in _engines if k[0] == str(path)]:
                _engines.pop(key).close()
        return cached[1]


def datastore_of_system(system: System) -> SqlDatastore:
    """The connector for one system (one engine per data map, URL and tenant per process)."""
    datamap = datamap_of_system(system)
    try:
        url = resolve_connection_url(datamap, system.datastore_key or None)
    except DataMapError as error:
        raise DatastoreUnavailable("; ".join(error.lines())) from None
    tenant = system.tenant
    key = (str(datamap_path(system.datamap_name)), url, tenant.pk)
    with _lock:
        if key not in _engines:
            from privacyops.connectors.sql import SqlDatastore

            try:
                _engines[key] = SqlDatastore(datamap, url,
                                             hash_key=bytes(tenant.hash_key or b""))
            except ImportError as error:
                raise DatastoreUnavailable(
                    f"System {system.name} of tenant {tenant.slug} needs a database driver "
                    f"that is not installed ({error}). Install the optional extra for it: "
                    "pip install 'privacyops[postgresql]' (PostgreSQL) or "
                    "'privacyops[mysql]' (MySQL, MariaDB)."
                ) from None
        return _engines[key]


def datamap_for(tenant: Tenant) -> DataMap | None:
    """The data map of the tenant's job system; None when the tenant has no system yet."""
    system = system_for(tenant)
    return None if system is None else datamap_of_system(system)


def target_types_for(tenant: Tenant) -> tuple[str, ...]:
    """The scopes a job for this tenant may target: those its data map declares."""
    datamap = datamap_for(tenant)
    if datamap is None:
        return DEFAULT_TARGET_TYPES
    return tuple(datamap.scope_entities())


def datastore_for(tenant: Tenant) -> SqlDatastore:
    """The connector for the tenant's job system."""
    system = system_for(tenant)
    if system is None:
        raise NoSystem(
            f"Tenant {tenant.slug} has no system yet; add one with `privacyops system add "
            f"--tenant {tenant.slug} --name NAME --datamap FILE --key KEY` (data maps live in "
            f"{settings.DATAMAP_DIR})."
        )
    return datastore_of_system(system)


def target_for(tenant: Tenant, target_type: str, target_id: str) -> Target:
    if target_type not in target_types_for(tenant):
        raise ValidationFailed(f"Unknown target type {target_type!r} for tenant {tenant.slug}.")
    key = tenant_key_for(tenant)
    if target_type == "tenant":
        return Target(scope="tenant", id=key or target_id, tenant_key=key)
    return Target(scope=target_type, id=target_id, tenant_key=key)


def systems_of(tenant: Tenant) -> list[System]:
    """Every system of the tenant, in the order they were added."""
    return list(System.objects.filter(tenant=tenant).select_related("tenant").order_by("pk"))


def sql_systems(tenant: Tenant) -> list[System]:
    """The tenant's SQL systems, in the order they were added (the first is the job system)."""
    return [system for system in systems_of(tenant) if system.connector_type == ConnectorType.SQL]


def connector_of_system(system: System) -> SystemConnector:
    """The connector a multi-system job step uses: SQL datastores here, HTTP connectors from
    `privacyops.connectors.http` (imported on first use). Manual systems have none: their
    steps wait for the system's owner."""
    if system.connector_type == ConnectorType.SQL:
        return datastore_of_system(system)
    if system.connector_type == ConnectorType.HTTP:
        try:
            from privacyops.connectors.http import (  # type: ignore[import-not-found,unused-ignore]
                load_http_connector,
            )
        except ImportError:
            raise DatastoreUnavailable(
                f"System {system.name} of tenant {system.tenant.slug} is an HTTP system, and "
                "this installation has no HTTP connector; upgrade PrivacyOps."
            ) from None
        path = datamap_path(system.datamap_name)
        if not path.exists():
            raise DataMapUnusable(
                f"The map {path} of system {system.name} (tenant {system.tenant.slug}) does not "
                "exist; create it or point the system at another map (`privacyops system edit`)."
            )
        connector: SystemConnector = load_http_connector(
            path, tenant_key=system.datastore_key or None)
        return connector
    raise ValidationFailed(
        f"System {system.name} is a {system.connector_type} system; it has no connector (its "
        "owner acts on each step by hand).")
