"""The GDPR screen's two operations: a portability export and a super-admin erasure.

Both are recorded as jobs of source `gdpr_screen` that carry their own approval (the admin's
click, or the typed email and reason), and as `gdpr.export` / `gdpr.erase` audit events.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from django.db import transaction

from privacyops.audit.services import audit_record, refusals_recorded
from privacyops.errors import Conflict, DomainError, NotFound, ValidationFailed
from privacyops.execution.executors import precondition_sentence
from privacyops.execution.guards import covering_holds
from privacyops.execution.packaging import write_export_json
from privacyops.execution.registry import datastore_for, target_for, tenant_key_for
from privacyops.execution.runner import run_job_now, worker_id
from privacyops.jobs.models import Job, JobSource, JobStatus, JobType
from privacyops.jobs.services import job_claim, job_complete, job_create, job_fail
from privacyops.tenancy.actors import Actor, acting_user
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import require
from privacyops.validation import clean_identifier, clean_text
from privacyops.workspace.selectors import SubjectRow, subject_get

logger = logging.getLogger(__name__)

REASON_LIMIT = 1000


class ErasureRefused(DomainError):
    """A guard of the GDPR screen's erasure stands in the way; the sentence names the fix."""

    code = "erasure_refused"
    status = 409


@dataclass(frozen=True)
class GdprExport:
    job: Job
    file_name: str
    content: IO[bytes]
    sections: dict[str, int]


@dataclass(frozen=True)
class GdprErasure:
    job: Job
    subject: SubjectRow | None


def _existing_subject(tenant: Tenant, subject_id: str) -> SubjectRow:
    subject = subject_get(tenant=tenant, subject_id=subject_id)
    if subject is None:
        raise NotFound(f"There is no data subject {subject_id} in workspace {tenant.slug}. "
                       "Search the list again; the person may have been purged.")
    return subject


def _as_request(job: Job, request_type: str, actor: Actor, email: str = "",
                identity_email: str = "") -> None:
    """The screen acts on a person's request: it is in the request queue too (channel
    `gdpr_screen`), completed with its job, and in the person's privacy center (found by the
    keyed hash of the email the screen shows for them)."""
    from privacyops.intake.lifecycle import request_for_job
    from privacyops.intake.models import Channel

    request_for_job(job, request_type=request_type, channel=Channel.GDPR_SCREEN, actor=actor,
                    email=email, identity_email=identity_email)


def gdpr_export(*, tenant: Tenant, subject_id: str, actor: Actor) -> GdprExport:
    """Write the subject's JSON export now and record it as a Completed EXPORT job.

    The document is streamed from the datastore into a temporary file (bounded memory), so the
    job's result holds the real section counts and checksum before the download starts.
    """
    subject_id = clean_identifier(subject_id, field="subject_id", what="subject id")
    with refusals_recorded(actor=actor, action="gdpr.export", tenant_id=tenant.pk,
                           target_type="subject", target_id=subject_id):
        require(acting_user(actor), "gdpr.export", tenant)
        subject = _existing_subject(tenant, subject_id)
        job = job_create(
            tenant_id=tenant.pk, job_type=JobType.EXPORT, target_type="subject",
            target_id=subject_id, reason="Export JSON on the GDPR screen (Art. 15/20)",
            actor=actor, source=JobSource.GDPR_SCREEN, approval_required=False,
            enqueue=False,
        )
        _as_request(job, "access", actor, identity_email=subject.email)
        me = f"gdpr-screen:{worker_id()}"
        claimed = job_claim(job_id=job.pk, worker_id=me) is not None
        now = datetime.now(tz=UTC)
        file_name = f"gdpr-export-{subject_id}-{now:%Y%m%d-%H%M%S}.json"
        header = {"exported_at": now.isoformat(), "exported_by": actor.label}
        datastore = datastore_for(tenant)
        target = target_for(tenant, "subject", subject_id)
        content = tempfile.TemporaryFile()  # the response closes it
        try:
            text = io.TextIOWrapper(content, encoding="utf-8")
            sections = write_export_json(datastore.iter_export(target), text, header)
            others = _other_systems_holding(tenant, subject.email)
            if others:  # the same person in the tenant's other systems, by email
                text.flush()
                content.seek(content.tell() - 2)  # before the closing "}\n"
                content.truncate()
                text.write(', "systems": {')
                for index, (name, connector, other) in enumerate(others):
                    text.write(("" if index == 0 else ", ") + json.dumps(name) + ": ")
                    counts = write_export_json(connector.iter_export(other), text, {})
                    sections.update({f"{name}/{section}": n for section, n in counts.items()})
                text.write("}}\n")
            text.flush()
            text.detach()
        except Exception:
            content.close()
            if claimed:
                job_fail(job_id=job.pk, worker_id=me, code="execution_error",
                         message="The export stopped before it was written; see the server log.")
            raise
        size = content.tell()
        content.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: content.read(1024 * 1024), b""):
            digest.update(block)
        content.seek(0)
        if claimed:
            job_complete(job_id=job.pk, worker_id=me, result={
                "format": "json", "file_name": file_name, "sections": sections, "size": size,
                "sha256": digest.hexdigest(),
            })
        with transaction.atomic():
            audit_record(actor=actor, action="gdpr.export", tenant_id=tenant.pk,
                         target_type="subject", target_id=subject_id,
                         metadata={"job_id": job.pk, "file_name": file_name,
                                   "sections": sections})
    job.refresh_from_db()
    return GdprExport(job=job, file_name=file_name, content=content, sections=sections)


def _other_systems_holding(tenant: Tenant, email: str) -> list[tuple[str, Any, Any]]:
    """The tenant's other automated systems where this email resolves to exactly one subject:
    (name, connector, target). A system that does not answer is left out (logged)."""
    from privacyops.connectors import Target
    from privacyops.execution.registry import connector_of_system, system_for, systems_of

    if not email:
        return []
    first = system_for(tenant)
    found = []
    for system in systems_of(tenant):
        if (first is not None and system.pk == first.pk) or system.connector_type not in (
                "sql", "http"):
            continue
        try:
            connector = connector_of_system(system)
            keys = connector.resolve_identity({"email": email}, system.datastore_key or None)
        except Exception as error:  # one system down must not stop the export of the others
            logger.warning("gdpr export: system %s not asked (%s)", system.pk,
                           type(error).__name__)
            continue
        if len(keys) == 1:
            found.append((system.name, connector,
                          Target(scope="subject", id=keys[0],
                                 tenant_key=system.datastore_key or None)))
    return found


def _erase_guards(*, tenant: Tenant, subject: SubjectRow, confirmation_email: str, reason: str,
                  actor: Actor) -> str:
    """Every condition the spec lists, in the order a person would fix them. Returns the reason."""
    if subject.erased:
        raise ErasureRefused(
            f"Refused. Data subject {subject.id} is already erased; there is nothing left to "
            "erase.", code="already_erased")
    user = acting_user(actor)
    datastore = datastore_for(tenant)
    key = tenant_key_for(tenant)
    if user.email and subject.id in datastore.find_subject_ids(key, user.email):
        raise ErasureRefused(
            "Refused. You can't erase yourself here: the screen refuses to erase your own "
            "account. Have another super-admin act.", code="self_erasure")
    target = target_for(tenant, "subject", subject.id)
    failures = datastore.check_preconditions(target)
    if failures:
        sentence = precondition_sentence(failures)
        if any(f.name != "super_admin" for f in failures):
            sentence += " Recover and revoke via offboarding, then retry."
        raise ErasureRefused(sentence, code="precondition",
                             preconditions={f.name: f.count for f in failures})
    holds = covering_holds(tenant_id=tenant.pk, target=target, target_type="subject",
                           datastore=datastore)
    if holds:
        raise ErasureRefused(
            f"Refused. Blocked by {holds[0].describe()}. Release the hold (Legal holds tab) "
            "before erasing this data.", code="legal_hold", hold_id=holds[0].pk)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Enter a reason for the audit log, for example the date and "
                               "channel the erasure request arrived on.", field="reason")
    reason = clean_text(reason, field="reason", what="reason", limit=REASON_LIMIT)
    if (confirmation_email or "").strip() != subject.email:
        raise ErasureRefused(
            "Refused: the confirmation didn't match. Retype the person's exact current email. "
            "An erased or changed email won't match.", code="confirmation_mismatch")
    return reason


def gdpr_erase(*, tenant: Tenant, subject_id: str, confirmation_email: str, reason: str,
               actor: Actor) -> GdprErasure:
    """A super-admin's erasure from the GDPR screen: guarded here, run at once, as a job.

    The typed email and the reason are its approval, so the ERASE job skips the tenant's
    approval step and is executed synchronously; a refusal or a Failed job is audited as a
    `gdpr.erase` failure with the sentence the admin sees.
    """
    subject_id = clean_identifier(subject_id, field="subject_id", what="subject id")
    with refusals_recorded(actor=actor, action="gdpr.erase", tenant_id=tenant.pk,
                           target_type="subject", target_id=subject_id):
        require(acting_user(actor), "gdpr.erase", tenant)
        subject = _existing_subject(tenant, subject_id)
        reason = _erase_guards(tenant=tenant, subject=subject,
                               confirmation_email=confirmation_email, reason=reason, actor=actor)
        job = job_create(
            tenant_id=tenant.pk, job_type=JobType.ERASE, target_type="subject",
            target_id=subject_id, reason=reason, actor=actor, source=JobSource.GDPR_SCREEN,
            approval_required=False, enqueue=False,
        )
        _as_request(job, "erasure", actor, email=subject.email)
        run_job_now(job.pk)
        job.refresh_from_db()
        if job.status == JobStatus.FAILED:
            raise ErasureRefused(job.error_message, code=job.error_code or "job_failed",
                                 job_id=job.pk)
        if job.status != JobStatus.COMPLETED:
            raise Conflict(f"Erase job #{job.pk} is {job.status}; it did not finish. Open it "
                           "under Platform → Privacy to follow it.", job_id=job.pk)
        with transaction.atomic():
            audit_record(actor=actor, action="gdpr.erase", tenant_id=tenant.pk,
                         target_type="subject", target_id=subject_id,
                         metadata={"job_id": job.pk, "reason": reason,
                                   "rows_changed": (job.result or {}).get("rows_changed")})
    return GdprErasure(job=job, subject=subject_get(tenant=tenant, subject_id=subject_id))
