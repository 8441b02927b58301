"""Reading artifacts (a signed, expiring link that only an authorised viewer may follow) and
the health of a tenant's systems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.core import signing
from sqlalchemy.exc import SQLAlchemyError

from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import DataMapError, LiveReport, live_check, resolve_connection_url
from privacyops.errors import DomainError, NotFound
from privacyops.execution.executors import DOWNLOAD_SALT
from privacyops.execution.models import Artifact
from privacyops.execution.registry import (
    connector_of_system,
    datamap_of_system,
    datamap_path,
)
from privacyops.tenancy.models import ConnectorType, System, Tenant, User
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
    """One step. ``notice`` marks a step that passed with something to look at (an index to
    add, unmapped columns); ``lines`` are its findings, one per line."""

    name: str
    ok: bool
    detail: str
    lines: tuple[str, ...] = ()
    notice: bool = False

    @property
    def status(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.notice else "ok"


@dataclass(frozen=True)
class SystemHealth:
    """The checks run on one system, in order; the first failure ends the run. ``live`` is
    the live check's report when the datastore could be read (drift is recorded from it)."""

    system_name: str
    checks: tuple[HealthCheck, ...]
    subjects: int | None
    live: LiveReport | None = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _live_steps(report: LiveReport, tables: int) -> list[HealthCheck]:
    """The live check as three steps: schema (problems fail it), indexes, drift."""
    if report.problems:
        return [HealthCheck(
            "schema", False,
            f"{_count(len(report.problems), 'problem')} between the data map and the database; "
            "fix the map (each line names its path) or the database",
            tuple(p.line() for p in report.problems))]
    steps = [HealthCheck("schema", True,
                         f"{tables} tables and every column the map names exist, with types "
                         "that can hold what ERASE writes")]
    if report.warnings:
        steps.append(HealthCheck("indexes", True,
                                 f"{_count(len(report.warnings), 'warning')}: jobs will scan "
                                 "tables", tuple(w.line() for w in report.warnings), notice=True))
    if not report.unmapped:
        steps.append(HealthCheck("drift", True, "every column of the mapped tables is in the "
                                 "data map"))
        return steps
    personal = report.personal_unmapped
    others = tuple(u for u in report.unmapped if not u.personal)
    if personal:
        verb = "looks" if len(personal) == 1 else "look"
        detail = (f"{_count(len(personal), 'unmapped object')} {verb} personal: add each column "
                  "to the data map (`erase: keep` if it stays as it is), each table as an entity")
    else:
        detail = "nothing unmapped looks personal"
    if others:
        detail += f"; {len(others)} other unmapped"
    steps.append(HealthCheck("drift", True, detail,
                             tuple(u.line() for u in (*personal, *others)),
                             notice=bool(personal)))
    return steps


def system_health(system: System, *, sample: bool = True) -> SystemHealth:
    """Load the data map, connect (reads only), run the live check (problems with their
    data-map paths, missing indexes, unmapped personal-looking columns) and count the tenant's
    subjects. Each step says what it checked; nothing is written anywhere.

    ``sample=False`` judges unmapped columns by their names only (no values are read)."""
    checks: list[HealthCheck] = []
    subjects: int | None = None
    live: LiveReport | None = None

    def failed(name: str, detail: str) -> SystemHealth:
        checks.append(HealthCheck(name, False, detail))
        return SystemHealth(system.name, tuple(checks), subjects, live)

    if system.connector_type == ConnectorType.HTTP:
        return _http_health(system)
    if system.connector_type == ConnectorType.MANUAL:
        return _manual_health(system)
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
    unreachable = (f"cannot read the datastore through {reference}: {{}}; check the URL in that "
                   "variable and that the server answers")
    try:
        live = live_check(datamap, url, sample=sample)
    except SQLAlchemyError as error:
        return failed("connection", unreachable.format(type(error).__name__))
    checks.append(HealthCheck("connection", True, f"reached through {reference}"))
    tables = len({spec.table for spec in datamap.entities.values()})
    checks.extend(_live_steps(live, tables))
    if live.problems:
        return SystemHealth(system.name, tuple(checks), subjects, live)
    try:
        with SqlDatastore(datamap, url, hash_key=b"") as datastore:
            try:
                datastore.reflected  # noqa: B018 - reflecting is the check
            except DataMapError as error:
                return failed("schema", "; ".join(error.lines()))
            key = system.datastore_key or None
            subjects = datastore.count_subjects(key)
    except SQLAlchemyError as error:
        return failed("subjects", unreachable.format(type(error).__name__))
    where = f"tenant key {system.datastore_key}" if system.datastore_key else "the datastore"
    checks.append(HealthCheck("subjects", True,
                              f"{subjects} {datamap.subject.entity} rows for {where}"))
    return SystemHealth(system.name, tuple(checks), subjects, live)


def _http_health(system: System) -> SystemHealth:
    """An HTTP system: its map loads (and the variables it names are set), then the service
    answers its ``live_check_path`` with the map's credentials. Nothing is written."""
    from privacyops.connectors.base import ConnectorError
    from privacyops.connectors.http import HttpConnector

    path = datamap_path(system.datamap_name)
    try:
        connector = cast(HttpConnector, connector_of_system(system))
    except DataMapError as error:
        return SystemHealth(system.name, (HealthCheck(
            "map", False, "; ".join(error.lines())),), None)
    except (DomainError, ConnectorError) as error:
        detail = error.message if isinstance(error, DomainError) else str(error)
        return SystemHealth(system.name, (HealthCheck("map", False, detail),), None)
    checks = [HealthCheck("map", True, f"{path} loads and validates")]
    try:
        answer = connector.check_live()
    except ConnectorError as error:
        reference = system.connection_ref or "the base URL written in the map"
        checks.append(HealthCheck("service", False, f"the service at {reference} does not "
                                  f"answer: {error}"))
    else:
        checks.append(HealthCheck("service", True, answer))
    finally:
        connector.close()
    return SystemHealth(system.name, tuple(checks), None)


def _manual_health(system: System) -> SystemHealth:
    """A manual system: its map loads; there is nothing to connect to."""
    from privacyops.manual.schema import load_manual_map

    path = datamap_path(system.datamap_name)
    try:
        manual = load_manual_map(path)
    except DataMapError as error:
        return SystemHealth(system.name, (HealthCheck(
            "map", False, "; ".join(error.lines())),), None)
    kinds = " and ".join(k for k in ("export", "erase") if manual.does(k))
    return SystemHealth(system.name, (HealthCheck(
        "map", True, f"{path} loads and validates: {manual.owner} is asked to {kinds} by hand "
        "(nothing to connect to)"),), None)
