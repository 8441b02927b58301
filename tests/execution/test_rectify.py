"""RECTIFY and RESTRICT jobs end to end: the API or the new-job page, a real worker run on the
demo datastore (a SQLite file), the job page, the audit log and the control DB's own file.

Oracles: the datastore read back with plain SQL, the audit table's rows, and the raw bytes of
the control DB file (a canary value must never be there in clear).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from privacyops.audit.models import AuditEvent
from privacyops.execution.runner import run_job_now
from privacyops.holds.services import hold_place
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.models import Tenant
from tests import factories
from tests.api.conftest import api_as, assert_error


def _canary() -> str:
    return f"Canary-{uuid.uuid4().hex[:12]}"


def _person_row(store, person: int) -> tuple:
    return store.query("SELECT name, phone, job_title, email, processing_restricted_at "
                       "FROM people WHERE id = ?", person)[0]


def _control_db_bytes() -> bytes:
    name = Path(connection.settings_dict["NAME"])
    assert name.exists(), f"the control DB is not a file here: {name}"
    return b"".join(p.read_bytes() for p in (name, Path(f"{name}-wal")) if p.exists())


def _audit_text() -> str:
    return json.dumps([[e.action, e.target_id, e.metadata] for e in AuditEvent.objects.all()],
                      ensure_ascii=False)


def _run(job: Job) -> Job:
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


class TestRectify:
    def test_values_change_and_are_kept_only_sealed(self, demo_store, staff):
        person = demo_store.erasable_person()
        old_name, old_phone, _title, email, _ = _person_row(demo_store, person)
        new_name, new_phone = _canary(), "+1-555-" + uuid.uuid4().hex[:8]
        api = api_as(staff)

        created = api.post("/jobs", {"tenant_id": demo_store.tenant.pk, "type": "RECTIFY",
                                     "target_type": "subject", "target_id": str(person),
                                     "changes": {"name": new_name, "phone": new_phone}})

        assert created.status_code == 201, created.content
        body = created.json()
        assert body["status"] == JobStatus.APPROVED  # no approval by default, like EXPORT
        assert body["params"] == {"fields": ["name", "phone"]}
        assert new_name not in created.content.decode()
        job = _run(Job.objects.get(pk=body["id"]))
        assert job.status == JobStatus.COMPLETED, job.error_message
        name, phone, _title, email_after, _ = _person_row(demo_store, person)
        assert (name, phone, email_after) == (new_name, new_phone, email)
        assert job.result["fields_changed"] == ["name", "phone"]

        # The API and the audit log name the fields; no value, new or old, is in clear.
        for answer in (api.get(f"/jobs/{job.pk}"), api.get("/jobs")):
            assert answer.status_code == 200
            for value in (new_name, new_phone, old_name, old_phone):
                assert value not in answer.content.decode()
        audited = _audit_text()
        assert "job.rectified" in audited
        assert '"name", "phone"' in audited
        for value in (new_name, new_phone, old_name, old_phone):
            assert value not in audited
            assert value.encode() not in _control_db_bytes()

        # The job page unseals the old and new values for those who may see the job.
        client = Client()
        client.force_login(staff)
        page = client.get(reverse("platform:job-detail", args=[job.pk])).content.decode()
        assert "Rectification" in page
        for value in (old_name, new_name, old_phone, new_phone):
            assert value in page
        assert job.result["changes_sealed"] not in page

    def test_the_job_page_is_not_shown_to_another_tenants_admin(self, demo_store, staff):
        person = demo_store.erasable_person()
        new_name = _canary()
        job = _run(job_create(tenant_id=demo_store.tenant.pk, job_type="RECTIFY",
                              target_type="subject", target_id=str(person),
                              params={"changes": {"name": new_name}},
                              actor=factories.actor(staff)))
        assert job.status == JobStatus.COMPLETED, job.error_message
        outsider = factories.user_create(tenant=demo_store.other_tenant, role="super-admin")
        client = Client()
        client.force_login(outsider)
        answer = client.get(reverse("platform:job-detail", args=[job.pk]))
        assert answer.status_code == 404
        assert new_name not in answer.content.decode()

    @pytest.mark.parametrize(("changes", "field"), [
        ({"shoe_size": "CANARY"}, "shoe_size"),
        ({"id": 1}, "id"),
        ({"workspace_id": 2}, "workspace_id"),
        ({"erased_at": "CANARY"}, "erased_at"),
        ({"phone": 5550100}, "phone"),
        ({"name": "CANARY" * 60}, "name"),
        ({"name": None}, "name"),
        ({"job_title": "CANARY-ok", "department": ["CANARY"]}, "department"),
    ])
    def test_refused_changes_answer_422_and_write_nothing(self, demo_store, staff, changes,
                                                          field):
        person = demo_store.erasable_person()
        canary = _canary()
        changes = {k: (v.replace("CANARY", canary) if isinstance(v, str) else
                       [canary] if isinstance(v, list) else v) for k, v in changes.items()}
        before = demo_store.query("SELECT * FROM people WHERE id = ?", person)

        answer = api_as(staff).post("/jobs", {
            "tenant_id": demo_store.tenant.pk, "type": "RECTIFY", "target_type": "subject",
            "target_id": str(person), "changes": changes})

        if isinstance(changes.get("department"), list):  # not a plain value: the schema says 422
            assert answer.status_code == 422
        else:
            body = assert_error(answer, 422, "invalid_change")
            assert field in body["message"]
            assert canary not in body["message"]
        assert not Job.objects.exists()
        assert demo_store.query("SELECT * FROM people WHERE id = ?", person) == before
        assert canary not in _audit_text()
        assert canary.encode() not in _control_db_bytes()

    def test_the_new_job_page_creates_a_rectification(self, demo_store, staff):
        person = demo_store.erasable_person()
        new_title = _canary()
        client = Client()
        client.force_login(staff)
        form = {"tenant": demo_store.tenant.pk, "job_type": "RECTIFY", "target_type": "subject",
                "target_id": str(person), "reason": "Art. 16 request",
                "changes": f"job_title: {new_title}\n\ndepartment: Research: Lab 2\n"}

        page = client.get(reverse("platform:job-new")).content.decode()
        assert 'id="field-changes"' in page
        assert ", job_title, department, phone," in page  # the fields it offers
        answer = client.post(reverse("platform:job-new"), form)

        assert answer.status_code == 302, answer.content.decode()[-2000:]
        job = _run(Job.objects.get())
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert demo_store.query("SELECT job_title, department FROM people WHERE id = ?",
                                person)[0] == (new_title, "Research: Lab 2")

        refused = client.post(reverse("platform:job-new"),
                              {**form, "changes": "job_title: x\nlift_everything"})
        assert refused.status_code == 422
        assert "Line 2" in refused.content.decode()
        refused = client.post(reverse("platform:job-new"), {**form, "changes": "id: 5"})
        assert refused.status_code == 422
        assert "primary key" in refused.content.decode()
        assert Job.objects.count() == 1

    def test_a_legal_hold_does_not_block_a_rectification(self, demo_store, staff):
        person = demo_store.erasable_person()
        hold_place(tenant_id=demo_store.tenant.pk, scope_type="subject", scope_id=str(person),
                   reason="Litigation", actor=factories.actor(staff))
        new_name = _canary()
        job = _run(job_create(tenant_id=demo_store.tenant.pk, job_type="RECTIFY",
                              target_type="subject", target_id=str(person),
                              params={"changes": {"name": new_name}},
                              actor=factories.actor(staff)))
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert _person_row(demo_store, person)[0] == new_name

    def test_a_subject_that_does_not_exist(self, demo_store, staff):
        answer = api_as(staff).post("/jobs", {
            "tenant_id": demo_store.tenant.pk, "type": "RECTIFY", "target_type": "subject",
            "target_id": "999999", "changes": {"name": _canary()}})
        assert_error(answer, 422, "unknown_target")

        person = demo_store.erasable_person()
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="RECTIFY",
                         target_type="subject", target_id=str(person),
                         params={"changes": {"name": _canary()}}, actor=factories.actor(staff),
                         enqueue=False)
        demo_store.query("DELETE FROM people WHERE id = ?", person)  # gone before it runs
        job = _run(job)
        assert (job.status, job.error_code) == (JobStatus.FAILED, "target_not_found")

    def test_approval_follows_the_tenants_policy(self, demo_store, staff, other_staff):
        Tenant.objects.filter(pk=demo_store.tenant.pk).update(
            approval_required_types=["ERASE", "PURGE", "RECTIFY"])
        person = demo_store.erasable_person()
        new_name = _canary()
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="RECTIFY",
                         target_type="subject", target_id=str(person),
                         params={"changes": {"name": new_name}}, actor=factories.actor(staff))
        assert job.status == JobStatus.PENDING
        assert _run(job).status == JobStatus.PENDING  # not claimable before approval
        assert _person_row(demo_store, person)[0] != new_name
        job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert _run(job).status == JobStatus.COMPLETED
        assert _person_row(demo_store, person)[0] == new_name


class TestRestrict:
    def test_restrict_sets_the_marker_and_lift_clears_it(self, demo_store, staff):
        person = demo_store.erasable_person()
        neighbour = demo_store.erasable_person(1)

        job = _run(job_create(tenant_id=demo_store.tenant.pk, job_type="RESTRICT",
                              target_type="subject", target_id=str(person),
                              params={"lift": False}, actor=factories.actor(staff)))

        assert job.status == JobStatus.COMPLETED, job.error_message
        stamp = _person_row(demo_store, person)[4]
        assert stamp == job.result["applied_at"].replace("+00:00", "Z")
        assert stamp == job.result["restricted_since"]
        assert _person_row(demo_store, neighbour)[4] is None
        assert job.result["restricted"] is True

        lifted = api_as(staff).post("/jobs", {
            "tenant_id": demo_store.tenant.pk, "type": "RESTRICT", "target_type": "subject",
            "target_id": str(person), "lift": True})
        assert lifted.status_code == 201, lifted.content
        assert lifted.json()["params"] == {"lift": True}
        job = _run(Job.objects.get(pk=lifted.json()["id"]))
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert _person_row(demo_store, person)[4] is None
        actions = list(AuditEvent.objects.filter(action="job.restricted").order_by("seq")
                       .values_list("metadata", flat=True))
        assert [m["lift"] for m in actions] == [False, True]

    def test_refused_when_the_data_map_declares_no_marker(self, demo_store, staff):
        path = Path(settings.DATAMAP_DIR) / "demo.yaml"
        datamap = yaml.safe_load(path.read_text())
        del datamap["subject"]["restriction_marker"]
        path.write_text(yaml.safe_dump(datamap, sort_keys=False))
        person = demo_store.erasable_person()

        answer = api_as(staff).post("/jobs", {
            "tenant_id": demo_store.tenant.pk, "type": "RESTRICT", "target_type": "subject",
            "target_id": str(person)})

        body = assert_error(answer, 422, "no_restriction_marker")
        assert "restriction_marker" in body["message"]
        assert not Job.objects.exists()
        assert _person_row(demo_store, person)[4] is None

    def test_other_job_types_take_no_parameters(self, demo_store, staff):
        answer = api_as(staff).post("/jobs", {
            "tenant_id": demo_store.tenant.pk, "type": "EXPORT", "target_type": "subject",
            "target_id": str(demo_store.erasable_person()), "lift": True})
        assert_error(answer, 422, "invalid")
        assert not Job.objects.exists()


def test_a_demo_datastore_of_an_earlier_version_gains_the_marker_column(demo_store, staff):
    """`privacyops demo` run again keeps an existing demo datastore: it gets the column the
    packaged map now names, so its jobs keep running."""
    from privacyops.execution.demo import write_demo_datamap

    demo_store.query("ALTER TABLE people DROP COLUMN processing_restricted_at")
    write_demo_datamap(demo_store.path)
    columns = [row[1] for row in demo_store.query("PRAGMA table_info(people)")]
    assert "processing_restricted_at" in columns
    person = demo_store.erasable_person()
    job = _run(job_create(tenant_id=demo_store.tenant.pk, job_type="RESTRICT",
                          target_type="subject", target_id=str(person), params={"lift": False},
                          actor=factories.actor(staff)))
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert _person_row(demo_store, person)[4] is not None
