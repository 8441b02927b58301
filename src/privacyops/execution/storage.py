"""Export artifacts in Django storage (local folder by default, S3-compatible at scale).

A package is encrypted into a local temporary file first and handed to storage whole; its
Artifact row is written only afterwards, so a crash never leaves a listed half-written package.
A worker killed between the two leaves a file without a row (or a row its job never
published); the retried attempt of the same job discards both before storing its own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import BinaryIO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from privacyops.execution.crypto import decrypt_stream, encrypt_stream
from privacyops.execution.models import Artifact
from privacyops.execution.packaging import Package
from privacyops.jobs.models import Job


def _job_folder(job: Job) -> str:
    return f"exports/{job.tenant_id}/{job.pk}"


def _discard_earlier_attempts(job: Job) -> None:
    """Remove what killed attempts of this job stored: rows first, then the job's folder.

    Each job has a folder of its own, so this lists one job's files, never a tenant's.
    """
    earlier = list(Artifact.objects.filter(job=job, deleted_at__isnull=True))
    Artifact.objects.filter(pk__in=[a.pk for a in earlier]).update(deleted_at=timezone.now())
    folder = _job_folder(job)
    try:
        _folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{folder}/{name}")


def artifact_store(*, job: Job, package: Package, file_name: str) -> Artifact:
    storage_name = f"{_job_folder(job)}/{package.sha256[:16]}.zip.enc"
    _discard_earlier_attempts(job)
    with tempfile.TemporaryFile() as encrypted:
        with package.path.open("rb") as plain:
            encrypt_stream(settings.ARTIFACT_KEY, plain, encrypted)
        encrypted.seek(0)
        if default_storage.exists(storage_name):
            default_storage.delete(storage_name)
        stored_name = default_storage.save(storage_name, File(encrypted, name=storage_name))
    with transaction.atomic():
        return Artifact.objects.create(
            job=job, tenant_id=job.tenant_id, target_type=job.target_type,
            target_id=job.target_id, storage_name=stored_name, file_name=file_name,
            size=package.size, sha256=package.sha256,
            expires_at=timezone.now() + timedelta(days=settings.DOWNLOAD_LINK_DAYS),
        )


def artifact_chunks(artifact: Artifact) -> Iterator[bytes]:
    """The decrypted package, streamed."""
    with default_storage.open(artifact.storage_name, "rb") as handle:
        yield from decrypt_stream(settings.ARTIFACT_KEY, cast(BinaryIO, handle))


def artifacts_delete_for_target(*, tenant_id: int, target_type: str, target_id: str) -> int:
    """Delete the export packages of an erased or purged target (files first, then mark rows)."""
    artifacts = Artifact.objects.filter(
        tenant_id=tenant_id, deleted_at__isnull=True,
        **({} if target_type == "tenant" else {"target_type": target_type, "target_id": target_id}),
    )
    count = 0
    for artifact in artifacts:
        if default_storage.exists(artifact.storage_name):
            default_storage.delete(artifact.storage_name)
        Artifact.objects.filter(pk=artifact.pk).update(deleted_at=timezone.now())
        count += 1
    return count
