"""Operator actions on privacy requests: services against the real database."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from privacyops.intake import services
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job, JobSource, JobStatus
from privacyops.tenancy.models import Role
from tests import factories
from tests.intake.conftest import file_request

pytestmark = pytest.mark.django_db(transaction=True)


def verified_request(client, tenant, request_type: str = "access") -> IntakeRequest:
    request, link = file_request(tenant=tenant, request_type=request_type)
    assert client.get(urlparse(link).path).status_code == 200
    request.refresh_from_db()
    return request


def audited(action: str, request: IntakeRequest, outcome: str = "success") -> AuditEvent:
    event = AuditEvent.objects.get(action=action, target_id=str(request.pk), outcome=outcome)
    assert event.target_type == "intake_request"
    assert request.email not in str(event.metadata)
    return event


class TestLink:
    def test_link_records_the_subject(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        request = services.intake_link(request_id=request.pk, subject_id=" 42 ",
                                       actor=factories.actor(staff))
        assert request.subject_id == "42"
        event = audited("intake.linked", request)
        assert event.metadata["subject_id"] == "42"
        assert event.tenant_id == tenant.pk

    def test_blank_subject_is_refused_and_the_refusal_audited(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        with pytest.raises(ValidationFailed, match="subject id is required"):
            services.intake_link(request_id=request.pk, subject_id="  ",
                                 actor=factories.actor(staff))
        audited("intake.linked", request, outcome="failure")


class TestFulfil:
    @pytest.mark.parametrize(("request_type", "job_type"),
                             [("access", "EXPORT"), ("portability", "EXPORT"),
                              ("erasure", "ERASE")])
    def test_creates_the_job_for_the_linked_subject(self, client, tenant, staff, request_type,
                                                    job_type):
        request = verified_request(client, tenant, request_type)
        actor = factories.actor(staff)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        request = services.intake_fulfil(request_id=request.pk, actor=actor)
        job = Job.objects.get()
        assert (job.job_type, job.target_type, job.target_id) == (job_type, "subject", "42")
        assert job.source == JobSource.INTAKE
        assert job.reason == f"Privacy request R-{request.pk:06d}"
        assert job.tenant_id == tenant.pk
        assert job.request_id == request.pk
        assert [j.pk for j in request.jobs.all()] == [job.pk]
        # In progress until its job completes, not "fulfilled" the moment the job exists.
        assert request.status == RequestStatus.IN_PROGRESS
        event = audited("intake.fulfilled", request)
        assert event.metadata["job_ids"] == [job.pk]
        assert AuditEvent.objects.filter(action="job.created", target_id=str(job.pk)).exists()

    def test_erasure_job_waits_for_approval(self, client, tenant, staff):
        request = verified_request(client, tenant, "erasure")
        actor = factories.actor(staff)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        services.intake_fulfil(request_id=request.pk, actor=actor)
        assert Job.objects.get().status == JobStatus.PENDING

    def test_unverified_request_is_refused_with_what_to_do(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        actor = factories.actor(staff)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        with pytest.raises(Conflict, match="not verified yet: the person must open the link"):
            services.intake_fulfil(request_id=request.pk, actor=actor)
        assert not Job.objects.exists()
        audited("intake.fulfilled", request, outcome="failure")

    def test_unlinked_request_is_refused_with_what_to_do(self, client, tenant, staff):
        request = verified_request(client, tenant)
        with pytest.raises(Conflict, match=r"No data subject of this workspace has the email.*"
                           "find the person"):
            services.intake_fulfil(request_id=request.pk, actor=factories.actor(staff))
        assert not Job.objects.exists()

    def test_correction_waits_for_its_job_type(self, client, tenant, staff):
        request = verified_request(client, tenant, "correction")
        actor = factories.actor(staff)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        request = services.intake_fulfil(request_id=request.pk, actor=actor)
        assert not Job.objects.exists()
        assert request.status == RequestStatus.IN_PROGRESS
        pending = request.events.get(kind="job_type_pending")
        assert pending.data == {"job_type": "RECTIFY"}

    def test_fulfilled_request_cannot_be_fulfilled_twice(self, client, tenant, staff):
        request = verified_request(client, tenant)
        actor = factories.actor(staff)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        services.intake_fulfil(request_id=request.pk, actor=actor)
        with pytest.raises(Conflict, match="already has jobs under way"):
            services.intake_fulfil(request_id=request.pk, actor=actor)
        assert Job.objects.count() == 1

    def test_tenant_admin_cannot_create_an_erasure(self, client, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        request = verified_request(client, tenant, "erasure")
        actor = factories.actor(admin)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        with pytest.raises(PermissionDenied, match="super-admins or platform staff"):
            services.intake_fulfil(request_id=request.pk, actor=actor)
        assert not Job.objects.exists()

    def test_tenant_admin_fulfils_an_export(self, client, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        request = verified_request(client, tenant, "access")
        actor = factories.actor(admin)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        services.intake_fulfil(request_id=request.pk, actor=actor)
        assert Job.objects.get().job_type == "EXPORT"


class TestClose:
    def test_correction_outcome_closes(self, client, tenant, staff):
        request = verified_request(client, tenant, "correction")
        actor = factories.actor(staff)
        services.intake_link(request_id=request.pk, subject_id="42", actor=actor)
        request = services.intake_close(request_id=request.pk,
                                        outcome="Surname corrected in the CRM.", actor=actor)
        assert request.status == RequestStatus.COMPLETED
        assert request.outcome == "Surname corrected in the CRM."
        assert request.closed_by == staff
        event = audited("intake.closed", request)
        assert "Surname" not in str(event.metadata)

    def test_access_request_needs_a_job_instead(self, client, tenant, staff):
        request = verified_request(client, tenant, "access")
        with pytest.raises(Conflict, match="use \"Fulfil\""):
            services.intake_close(request_id=request.pk, outcome="done",
                                  actor=factories.actor(staff))

    def test_restriction_needs_verification_and_a_subject(self, tenant, staff):
        request, _ = file_request(tenant=tenant, request_type="restriction")
        with pytest.raises(Conflict, match="not verified"):
            services.intake_close(request_id=request.pk, outcome="done",
                                  actor=factories.actor(staff))


class TestReject:
    def test_reject_emails_the_reason_and_the_complaint_right(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        mail.outbox.clear()
        request = services.intake_reject(
            request_id=request.pk, reason="We hold no data about this address.",
            actor=factories.actor(staff))
        assert request.status == RequestStatus.REJECTED
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["ada@example.com"]
        assert "We hold no data about this address." in message.body
        assert "lodge a complaint with a supervisory authority" in message.body
        assert "Article 12(4)" in message.body
        event = audited("intake.rejected", request)
        assert event.metadata["reason"] == "We hold no data about this address."

    def test_reason_is_required(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        mail.outbox.clear()
        with pytest.raises(ValidationFailed, match="reason is required"):
            services.intake_reject(request_id=request.pk, reason=" ",
                                   actor=factories.actor(staff))
        assert not mail.outbox
        request.refresh_from_db()
        assert request.status == RequestStatus.RECEIVED


class TestExtend:
    def test_extension_moves_the_deadline_and_emails_the_submitter(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        mail.outbox.clear()
        new = (request.deadline_at + timedelta(days=30)).date()
        request = services.intake_extend(
            request_id=request.pk, new_deadline=new, reason="Data spread over many systems.",
            actor=factories.actor(staff))
        assert timezone.localtime(request.deadline_at).date() == new
        assert request.original_deadline_at < request.deadline_at
        assert len(mail.outbox) == 1
        body = mail.outbox[0].body
        assert f"{request.deadline_at:%d %B %Y}" in body
        assert "Data spread over many systems." in body
        event = audited("intake.extended", request)
        assert event.metadata["reason"] == "Data spread over many systems."

    def test_exactly_two_months_is_allowed(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        latest = services.add_months(timezone.localtime(request.original_deadline_at), 2)
        request = services.intake_extend(request_id=request.pk, new_deadline=latest.date(),
                                         reason="Complex.", actor=factories.actor(staff))
        assert request.deadline_at == latest

    def test_beyond_two_months_is_refused(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        mail.outbox.clear()
        latest = services.add_months(timezone.localtime(request.original_deadline_at), 2)
        with pytest.raises(ValidationFailed, match=r"at most two further months.*"
                           f"{latest:%d %B %Y}"):
            services.intake_extend(request_id=request.pk,
                                   new_deadline=latest.date() + timedelta(days=1),
                                   reason="Complex.", actor=factories.actor(staff))
        assert not mail.outbox
        audited("intake.extended", request, outcome="failure")

    def test_the_deadline_is_extended_once_only(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        actor = factories.actor(staff)
        first = (request.deadline_at + timedelta(days=10)).date()
        services.intake_extend(request_id=request.pk, new_deadline=first, reason="A.",
                               actor=actor)
        mail.outbox.clear()
        with pytest.raises(Conflict, match=r"already extended on .* allows one extension") as refused:
            services.intake_extend(request_id=request.pk,
                                   new_deadline=first + timedelta(days=5), reason="B.",
                                   actor=actor)
        assert refused.value.status == 409
        assert not mail.outbox
        request.refresh_from_db()
        assert timezone.localtime(request.deadline_at).date() == first

    def test_earlier_date_is_refused(self, tenant, staff):
        request, _ = file_request(tenant=tenant)
        with pytest.raises(ValidationFailed, match="must be after the current one"):
            services.intake_extend(request_id=request.pk, new_deadline=timezone.localdate(),
                                   reason="A.", actor=factories.actor(staff))

    def test_add_months_clamps_to_the_month_end(self):
        moment = timezone.make_aware(timezone.datetime(2026, 12, 31, 9, 0))
        assert services.add_months(moment, 2).date() == date(2027, 2, 28)


class TestOperatorScope:
    def test_member_is_refused(self, tenant):
        member = factories.user_create(tenant=tenant, role=Role.MEMBER)
        request, _ = file_request(tenant=tenant)
        with pytest.raises(PermissionDenied):
            services.intake_link(request_id=request.pk, subject_id="42",
                                 actor=factories.actor(member))

    def test_admin_of_another_workspace_gets_not_found(self, tenant, other_tenant):
        outsider = factories.user_create(tenant=other_tenant, role=Role.SUPER_ADMIN)
        request, _ = file_request(tenant=tenant)
        with pytest.raises(NotFound):
            services.intake_reject(request_id=request.pk, reason="x",
                                   actor=factories.actor(outsider))
        request.refresh_from_db()
        assert request.status == RequestStatus.RECEIVED
