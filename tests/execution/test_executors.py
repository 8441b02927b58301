"""EXPORT, ERASE and PURGE jobs run end to end against a real SQLite datastore."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile

from django.core.files.storage import default_storage
from django.test import Client

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import Artifact
from privacyops.execution.preview import dry_run_preview
from privacyops.execution.runner import run_job_now
from privacyops.holds.services import hold_place
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories


def _run(tenant, requester, approver, job_type, target_id, target_type="subject") -> Job:
    job = job_create(tenant_id=tenant.pk, job_type=job_type, target_type=target_type,
                     target_id=str(target_id), reason="test", actor=factories.actor(requester))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


class TestExport:
    def test_package_holds_every_section_and_downloads_for_staff(self, demo_store, staff,
                                                                 other_staff):
        person = demo_store.erasable_person()
        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", person)
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert set(job.result["sections"]) == {
            "data_subject", "hardware_assignments", "software_assignments", "asset_requests",
            "activity"}
        client = Client()
        client.force_login(staff)
        response = client.get(job.result["download_url"])
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        names = set(archive.namelist())
        assert {"export.json", "manifest.json", "data_subject.csv", "activity.csv"} <= names
        document = json.loads(archive.read("export.json"))
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert document["data_subject"][0]["email"] == email
        activity = demo_store.query(
            "SELECT COUNT(*) FROM activity_log WHERE actor_id = ? OR subject_id = ?",
            person, person)[0][0]
        assert len(document["activity"]) == min(activity, 1000)
        manifest = json.loads(archive.read("manifest.json"))
        assert {f["name"] for f in manifest["files"]} == names - {"manifest.json"}
        assert AuditEvent.objects.filter(action="job.downloaded").count() == 1

    def test_stored_package_is_encrypted(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()
        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", person)
        artifact = Artifact.objects.get(job=job)
        raw = default_storage.open(artifact.storage_name).read()
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert not raw.startswith(b"PK")
        assert email.encode() not in raw

    def test_a_package_is_listed_only_when_its_job_completes(self, demo_store, staff,
                                                            other_staff):
        from privacyops.execution.executors import run_export
        from privacyops.jobs.services import job_claim, job_complete

        person = demo_store.erasable_person()
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=str(person), reason="test",
                         actor=factories.actor(staff))
        claimed = job_claim(job_id=job.pk, worker_id="worker-1")
        finished = run_export(claimed, "worker-1")
        # The file is stored, its row waits for the completion.
        assert not Artifact.objects.filter(job=job).exists()
        # Another worker took the job over: this one's completion is refused, nothing listed.
        Job.objects.filter(pk=job.pk).update(lease_owner="worker-2")
        assert not job_complete(job_id=job.pk, worker_id="worker-1", result=finished.result,
                                on_completed=finished.on_completed)
        assert not Artifact.objects.filter(job=job).exists()
        Job.objects.filter(pk=job.pk).update(lease_owner="worker-1")
        assert job_complete(job_id=job.pk, worker_id="worker-1", result=finished.result,
                            on_completed=finished.on_completed)
        assert Artifact.objects.filter(job=job).count() == 1
        assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
        client = Client()
        client.force_login(staff)
        response = client.get(finished.result["download_url"])
        assert response.status_code == 200
        assert "export.json" in zipfile.ZipFile(
            io.BytesIO(b"".join(response.streaming_content))).namelist()

    def test_other_tenant_admin_cannot_download(self, demo_store, staff, other_staff):
        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", demo_store.erasable_person())
        outsider = factories.user_create(tenant=demo_store.other_tenant, role="admin")
        client = Client()
        client.force_login(outsider)
        assert client.get(job.result["download_url"]).status_code == 404

    def test_tampered_link_is_refused(self, demo_store, staff, other_staff):
        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", demo_store.erasable_person())
        client = Client()
        client.force_login(staff)
        assert client.get(job.result["download_url"].replace(":", "x", 1)).status_code == 404

    def test_unknown_subject_fails_with_a_sentence(self, demo_store, staff, other_staff):
        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", 999999)
        assert job.status == JobStatus.FAILED
        assert job.error_code == "target_not_found"


class TestErase:
    def test_erase_pseudonymises_and_deletes_exports(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()
        _run(demo_store.tenant, staff, other_staff, "EXPORT", person)
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", person)
        assert job.status == JobStatus.COMPLETED, job.error_message
        email, status, erased = demo_store.query(
            "SELECT email, employment_status, erased_at FROM people WHERE id = ?", person)[0]
        assert email == f"erased-user-{person}@erased.local"
        assert status == "offboarded"
        assert erased is not None
        assert job.result["export_artifacts_deleted"] == 1
        assert not Artifact.objects.filter(deleted_at__isnull=True).exists()

    def test_second_erase_changes_nothing_more(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()
        _run(demo_store.tenant, staff, other_staff, "ERASE", person)
        again = _run(demo_store.tenant, staff, other_staff, "ERASE", person)
        assert again.status == JobStatus.COMPLETED
        assert again.result["rows_changed"] == 0

    def test_legal_hold_blocks_and_is_linked(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()
        hold = hold_place(tenant_id=demo_store.tenant.pk, scope_type="subject",
                          scope_id=str(person), reason="Tribunal", actor=factories.actor(staff))
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", person)
        assert job.status == JobStatus.FAILED
        assert job.error_code == "legal_hold"
        assert job.blocking_hold_id == hold.pk
        assert f"legal hold #{hold.pk}" in job.error_message
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert not email.startswith("erased-user-")

    def test_active_assignments_refuse_with_counts(self, demo_store, staff, other_staff):
        busy = demo_store.query(
            "SELECT person_id, COUNT(*) FROM hardware_assignments WHERE returned_at IS NULL "
            "AND workspace_id = ? GROUP BY person_id ORDER BY person_id LIMIT 1",
            int(factories.tenant_key(demo_store.tenant)))[0]
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", busy[0])
        assert job.status == JobStatus.FAILED
        assert job.error_code == "precondition"
        assert f"{busy[1]} hardware assignment" in job.error_message

    def test_dry_run_reports_and_writes_nothing(self, demo_store):
        person = demo_store.erasable_person()
        before = demo_store.query("SELECT * FROM people WHERE id = ?", person)
        preview = dry_run_preview(tenant=demo_store.tenant, job_type="ERASE",
                                  target_type="subject", target_id=str(person))
        assert preview.blocked is None
        assert {t.table for t in preview.tables} >= {"people"}
        assert "email" in next(t for t in preview.tables if t.table == "people").columns
        assert demo_store.query("SELECT * FROM people WHERE id = ?", person) == before


class TestPurge:
    def test_purge_of_a_subject_removes_its_rows_only(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()
        people_before = demo_store.query("SELECT COUNT(*) FROM people")[0][0]
        job = _run(demo_store.tenant, staff, other_staff, "PURGE", person)
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert demo_store.query("SELECT COUNT(*) FROM people WHERE id = ?", person)[0][0] == 0
        assert demo_store.query(
            "SELECT COUNT(*) FROM activity_log WHERE actor_id = ? OR subject_id = ?",
            person, person)[0][0] == 0
        assert demo_store.query("SELECT COUNT(*) FROM people")[0][0] == people_before - 1
        assert job.progress["done"] == job.progress["total"] == job.result["rows_deleted"]

    def test_hold_placed_during_a_tenant_purge_stops_it(self, demo_store, staff, other_staff,
                                                        settings):
        settings.PURGE_CHUNK_ROWS = 5
        tenant = demo_store.tenant
        key = int(factories.tenant_key(tenant))
        job = job_create(tenant_id=tenant.pk, job_type="PURGE", target_type="tenant",
                         target_id=factories.tenant_key(tenant), actor=factories.actor(staff))
        job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        runner = threading.Thread(target=run_job_now, args=(job.pk,))
        runner.start()
        deadline = time.monotonic() + 30
        while Job.objects.get(pk=job.pk).progress.get("done", 0) == 0:
            assert time.monotonic() < deadline, "the purge never reported progress"
            time.sleep(0.01)
        hold_place(tenant_id=tenant.pk, scope_type="tenant", scope_id=factories.tenant_key(tenant),
                   reason="Regulator inquiry", actor=factories.actor(staff))
        counts_at_hold = demo_store.query(
            "SELECT (SELECT COUNT(*) FROM activity_log WHERE workspace_id = ?) + "
            "(SELECT COUNT(*) FROM people WHERE workspace_id = ?)", key, key)[0][0]
        runner.join(60)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert job.error_code == "legal_hold"
        counts_after = demo_store.query(
            "SELECT (SELECT COUNT(*) FROM activity_log WHERE workspace_id = ?) + "
            "(SELECT COUNT(*) FROM people WHERE workspace_id = ?)", key, key)[0][0]
        assert counts_after == counts_at_hold
        assert counts_after > 0
        other = int(factories.tenant_key(demo_store.other_tenant))
        assert demo_store.query("SELECT COUNT(*) FROM people WHERE workspace_id = ?",
                                other)[0][0] > 0

