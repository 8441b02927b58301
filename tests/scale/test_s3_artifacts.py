"""Export artifacts on S3-compatible storage (moto's S3 server), written by a real worker."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import boto3
import pytest
from django.test import Client

from privacyops.config import artifact_storage
from privacyops.execution.models import Artifact
from privacyops.jobs.models import JobStatus
from privacyops.jobs.services import job_create
from tests import factories
from tests.scale.conftest import S3Server, process_env, run_worker_batch


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch, settings) -> dict[str, str]:
    """A fresh private bucket; this process and the worker both store artifacts in it."""
    bucket = f"privacyops-{uuid.uuid4().hex[:12]}"
    _client(s3_server).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": s3_server.region})
    env = {
        "PRIVACYOPS_S3_BUCKET": bucket,
        "PRIVACYOPS_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "PRIVACYOPS_S3_ACCESS_KEY_ID": s3_server.access_key_id,
        "PRIVACYOPS_S3_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        "PRIVACYOPS_S3_REGION": s3_server.region,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES,
                         "default": artifact_storage(settings.DATA_DIR / "artifacts")}
    return env


def _client(server: S3Server):
    return boto3.client(
        "s3", endpoint_url=server.endpoint_url, region_name=server.region,
        aws_access_key_id=server.access_key_id, aws_secret_access_key=server.secret_access_key,
    )


class TestArtifactsOnS3:
    def test_export_lands_encrypted_in_the_bucket_and_downloads_as_a_zip(
        self, demo_store, staff, s3_server, s3_env, settings,
    ):
        person = demo_store.erasable_person()
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=str(person),
                         actor=factories.actor(staff))

        finished = run_worker_batch(process_env(**s3_env, PRIVACYOPS_TASKS_BACKEND="db"))

        assert finished.returncode == 0, finished.stderr
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        artifact = Artifact.objects.get(job=job)
        stored = _client(s3_server).get_object(Bucket=s3_env["PRIVACYOPS_S3_BUCKET"],
                                               Key=artifact.storage_name)["Body"].read()
        assert stored.startswith(b"POX1"), "the object must be encrypted at rest"
        assert b"PK\x03\x04" not in stored[:64]
        assert not (settings.DATA_DIR / "artifacts" / artifact.storage_name).exists()

        client = Client()
        client.force_login(staff)
        response = client.get(job.result["download_url"])

        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        assert archive.testzip() is None
        assert {"export.json", "manifest.json", "data_subject.csv"} <= set(archive.namelist())
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert json.loads(archive.read("export.json"))["data_subject"][0]["email"] == email

    def test_erasing_the_subject_deletes_its_export_from_the_bucket(
        self, demo_store, staff, s3_server, s3_env,
    ):
        person = str(demo_store.erasable_person())
        export = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                            target_type="subject", target_id=person,
                            actor=factories.actor(staff))
        env = process_env(**s3_env, PRIVACYOPS_TASKS_BACKEND="db")
        assert run_worker_batch(env).returncode == 0
        key = Artifact.objects.get(job=export).storage_name
        bucket = s3_env["PRIVACYOPS_S3_BUCKET"]
        assert _client(s3_server).list_objects_v2(Bucket=bucket)["KeyCount"] == 1

        erase = job_create(tenant_id=demo_store.tenant.pk, job_type="ERASE",
                           target_type="subject", target_id=person,
                           actor=factories.actor(staff), approval_required=False)
        assert run_worker_batch(env).returncode == 0

        erase.refresh_from_db()
        assert erase.status == JobStatus.COMPLETED, erase.error_message
        assert erase.result["export_artifacts_deleted"] == 1
        listing = _client(s3_server).list_objects_v2(Bucket=bucket)
        assert key not in [item["Key"] for item in listing.get("Contents", [])]
