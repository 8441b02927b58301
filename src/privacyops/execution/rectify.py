"""RECTIFY (GDPR Art. 16) and RESTRICT (Art. 18): their parameters, checked when a job is
created, and their executors.

A RECTIFY job's requested values and its old → new values are personal data. They are kept
only sealed (AES-256-GCM with the installation's artifact key, the cipher of export packages):
the request in ``job.params["changes_sealed"]``, the outcome in ``job.result["changes_sealed"]``.
Lists, the API and the audit log see field names and counts only; the job page unseals the
outcome for those allowed to see the job.

Legal holds do not block either job: a hold preserves data against erasure, and a rectification
or a restriction erases nothing (both are audited like every job).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from privacyops.audit.services import audit_record
from privacyops.connectors import ConnectorError, Target, TargetNotFound
from privacyops.connectors.sql_rectify import (
    InvalidChange,
    NoRestrictionMarker,
    SubjectErased,
    rectifiable_fields,
)
from privacyops.datamap import DataMapError
from privacyops.errors import DomainError, ValidationFailed
from privacyops.execution.crypto import DecryptionError, decrypt_stream, encrypt_stream
from privacyops.execution.errors import JobBlocked
from privacyops.execution.registry import (
    DatastoreUnavailable,
    datamap_of_system,
    datastore_of_system,
    sql_systems,
    system_for,
)
from privacyops.jobs.models import Job, JobType
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import System, Tenant

if TYPE_CHECKING:
    from privacyops.connectors.sql import SqlDatastore

PARAM_TYPES = frozenset({JobType.RECTIFY, JobType.RESTRICT})
REQUEST_PURPOSE = "rectify.request"
RESULT_PURPOSE = "rectify.result"


# --- sealing --------------------------------------------------------------------------------

def seal(data: Any, *, purpose: str, bound_to: str) -> str:
    """``data`` as JSON, encrypted and authenticated, in base64 text for a JSON field.

    ``purpose`` and ``bound_to`` (``tenant:3``, ``job:17``) are sealed with it and checked on
    unsealing, so a sealed request cannot be passed off as another job's result."""
    plain = json.dumps({"purpose": purpose, "bound_to": bound_to, "data": data},
                       ensure_ascii=False, sort_keys=True).encode()
    sealed = io.BytesIO()
    encrypt_stream(settings.ARTIFACT_KEY, io.BytesIO(plain), sealed)
    return base64.b64encode(sealed.getvalue()).decode("ascii")


def unseal(token: str, *, purpose: str, bound_to: str) -> Any:
    """The data sealed by :func:`seal`; DecryptionError when altered, foreign or misplaced."""
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise DecryptionError("not a sealed value") from None
    plain = b"".join(decrypt_stream(settings.ARTIFACT_KEY, io.BytesIO(raw)))
    envelope = json.loads(plain)
    if envelope.get("purpose") != purpose or envelope.get("bound_to") != bound_to:
        raise DecryptionError("the sealed value belongs to something else")
    return envelope["data"]


# --- which system ---------------------------------------------------------------------------

def system_named(tenant: Tenant, name: Any) -> System:
    """The SQL system a RECTIFY or RESTRICT writes to: the one named, else the tenant's job
    system (its first SQL system). 422 for a name the tenant has no SQL system of."""
    systems = sql_systems(tenant)
    if name in (None, ""):
        chosen = system_for(tenant)
        if chosen is None:
            raise ValidationFailed(f"Tenant {tenant.slug} has no SQL system to correct data in; "
                                   "add one with `privacyops system add`.", field="system",
                                   code="no_system")
        return chosen
    for system in systems:
        if system.name == name:
            return system
    known = ", ".join(system.name for system in systems) or "none"
    raise ValidationFailed(f"Tenant {tenant.slug} has no SQL system named {str(name)[:80]!r}; "
                           f"choose one of: {known}.", field="system", code="unknown_system")


def job_system(job: Job) -> System:
    """The system a RECTIFY or RESTRICT job writes to (`params.system`, else the job system)."""
    params = job.params if isinstance(job.params, dict) else {}
    try:
        return system_named(job.tenant, params.get("system"))
    except ValidationFailed as refused:
        raise JobBlocked(f"{refused.message} The system was renamed or removed since the job "
                         "was created; create a new job.", code="no_system") from None


def _datastore_and_target(job: Job) -> tuple[SqlDatastore, Target]:
    system = job_system(job)
    return datastore_of_system(system), Target(scope="subject", id=job.target_id,
                             tenant_key=system.datastore_key or None)


# --- job creation ---------------------------------------------------------------------------

def _invalid(error: InvalidChange) -> ValidationFailed:
    return ValidationFailed(str(error), code="invalid_change", field="changes",
                            change=error.field)


def job_params_checked(*, tenant: Tenant, job_type: str, target_type: str,
                       params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The params to store on a new job, checked against the tenant's data map (422 when
    refused). RECTIFY's values are sealed; other job types take no params."""
    params = dict(params or {})
    if job_type not in PARAM_TYPES:
        if params:
            raise ValidationFailed(f"A {job_type} job takes no parameters (changes, lift); "
                                   "remove them.", field="params")
        return {}
    if target_type != "subject":
        raise ValidationFailed(f"{job_type} applies to one data subject: use target type "
                               "subject.", field="target_type")
    if job_type == JobType.RESTRICT:
        return _restrict_params(tenant, params)
    return _rectify_params(tenant, params)


def _system_param(tenant: Tenant, params: dict[str, Any]) -> tuple[System, dict[str, Any]]:
    """The system the job writes to, and the `system` to store: only when named, so a job of a
    one-system tenant keeps the params it always had."""
    named = params.get("system")
    system = system_named(tenant, named)
    return system, ({"system": system.name} if named not in (None, "") else {})


def _restrict_params(tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"lift", "system"})
    if unknown:
        raise ValidationFailed(f"RESTRICT takes only `lift` (true to lift the restriction) and "
                               f"`system`; remove {', '.join(unknown)}.", field="params")
    lift = params.get("lift", False)
    if not isinstance(lift, bool):
        raise ValidationFailed("`lift` is true (lift the restriction) or false (restrict).",
                               field="lift")
    system, stored = _system_param(tenant, params)
    datamap = datamap_of_system(system)
    if datamap.subject.restriction_marker is None:
        raise ValidationFailed(
            f"Data map {datamap.name!r} of tenant {tenant.slug}'s system {system.name} declares "
            "no restriction marker, so processing cannot be restricted there. Add "
            "`restriction_marker: {column: processing_restricted_at, value: now}` under "
            "`subject:` in the data map (a nullable timestamp or text column of the subject's "
            "table), then try again.",
            code="no_restriction_marker", field="job_type")
    return {"lift": lift, **stored}


def _rectify_params(tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"changes", "system"})
    if unknown:
        raise ValidationFailed(f"RECTIFY takes only `changes` ({{field: value}}) and `system`; "
                               f"remove {', '.join(unknown)}.", field="params")
    changes = params.get("changes")
    if not isinstance(changes, Mapping):
        raise ValidationFailed("RECTIFY needs `changes`: an object of the subject's fields and "
                               "their corrected values.", field="changes")
    system, stored = _system_param(tenant, params)
    try:
        datastore_of_system(system).rectify_check(changes)
    except InvalidChange as error:
        raise _invalid(error) from None
    except (ConnectorError, DataMapError, SQLAlchemyError) as error:
        raise DatastoreUnavailable(
            f"The datastore of system {system.name} (tenant {tenant.slug}) could not be asked "
            f"for its columns ({type(error).__name__}); try again when it answers.") from None
    return {"fields": list(changes), **stored,
            "changes_sealed": seal(dict(changes), purpose=REQUEST_PURPOSE,
                                   bound_to=f"tenant:{tenant.pk}")}


def job_params_public(job: Job) -> dict[str, Any]:
    """What lists and the API show of a job's params: field names, `lift` and the system,
    never values."""
    params = job.params if isinstance(job.params, dict) else {}
    return {key: params[key] for key in ("fields", "lift", "system") if key in params}


# --- executors ------------------------------------------------------------------------------

def _not_found(job: Job) -> JobBlocked:
    return JobBlocked(f"The subject this job names does not exist in the data of tenant "
                      f"{job.tenant.slug} (it may have been purged, or the id is mistyped). "
                      "Check the target on the job page and create a new job.",
                      code="target_not_found")


def _requested_changes(job: Job) -> dict[str, Any]:
    try:
        changes = unseal(str(job.params.get("changes_sealed", "")), purpose=REQUEST_PURPOSE,
                         bound_to=f"tenant:{job.tenant_id}")
    except DecryptionError:
        raise JobBlocked("The requested changes of this job cannot be read (they were sealed "
                         "with another artifact key, or altered). Create a new job.",
                         code="changes_unreadable") from None
    if not isinstance(changes, dict):
        raise JobBlocked("The requested changes of this job are damaged; create a new job.",
                         code="changes_unreadable")
    return changes


def _audited(job: Job, worker: str, action: str, metadata: dict[str, Any]) -> None:
    """The datastore write, audited once it committed (names and counts only)."""
    with transaction.atomic():
        audit_record(actor=Actor.system(worker), action=action, tenant_id=job.tenant_id,
                     target_type="job", target_id=job.pk, metadata=metadata)


def run_rectify(job: Job, worker: str) -> dict[str, Any]:
    datastore, target = _datastore_and_target(job)
    changes = _requested_changes(job)
    at = datetime.now(tz=UTC).replace(microsecond=0)
    try:
        done = datastore.rectify(target, changes)
    except TargetNotFound:
        raise _not_found(job) from None
    except InvalidChange as error:  # the datastore's schema changed since the job was created
        raise JobBlocked(f"Refused: {error} The datastore changed since the job was created; "
                         "create a new job.", code="invalid_change") from None
    except SubjectErased:
        raise JobBlocked("Refused: the subject was erased, and rectifying would write personal "
                         "data back into the erased row.", code="subject_erased") from None
    except (IntegrityError, DataError) as error:
        raise JobBlocked(f"The datastore refused the new values ({type(error).__name__}: a "
                         "constraint such as a unique email or an allowed list of values). "
                         "Nothing was changed; check the values and create a new job.",
                         code="datastore_refused") from None
    fields = [change.field for change in done]
    changed = [change.field for change in done if change.old != change.new]
    _audited(job, worker, "job.rectified",
             {"fields": fields, "fields_changed": changed, "count": len(changed)})
    sealed = seal([{"field": c.field, "old": c.old, "new": c.new} for c in done],
                  purpose=RESULT_PURPOSE, bound_to=f"job:{job.pk}")
    return {
        "datastore": datastore.datamap.name,
        "table": datastore.reflected.table(datastore.datamap.subject.entity).name,
        "fields": fields,
        "fields_changed": changed,
        "rows_changed": 1 if changed else 0,
        "applied_at": at.isoformat(),
        "changes_sealed": sealed,
    }


def run_restrict(job: Job, worker: str) -> dict[str, Any]:
    datastore, target = _datastore_and_target(job)
    lift = bool(job.params.get("lift", False))
    at = datetime.now(tz=UTC).replace(microsecond=0)
    try:
        change = datastore.restrict(target, lift=lift, at=at)
    except TargetNotFound:
        raise _not_found(job) from None
    except NoRestrictionMarker:
        raise JobBlocked("Refused: the data map no longer declares subject.restriction_marker; "
                         "add it back, then retry.", code="no_restriction_marker") from None
    _audited(job, worker, "job.restricted",
             {"lift": lift, "column": change.column, "changed": change.changed})
    return {
        "datastore": datastore.datamap.name,
        "lift": lift,
        "restricted": change.restricted,
        "column": change.column,
        "changed": change.changed,
        "restricted_since": change.since,
        "applied_at": at.isoformat(),
    }


def rectification_shown(job: Job) -> list[dict[str, Any]] | None:
    """The old → new values of a completed RECTIFY, unsealed for its job page (None when the
    job has none, or they cannot be read)."""
    result = job.result if isinstance(job.result, dict) else {}
    token = result.get("changes_sealed")
    if job.job_type != JobType.RECTIFY or not isinstance(token, str):
        return None
    try:
        rows = unseal(token, purpose=RESULT_PURPOSE, bound_to=f"job:{job.pk}")
    except (DecryptionError, ValueError):
        return None
    return rows if isinstance(rows, list) else None


def requested_changes_shown(job: Job) -> list[dict[str, Any]] | None:
    """A RECTIFY's requested values, unsealed for its job page (None when unreadable)."""
    if job.job_type != JobType.RECTIFY or not isinstance(job.params, dict):
        return None
    try:
        changes = unseal(str(job.params.get("changes_sealed", "")), purpose=REQUEST_PURPOSE,
                         bound_to=f"tenant:{job.tenant_id}")
    except (DecryptionError, ValueError):
        return None
    if not isinstance(changes, dict):
        return None
    return [{"field": field, "new": value} for field, value in changes.items()]


def rectifiable_fields_for(tenant: Tenant) -> list[str]:
    """The subject fields the new-job page offers for RECTIFY ([] without a data map)."""
    system = system_for(tenant)
    return [] if system is None else rectifiable_fields(datamap_of_system(system))


def correctable_systems(tenant: Tenant) -> list[tuple[str, list[str], bool]]:
    """Each SQL system of the tenant whose data map can be corrected or restricted:
    (name, its subject's rectifiable fields, whether it declares a restriction marker).
    A system whose map cannot be read is left out (its health shows on Platform → Tenants)."""
    found = []
    for system in sql_systems(tenant):
        try:
            datamap = datamap_of_system(system)
        except DomainError:
            continue
        fields = rectifiable_fields(datamap)
        restrictable = datamap.subject.restriction_marker is not None
        if fields or restrictable:
            found.append((system.name, fields, restrictable))
    return found
