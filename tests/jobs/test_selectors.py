from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from privacyops.errors import NotFound, ValidationFailed
from privacyops.jobs.models import JobStatus
from privacyops.jobs.selectors import job_counts, job_get, jobs_filtered
from privacyops.jobs.services import job_cancel, job_reject
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def jobs(tenant, other_tenant, staff):
    make = factories.job_create
    return {
        "erase": make(tenant=tenant, requested_by=staff, target_id="u-7"),
        "export": make(tenant=tenant, requested_by=staff, job_type="EXPORT",
                       status=JobStatus.COMPLETED, target_id="u-8"),
        "failed": make(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                       target_id="u-7"),
        "other": make(tenant=other_tenant, requested_by=staff, job_type="PURGE",
                      status=JobStatus.APPROVED, target_type="tenant", target_id="u-7"),
    }


def names(jobs, found) -> list[str]:
    by_pk = {job.pk: name for name, job in jobs.items()}
    return [by_pk[job.pk] for job in found]


class TestJobsFiltered:
    def test_staff_see_every_tenant_newest_first(self, jobs, staff):
        assert names(jobs, jobs_filtered(staff)) == ["other", "failed", "export", "erase"]

    @pytest.mark.parametrize(("filters", "expected"), [
        ({"status": "Failed"}, ["failed"]),
        ({"job_type": "export"}, ["export"]),
        ({"search": "globex"}, ["other"]),
        ({"search": " u-7 "}, ["other", "failed", "erase"]),
        ({"status": "Pending", "search": "u-7"}, ["erase"]),
    ], ids=["status", "type-any-case", "tenant-name", "target-id", "combined"])
    def test_filters(self, jobs, staff, filters, expected):
        assert names(jobs, jobs_filtered(staff, **filters)) == expected

    def test_search_by_job_number(self, jobs, staff):
        assert names(jobs, jobs_filtered(staff, search=f"#{jobs['export'].pk}")) == ["export"]

    def test_filter_by_tenant(self, jobs, staff, other_tenant):
        assert names(jobs, jobs_filtered(staff, tenant_id=other_tenant.pk)) == ["other"]

    @pytest.mark.parametrize(("filters", "field"), [
        ({"status": "Done"}, "status"), ({"job_type": "DELETE"}, "type"),
    ])
    def test_unknown_values_are_refused(self, staff, filters, field):
        with pytest.raises(ValidationFailed) as refused:
            jobs_filtered(staff, **filters)
        assert refused.value.details["field"] == field

    def test_a_tenant_admin_sees_only_their_tenant(self, jobs, tenant, other_tenant):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        assert names(jobs, jobs_filtered(admin)) == ["failed", "export", "erase"]
        assert names(jobs, jobs_filtered(admin, tenant_id=other_tenant.pk)) == []
        assert names(jobs, jobs_filtered(admin, search="globex")) == []

    @pytest.mark.parametrize("who", ["member", "anonymous"])
    def test_members_and_anonymous_see_nothing(self, jobs, tenant, who):
        viewer = (AnonymousUser() if who == "anonymous"
                  else factories.user_create(tenant=tenant, role=Role.MEMBER))
        assert names(jobs, jobs_filtered(viewer)) == []

    def test_the_list_costs_one_query_however_long(self, jobs, staff, tenant,
                                                   django_assert_num_queries):
        for n in range(10):
            factories.job_create(tenant=tenant, requested_by=staff, target_id=str(100 + n))
        with django_assert_num_queries(1):
            rows = [(job.tenant.name, job.requested_by.email if job.requested_by else "")
                    for job in jobs_filtered(staff)]
        assert len(rows) == 14


class TestJobGet:
    def test_another_tenant_s_job_looks_missing(self, jobs, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        assert job_get(admin, jobs["erase"].pk) == jobs["erase"]
        with pytest.raises(NotFound) as hidden:
            job_get(admin, jobs["other"].pk)
        with pytest.raises(NotFound) as missing:
            job_get(admin, 999_999)
        assert hidden.value.message == f"Job {jobs['other'].pk} does not exist."
        assert missing.value.message == "Job 999999 does not exist."


def names_of(jobs) -> list[int]:
    return [job.pk for job in jobs]


class TestJobCounts:
    def test_counts_per_status_and_total(self, jobs, staff):
        counts = job_counts(staff)
        assert counts == {"Pending": 1, "Approved": 1, "Processing": 0, "Completed": 1,
                          "Failed": 1, "Rejected": 0, "withdrawn": 0, "total": 4}

    def test_a_withdrawal_is_counted_apart_from_rejections(self, jobs, staff, tenant):
        refused = factories.job_create(tenant=tenant, target_id="r-1")
        job_reject(job_id=refused.pk, reason="Not our data", actor=factories.actor(staff))
        withdrawn = factories.job_create(tenant=tenant, requested_by=staff, target_id="w-1")
        job_cancel(job_id=withdrawn.pk, actor=Actor.system())
        counts = job_counts(staff)
        assert (counts["Rejected"], counts["withdrawn"], counts["total"]) == (1, 1, 6)
        assert names_of(jobs_filtered(staff, status="withdrawn")) == [withdrawn.pk]
        assert names_of(jobs_filtered(staff, status="Rejected", withdrawn=False)) == [refused.pk]

    def test_counts_follow_the_viewer_and_the_tenant(self, jobs, staff, tenant, other_tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        assert job_counts(admin)["total"] == 3
        assert job_counts(admin, tenant_id=other_tenant.pk)["total"] == 0
        assert job_counts(staff, tenant_id=other_tenant.pk)["Approved"] == 1
