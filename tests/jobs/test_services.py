from __future__ import annotations

import pytest
from django.core import mail

from privacyops.audit.models import AuditEvent
from privacyops.errors import InvalidTransition, PermissionDenied, ValidationFailed
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create, job_reject, job_retry
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


class TestJobCreate:
    def test_erase_waits_for_approval_by_default(self, tenant, staff):
        job = job_create(tenant_id=tenant.pk, job_type="ERASE", target_type="subject",
                         target_id="7", reason="Art. 17 request", actor=factories.actor(staff))
        assert job.status == JobStatus.PENDING
        assert job.requires_approval
        event = AuditEvent.objects.get(action="job.created")
        assert event.target_id == str(job.pk)
        assert event.tenant_id == tenant.pk

    def test_export_is_approved_at_once(self, tenant, staff):
        job = job_create(tenant_id=tenant.pk, job_type="EXPORT", target_type="subject",
                         target_id="7", actor=factories.actor(staff))
        assert job.status == JobStatus.APPROVED
        assert not job.requires_approval

    def test_unknown_target_type_is_refused_and_recorded(self, tenant, staff):
        with pytest.raises(ValidationFailed, match="Unknown target type"):
            job_create(tenant_id=tenant.pk, job_type="ERASE", target_type="planet",
                       target_id="7", actor=factories.actor(staff))
        assert not Job.objects.exists()
        assert AuditEvent.objects.get(action="job.created").outcome == "failure"


class TestJobApproveReject:
    def test_approve_moves_pending_to_approved(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job = job_approve(job_id=job.pk, actor=factories.actor(other_staff))
        assert job.status == JobStatus.APPROVED
        assert job.approved_by == other_staff

    def test_self_approval_is_refused(self, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(PermissionDenied, match="another approver"):
            job_approve(job_id=job.pk, actor=factories.actor(staff))
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING

    def test_reject_without_reason_is_refused(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(ValidationFailed, match="reason is required"):
            job_reject(job_id=job.pk, reason="  ", actor=factories.actor(other_staff))
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING

    def test_reject_emails_the_requester(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        job_reject(job_id=job.pk, reason="No verified identity", actor=factories.actor(other_staff))
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["staff@example.com"]
        assert "No verified identity" in mail.outbox[0].body

    @pytest.mark.parametrize("status", [JobStatus.APPROVED, JobStatus.PROCESSING,
                                        JobStatus.COMPLETED, JobStatus.FAILED,
                                        JobStatus.REJECTED])
    def test_only_pending_jobs_can_be_approved(self, tenant, staff, other_staff, status):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=status)
        with pytest.raises(InvalidTransition, match=f"is {status}"):
            job_approve(job_id=job.pk, actor=factories.actor(other_staff))

    def test_retry_sends_a_failed_job_back_to_approved(self, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   error_code="legal_hold", attempts=3)
        job = job_retry(job_id=job.pk, actor=factories.actor(staff))
        assert job.status == JobStatus.APPROVED
        assert job.attempts == 0
        assert job.error_code == ""
