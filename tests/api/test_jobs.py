from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.models import Role
from tests import factories
from tests.api.conftest import api_as, assert_error

pytestmark = pytest.mark.django_db


def _create_body(tenant, **overrides):
    return {"tenant_id": tenant.pk, "type": "ERASE", "target_type": "subject",
            "target_id": "subject-7", "reason": "Art. 17 request", **overrides}


class TestCreateJob:
    def test_erase_starts_pending_and_is_audited_as_the_token(self, staff_api, tenant, staff):
        response = staff_api.post("/jobs", _create_body(tenant))
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "Pending"
        assert body["type"] == "ERASE"
        assert body["requires_approval"] is True
        assert body["tenant_name"] == "Acme Corp"
        assert body["source"] == "api"
        job = Job.objects.get(pk=body["id"])
        assert job.requested_by == staff
        event = AuditEvent.objects.get(action="job.created", outcome="success")
        assert event.actor_type == "api_token"
        assert event.actor_id.startswith(f"{staff.pk}:po_")

    def test_export_is_approved_at_once(self, staff_api, tenant):
        response = staff_api.post("/jobs", _create_body(tenant, type="EXPORT"))
        assert response.status_code == 201
        assert response.json()["status"] == "Approved"

    def test_unknown_type_names_the_field(self, staff_api, tenant):
        body = assert_error(staff_api.post("/jobs", _create_body(tenant, type="DELETE")), 422,
                            "invalid")
        assert body["message"].startswith("type:")
        assert not Job.objects.exists()

    def test_missing_target_id_names_the_field(self, staff_api, tenant):
        payload = _create_body(tenant)
        del payload["target_id"]
        body = assert_error(staff_api.post("/jobs", payload), 422, "invalid")
        assert body["message"].startswith("target_id:")
        assert body["details"]["errors"][0]["field"] == "target_id"

    def test_target_type_outside_the_data_map_is_refused(self, staff_api, tenant):
        body = assert_error(staff_api.post("/jobs", _create_body(tenant, target_type="planet")),
                            422, "invalid")
        assert "Unknown target type 'planet'" in body["message"]
        assert body["details"]["field"] == "target_type"

    def test_missing_tenant_is_not_found(self, staff_api):
        body = assert_error(staff_api.post("/jobs", {"tenant_id": 999999, "type": "EXPORT",
                                                     "target_type": "subject",
                                                     "target_id": "1"}), 404, "not_found")
        assert "999999" in body["message"]

    def test_body_that_is_not_json_is_refused(self, staff_api):
        response = staff_api.client.post("/api/v1/jobs", "not json", content_type="application/json",
                                         headers=staff_api.headers)
        assert_error(response, 400, "bad_request")

    def test_admin_may_not_erase(self, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        body = assert_error(api_as(admin).post("/jobs", _create_body(tenant)), 403, "forbidden")
        assert "Your role does not allow" in body["message"]
        assert AuditEvent.objects.get(action="job.created").outcome == "failure"

    def test_another_tenant_looks_missing_to_a_tenant_admin(self, tenant, other_tenant):
        admin = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        response = api_as(admin).post("/jobs", _create_body(other_tenant, type="EXPORT"))
        assert_error(response, 404, "not_found")
        assert not Job.objects.exists()


class TestListJobs:
    @pytest.fixture
    def jobs(self, tenant, other_tenant, staff):
        return {
            "pending_erase": factories.job_create(tenant=tenant, requested_by=staff,
                                                  target_id="alice"),
            "failed_export": factories.job_create(tenant=tenant, requested_by=staff,
                                                  job_type="EXPORT", status=JobStatus.FAILED,
                                                  target_id="bob"),
            "other_purge": factories.job_create(tenant=other_tenant, requested_by=staff,
                                                job_type="PURGE", target_type="tenant",
                                                target_id="globex"),
        }

    @staticmethod
    def _ids(response):
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    def test_lists_every_tenant_for_staff_newest_first(self, staff_api, jobs):
        response = staff_api.get("/jobs")
        items = response.json()["items"]
        assert [item["id"] for item in items] == sorted((j.pk for j in jobs.values()), reverse=True)
        assert response.json()["count"] == 3
        assert response.json()["next_cursor"] is None

    @pytest.mark.parametrize(("params", "expected"), [
        ({"status": "Failed"}, {"failed_export"}),
        ({"type": "PURGE"}, {"other_purge"}),
        ({"search": "glob"}, {"other_purge"}),
        ({"search": "alice"}, {"pending_erase"}),
        ({"status": "Pending", "type": "ERASE"}, {"pending_erase"}),
    ])
    def test_filters(self, staff_api, jobs, params, expected):
        assert self._ids(staff_api.get("/jobs", **params)) == {jobs[name].pk for name in expected}

    def test_search_by_job_id(self, staff_api, jobs):
        job = jobs["failed_export"]
        assert self._ids(staff_api.get("/jobs", search=f"#{job.pk}")) == {job.pk}

    def test_filter_by_tenant(self, staff_api, jobs, other_tenant):
        assert self._ids(staff_api.get("/jobs", tenant_id=other_tenant.pk)) == {
            jobs["other_purge"].pk}

    def test_a_tenant_admin_sees_only_their_tenant(self, jobs, tenant, other_tenant):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        api = api_as(admin)
        assert self._ids(api.get("/jobs")) == {jobs["pending_erase"].pk, jobs["failed_export"].pk}
        assert self._ids(api.get("/jobs", tenant_id=other_tenant.pk)) == set()

    def test_unknown_status_names_the_field(self, staff_api):
        body = assert_error(staff_api.get("/jobs", status="Done"), 422, "invalid")
        assert body["message"].startswith("status:")

    def test_limit_above_the_maximum_is_refused(self, staff_api):
        body = assert_error(staff_api.get("/jobs", limit=1000), 422, "invalid")
        assert body["message"].startswith("limit:")

    def test_cursor_pages_through_every_job_once(self, staff_api, tenant, staff):
        created = {factories.job_create(tenant=tenant, requested_by=staff, target_id=str(n)).pk
                   for n in range(7)}
        # Same creation time for some rows: the id breaks the tie.
        Job.objects.filter(pk__in=sorted(created)[:3]).update(created_at=timezone.now())
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            page = staff_api.get("/jobs", limit=3, cursor=cursor).json()
            assert page["count"] == 7
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(created)
        assert len(seen) == len(set(seen))

    def test_offset_paging(self, staff_api, tenant, staff):
        for n in range(5):
            job = factories.job_create(tenant=tenant, requested_by=staff, target_id=str(n))
            Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=n))
        first = staff_api.get("/jobs", limit=2).json()["items"]
        second = staff_api.get("/jobs", limit=2, offset=2).json()
        assert [i["target_id"] for i in first] == ["0", "1"]
        assert [i["target_id"] for i in second["items"]] == ["2", "3"]
        assert second["next_cursor"] is not None

    def test_a_malformed_cursor_is_refused(self, staff_api):
        body = assert_error(staff_api.get("/jobs", cursor="bm90LWEtY3Vyc29y"), 422, "invalid")
        assert body["message"].startswith("cursor:")

    def test_offset_counts_from_the_cursor(self, staff_api, tenant, staff):
        ids = [factories.job_create(tenant=tenant, requested_by=staff).pk for _ in range(4)]
        cursor = staff_api.get("/jobs", limit=1).json()["next_cursor"]
        page = staff_api.get("/jobs", cursor=cursor, offset=1, limit=1).json()
        assert [item["id"] for item in page["items"]] == [ids[1]]


class TestGetJob:
    def test_returns_the_job(self, staff_api, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   error_code="legal_hold", error_message="Held: litigation")
        body = staff_api.get(f"/jobs/{job.pk}").json()
        assert body["id"] == job.pk
        assert body["error_code"] == "legal_hold"
        assert body["requested_by"] == "staff@example.com"

    def test_missing_job(self, staff_api):
        assert_error(staff_api.get("/jobs/424242"), 404, "not_found")

    def test_id_that_is_not_a_number(self, staff_api):
        body = assert_error(staff_api.get("/jobs/abc"), 422, "invalid")
        assert body["message"].startswith("job_id:")


class TestApproveRejectRetry:
    def test_approve(self, other_staff_api, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        response = other_staff_api.post(f"/jobs/{job.pk}/approve")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "Approved"
        assert response.json()["approved_by"] == other_staff.email
        event = AuditEvent.objects.get(action="job.approved")
        assert event.actor_type == "api_token"

    def test_nobody_approves_their_own_request(self, staff_api, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        body = assert_error(staff_api.post(f"/jobs/{job.pk}/approve"), 403, "forbidden")
        assert "another approver" in body["message"]

    def test_only_pending_jobs_are_approved(self, other_staff_api, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.COMPLETED)
        body = assert_error(other_staff_api.post(f"/jobs/{job.pk}/approve"), 409,
                            "invalid_transition")
        assert "is Completed" in body["message"]

    def test_approve_missing_job(self, staff_api):
        assert_error(staff_api.post("/jobs/31337/approve"), 404, "not_found")

    def test_reject_notifies_the_requester(self, other_staff_api, tenant, staff, mailoutbox,
                                           django_capture_on_commit_callbacks):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with django_capture_on_commit_callbacks(execute=True):
            response = other_staff_api.post(f"/jobs/{job.pk}/reject",
                                            {"reason": "Identity not verified"})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "Rejected"
        assert response.json()["rejection_reason"] == "Identity not verified"
        assert [m.to for m in mailoutbox] == [["staff@example.com"]]

    def test_reject_needs_a_reason(self, other_staff_api, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        body = assert_error(other_staff_api.post(f"/jobs/{job.pk}/reject", {"reason": "  "}),
                            422, "invalid")
        assert body["message"].startswith("reason:")
        body = assert_error(other_staff_api.post(f"/jobs/{job.pk}/reject", {}), 422, "invalid")
        assert body["message"].startswith("reason:")
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING

    def test_retry_sends_a_failed_job_back(self, staff_api, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   error_code="precondition", attempts=3)
        response = staff_api.post(f"/jobs/{job.pk}/retry")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "Approved"
        assert response.json()["error_code"] == ""

    def test_retry_of_a_pending_job_conflicts(self, staff_api, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        assert_error(staff_api.post(f"/jobs/{job.pk}/retry"), 409, "invalid_transition")

    def test_super_admin_approves_when_the_tenant_allows_it(self, tenant, staff):
        tenant.super_admins_can_approve = True
        tenant.save()
        owner = factories.user_create(tenant=tenant, role=Role.SUPER_ADMIN)
        job = factories.job_create(tenant=tenant, requested_by=staff)
        assert api_as(owner).post(f"/jobs/{job.pk}/approve").status_code == 200


class TestCounts:
    def test_counts_by_status(self, staff_api, tenant, other_tenant, staff):
        factories.job_create(tenant=tenant, requested_by=staff)
        factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED)
        factories.job_create(tenant=other_tenant, requested_by=staff)
        body = staff_api.get("/jobs/counts").json()
        assert body["total"] == 3
        assert body["by_status"]["Pending"] == 2
        assert body["by_status"]["Failed"] == 1
        assert body["by_status"]["Completed"] == 0
        assert staff_api.get("/jobs/counts", tenant_id=other_tenant.pk).json()["total"] == 1
