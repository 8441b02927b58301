"""GDPR Art. 9/10 data is marked wherever it passes: dry runs, job results, export packages."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import yaml
from django.conf import settings
from django.test import Client

from privacyops.execution.preview import dry_run_preview
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories


def _declare_health(*, also_custom: bool = False) -> None:
    """The demo's asset requests' justification becomes health data (a sick-leave laptop)."""
    path = Path(settings.DATAMAP_DIR) / "demo.yaml"
    datamap = yaml.safe_load(path.read_text())
    datamap["entities"]["asset_requests"]["fields"]["justification"] = {
        "category": "health", "erase": {"set": ""}}
    if also_custom:
        datamap["categories"] = {"loyalty": {"description": "loyalty tier", "special": True}}
        datamap["entities"]["people"]["fields"]["department"] = {
            "category": "loyalty", "erase": {"set": "erased"}}
    path.write_text(yaml.safe_dump(datamap, sort_keys=False))


def _run(tenant, requester, approver, job_type: str, target_id: int) -> Job:
    job = job_create(tenant_id=tenant.pk, job_type=job_type, target_type="subject",
                     target_id=str(target_id), reason="test", actor=factories.actor(requester))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


class TestSpecialCategories:
    def test_the_demo_map_as_shipped_marks_nothing(self, demo_store, staff, other_staff):
        person = demo_store.erasable_person()

        preview = dry_run_preview(tenant=demo_store.tenant, job_type="ERASE",
                                  target_type="subject", target_id=str(person))
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", person)

        assert preview.special_categories == []
        assert job.result["special_categories"] == {}

    def test_dry_run_and_erase_result_name_the_table_and_category(
            self, demo_store, staff, other_staff):
        _declare_health(also_custom=True)
        person = next(p for (p,) in demo_store.query(
            "SELECT person_id FROM asset_requests WHERE workspace_id = ? ORDER BY person_id",
            int(factories.tenant_key(demo_store.tenant)))
            if p in {demo_store.erasable_person(i) for i in range(20)})

        preview = dry_run_preview(tenant=demo_store.tenant, job_type="ERASE",
                                  target_type="subject", target_id=str(person))
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", person)

        tables = {t.table: t.special_categories for t in preview.tables}
        assert tables["asset_requests"] == ("health",)
        assert tables["people"] == ("loyalty",)
        assert preview.special_categories == ["health", "loyalty"]
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert job.result["special_categories"] == {"asset_requests": ["health"],
                                                    "people": ["loyalty"]}

    def test_the_pages_mark_them(self, demo_store, staff, other_staff):
        _declare_health()
        person = next(p for (p,) in demo_store.query(
            "SELECT person_id FROM asset_requests WHERE workspace_id = ? ORDER BY person_id",
            int(factories.tenant_key(demo_store.tenant)))
            if p in {demo_store.erasable_person(i) for i in range(20)})
        client = Client()
        client.force_login(staff)

        preview = client.get("/platform/privacy/jobs/preview/", {
            "tenant": demo_store.tenant.pk, "type": "ERASE", "target_type": "subject",
            "target_id": str(person)}).content.decode()
        job = _run(demo_store.tenant, staff, other_staff, "ERASE", person)
        detail = client.get(f"/platform/privacy/jobs/{job.pk}/").content.decode()

        line = "Special categories of personal data (GDPR Art. 9/10): health."
        assert line in preview
        assert line in detail

    def test_the_export_manifest_has_a_special_categories_line(
            self, demo_store, staff, other_staff):
        _declare_health()
        person = demo_store.erasable_person()

        job = _run(demo_store.tenant, staff, other_staff, "EXPORT", person)

        assert job.status == JobStatus.COMPLETED, job.error_message
        assert job.result["special_categories"] == ["health"]
        client = Client()
        client.force_login(staff)
        response = client.get(job.result["download_url"])
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["special_categories"] == ["health"]
