"""Export artifacts in Django storage (local folder by default, S3-compatible at scale).

A package is encrypted into a local temporary file first and handed to storage whole; its
Artifact row is written only afterwards (a single-system export's in the transaction that
completes its job), so a crash never leaves a listed half-written package.
A worker killed between the two leaves a file without a row (or a row its job never
published); the retried attempt of the same job discards both before storing its own.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from privacyops.connectors import Datastore, Target
from privacyops.execution.crypto import decrypt_stream, encrypt_stream
from privacyops.execution.models import Artifact
from privacyops.execution.packaging import Package
from privacyops.jobs.models import Job


def _job_folder(job: Job) -> str:
    return f"exports/{job.tenant_id}/{job.pk}"


# Files a person handed in for one system of a job (a manual system's upload) live in a
# subfolder of the job's: parts of the job's result, not attempts of its package.
PARTS = "parts"


def _discard_earlier_attempts(job: Job) -> None:
    """Remove what killed attempts of this job stored: rows first, then the job's folder.

    Each job has a folder of its own, so this lists one job's files, never a tenant's. The
    parts subfolder (files handed in by people) is not an attempt and stays.
    """
    earlier = list(Artifact.objects.filter(job=job, deleted_at__isnull=True)
                   .exclude(storage_name__startswith=f"{_job_folder(job)}/{PARTS}/"))
    Artifact.objects.filter(pk__in=[a.pk for a in earlier]).update(deleted_at=timezone.now())
    folder = _job_folder(job)
    try:
        _folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{folder}/{name}")


def artifact_prepare(*, job: Job, package: Package, file_name: str,
                     target_id: str | None = None) -> Artifact:
    """Store the package's encrypted file (after discarding what killed attempts of the job
    left) and answer its Artifact, not yet saved: the caller saves it in the transaction that
    completes the job (see `run_export`), so the package is listed exactly when its job is
    Completed and no commit of its own is waited for."""
    storage_name = f"{_job_folder(job)}/{package.sha256[:16]}.zip.enc"
    _discard_earlier_attempts(job)
    with tempfile.TemporaryFile() as encrypted:
        with package.path.open("rb") as plain:
            encrypt_stream(settings.ARTIFACT_KEY, plain, encrypted)
        encrypted.seek(0)
        if default_storage.exists(storage_name):
            default_storage.delete(storage_name)
        stored_name = default_storage.save(storage_name, File(encrypted, name=storage_name))
    return Artifact(
        job=job, tenant_id=job.tenant_id, target_type=job.target_type,
        target_id=target_id or job.target_id, storage_name=stored_name, file_name=file_name,
        size=package.size, sha256=package.sha256,
        expires_at=timezone.now() + timedelta(days=settings.DOWNLOAD_LINK_DAYS),
    )


def artifact_store(*, job: Job, package: Package, file_name: str,
                   target_id: str | None = None) -> Artifact:
    """`artifact_prepare`, and the row saved at once."""
    artifact = artifact_prepare(job=job, package=package, file_name=file_name,
                                target_id=target_id)
    with transaction.atomic():
        artifact.save(force_insert=True)
    return artifact


def part_store(*, job: Job, source: BinaryIO, file_name: str, part: str,
               expires_at: datetime, target: tuple[str, str] | None = None) -> Artifact:
    """Store a file someone handed in for one system of `job` (a manual system's export),
    encrypted like a package, as an artifact of the job under `parts/<part>/`.

    The file is encrypted into a temporary file while its size and SHA-256 are taken; the
    row is written only once the encrypted file is stored whole. ``target`` (type, id) files it
    like the job's package (an identity job's is ``identity`` and a digest), so whatever later
    deletes the package's data deletes the part too.
    """
    target_type, target_id = target or (job.target_type, job.target_id)
    digest = hashlib.sha256()
    size = 0

    class _Counting:
        def read(self, n: int = -1) -> bytes:
            nonlocal size
            block = source.read(n)
            digest.update(block)
            size += len(block)
            return block

    with tempfile.TemporaryFile() as encrypted:
        encrypt_stream(settings.ARTIFACT_KEY, cast(BinaryIO, _Counting()), encrypted)
        encrypted.seek(0)
        storage_name = f"{_job_folder(job)}/{PARTS}/{part}/{digest.hexdigest()[:16]}.enc"
        if default_storage.exists(storage_name):
            default_storage.delete(storage_name)
        stored_name = default_storage.save(storage_name, File(encrypted, name=storage_name))
    with transaction.atomic():
        return Artifact.objects.create(
            job=job, tenant_id=job.tenant_id, target_type=target_type,
            target_id=target_id, storage_name=stored_name, file_name=file_name,
            size=size, sha256=digest.hexdigest(), expires_at=expires_at,
        )


def artifact_chunks(artifact: Artifact) -> Iterator[bytes]:
    """The decrypted package, streamed."""
    with default_storage.open(artifact.storage_name, "rb") as handle:
        yield from decrypt_stream(settings.ARTIFACT_KEY, cast(BinaryIO, handle))


@dataclass(frozen=True)
class TouchedData:
    """What an ERASE or PURGE changes, worked out before it writes (a purged row can no longer
    say whose it was): the packages holding any of it must go."""

    tenant_id: int
    whole_tenant: bool
    scope: str
    key: str | None
    subject_keys: frozenset[str]
    sharing: frozenset[uuid.UUID]  # packages of other scopes whose data overlaps the target's


def packages_holding(*, job: Job, datastore: Datastore, target: Target) -> TouchedData:
    """Before an ERASE or PURGE writes: every subject it reaches, by canonical id, and the
    packages of other scopes (an issuer's, …) that share rows with the target."""
    live = Artifact.objects.filter(tenant_id=job.tenant_id, deleted_at__isnull=True)
    if job.target_type == "tenant":
        return TouchedData(job.tenant_id, True, "tenant", None, frozenset(), frozenset())
    sharing = set()
    for artifact in live.exclude(target_type__in=["subject", "tenant", job.target_type]):
        held = Target(scope=artifact.target_type, id=artifact.target_id,
                      tenant_key=target.tenant_key)
        if datastore.shares_rows(target, held):
            sharing.add(artifact.pk)
    return TouchedData(
        tenant_id=job.tenant_id, whole_tenant=False, scope=job.target_type,
        key=datastore.key_text(job.target_type, job.target_id),
        subject_keys=frozenset(datastore.subject_keys(target)), sharing=frozenset(sharing),
    )


def _holds_touched_data(artifact: Artifact, touched: TouchedData,
                        key_text: Callable[[str, str], str | None]) -> bool:
    if touched.whole_tenant or artifact.target_type == "tenant" or artifact.pk in touched.sharing:
        return True
    # Whatever spelling the package's job was created with, compare canonical texts.
    key = key_text(artifact.target_type, artifact.target_id)
    if artifact.target_type == "subject" and key in touched.subject_keys:
        return True
    return artifact.target_type == touched.scope and key is not None and key == touched.key


def artifacts_delete(touched: TouchedData, *, key_text: Callable[[str, str], str | None]) -> int:
    """Delete the export packages holding data an ERASE or PURGE changed: files first, then the
    rows are marked, so the download link answers 404 and the bytes are gone."""
    count = 0
    for artifact in Artifact.objects.filter(tenant_id=touched.tenant_id,
                                            deleted_at__isnull=True).iterator():
        if not _holds_touched_data(artifact, touched, key_text):
            continue
        if default_storage.exists(artifact.storage_name):
            default_storage.delete(artifact.storage_name)
        with transaction.atomic():
            Artifact.objects.filter(pk=artifact.pk).update(deleted_at=timezone.now())
        count += 1
    return count
