"""Reading artifacts (a signed, expiring link that only an authorised viewer may follow) and
the health of a tenant's systems."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from sqlalchemy.exc import SQLAlchemyError

from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import DataMapError, resolve_connection_url
from privacyops.errors import DomainError, NotFound
from privacyops.execution.executors import DOWNLOAD_SALT
from privacyops.execution.models import Artifact
from privacyops.execution.registry import datamap_of_system, datamap_path
from privacyops.tenancy.models import System, Tenant, User
from privacyops.tenancy.policy import can


def artifact_from_token(token: str) -> Artifact:
    """The artifact a signed link names, if the link is intact, unexpired and not deleted."""
    max_age = settings.DOWNLOAD_LINK_DAYS * 86400
    try:
        artifact_id = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise NotFound("This download link has expired. Run the export again for a new link.",
                       code="link_expired") from None
    except signing.BadSignature:
        raise NotFound("This download link is not valid.") from None
    artifact = Artifact.objects.filter(pk=artifact_id, deleted_at__isnull=True).first()
    if artifact is None:
        raise NotFound("This export no longer exists (it expired or its subject was erased).",
                       code="link_expired")
    return artifact


def artifact_for_viewer(token: str, viewer: User) -> Artifact:
    artifact = artifact_from_token(token)
    tenant = Tenant.objects.filter(pk=artifact.tenant_id).first()
    if tenant is None or not can(viewer, "job.view", tenant):
        # Another tenant's export is indistinguishable from a missing one.
        raise NotFound("This export does not exist.")
    return artifact


# --- system health: what `privacyops system test` and Platform → Tenants show -------------

@dataclass(frozen=True)
class HealthCheck:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class SystemHealth:
    """The checks run on one system, in order; the first failure ends the run."""

    system_name: str
    checks: tuple[HealthCheck, ...]
    subjects: int | None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def system_health(system: System) -> SystemHealth:
    """Load the data map, connect (reads only), bind the map to the live tables and count the
    tenant's subjects. Each step says what it checked; nothing is written anywhere."""
    checks: list[HealthCheck] = []
    subjects: int | None = None

    def failed(name: str, detail: str) -> SystemHealth:
        checks.append(HealthCheck(name, False, detail))
        return SystemHealth(system.name, tuple(checks), subjects)

    try:
        datamap = datamap_of_system(system)
    except DomainError as error:
        return failed("data map", error.message)
    checks.append(HealthCheck("data map", True,
                              f"{datamap_path(system.datamap_name)} loads and validates "
                              f"({len(datamap.entities)} entities)"))
    try:
        url = resolve_connection_url(datamap, system.datastore_key or None)
    except DataMapError as error:
        return failed("connection", "; ".join(error.lines()))
    reference = system.connection_ref or "the URL written in the data map"
    try:
        with SqlDatastore(datamap, url, hash_key=b"") as datastore:
            tables = sorted({spec.table for spec in datamap.entities.values()})
            try:
                datastore.reflected  # noqa: B018 - reflecting is the check
            except DataMapError as error:
                checks.append(HealthCheck("connection", True, f"reached through {reference}"))
                return failed("schema", "; ".join(error.lines()))
            checks.append(HealthCheck("connection", True, f"reached through {reference}"))
            checks.append(HealthCheck("schema", True,
                                      f"{len(tables)} tables and every column the map names "
                                      "exist"))
            key = system.datastore_key or None
            subjects = datastore.count_subjects(key)
    except SQLAlchemyError as error:
        return failed("connection", f"cannot read the datastore through {reference}: "
                      f"{type(error).__name__}; check the URL in that variable and that the "
                      "server answers")
    where = f"tenant key {system.datastore_key}" if system.datastore_key else "the datastore"
    checks.append(HealthCheck("subjects", True,
                              f"{subjects} {datamap.subject.entity} rows for {where}"))
    return SystemHealth(system.name, tuple(checks), subjects)
