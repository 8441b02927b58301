"""One person is one id: target ids are resolved through the datastore when they come in.

Whatever an operator, an API client or a form typed (``"027"``, ``"+27"``, ``" 27"``, ``"٢٧"``),
the id a job, a hold or an intake request stores is the primary key of the row as the
datastore spells it (``"27"``). Duplicate checks, hold coverage, the privacy center and the
deletion of export packages after an erasure then compare equal texts, and an ERASE or PURGE
of something that does not exist is refused when it is asked for, not when it runs.

Refusals never repeat what was typed: the sentence names the scope and the tenant only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from privacyops.connectors import ConnectorError
from privacyops.datamap import DataMapError
from privacyops.errors import ValidationFailed
from privacyops.execution.registry import (
    DatastoreUnavailable,
    datamap_for,
    datastore_for,
    target_for,
    tenant_key_for,
)
from privacyops.tenancy.models import Tenant


class UnknownTarget(ValidationFailed):
    code = "unknown_target"


@dataclass(frozen=True)
class ResolvedTarget:
    """A target id in its canonical text, and whether a row has it today.

    ``exists`` is None when the tenant has no data map to look in (nothing can be erased or
    exported there either, so the id is kept as typed, trimmed).
    """

    id: str
    exists: bool | None


def tenant_target_id(tenant: Tenant) -> str:
    """The canonical id of a ``tenant`` target: the tenant's key in its datastore (else slug)."""
    return tenant_key_for(tenant) or tenant.slug


def _folded(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def _names_tenant(tenant: Tenant, typed: str) -> bool:
    wanted = _folded(typed)
    names = {_folded(tenant.slug)}
    key = tenant_key_for(tenant) or ""
    if key:
        names.add(_folded(key))
    if wanted in names:
        return True
    try:  # "01" names the tenant whose key is "1"
        return bool(key) and int(wanted) == int(key)
    except ValueError:
        return False


def target_resolve(*, tenant: Tenant, target_type: str, target_id: str) -> ResolvedTarget:
    """The canonical id of ``target_id`` in the scope ``target_type`` of the tenant's data.

    Raises DatastoreUnavailable (503) when the datastore cannot answer. An id that no row has
    today comes back with ``exists=False`` and its canonical text when its spelling has one
    (holds may name data that does not exist yet), else trimmed as typed.
    """
    typed = (target_id or "").strip()
    if target_type == "tenant":
        if not _names_tenant(tenant, typed):
            return ResolvedTarget(typed, False)
        return ResolvedTarget(tenant_target_id(tenant), True)
    if datamap_for(tenant) is None:
        return ResolvedTarget(typed, None)
    try:
        datastore = datastore_for(tenant)
        target = target_for(tenant, target_type, typed)
        canonical = datastore.canonical_id(target)
        if canonical is not None:
            return ResolvedTarget(canonical, True)
        return ResolvedTarget(datastore.key_text(target_type, typed) or typed, False)
    except (ConnectorError, DataMapError, SQLAlchemyError) as error:
        raise DatastoreUnavailable(
            f"The datastore of tenant {tenant.slug} could not be asked whether this "
            f"{target_type} exists ({type(error).__name__}); try again when it answers."
        ) from None


def target_canonical(*, tenant: Tenant, target_type: str, target_id: str,
                     must_exist: bool) -> str:
    """The canonical id to store; refuses (422) an id that matches nothing when ``must_exist``."""
    resolved = target_resolve(tenant=tenant, target_type=target_type, target_id=target_id)
    if must_exist and resolved.exists is False:
        raise unknown_target(tenant, target_type)
    return resolved.id


def unknown_target(tenant: Tenant, target_type: str) -> UnknownTarget:
    if target_type == "tenant":
        return UnknownTarget(
            f"The target id does not name tenant {tenant.slug}; use its datastore key "
            f"({tenant_target_id(tenant)}) or its slug.", field="target_id")
    return UnknownTarget(
        f"No {target_type} with this id exists in the data of tenant {tenant.slug}. Check the "
        "id (the GDPR screen's people list shows subject ids) and try again.",
        field="target_id")
