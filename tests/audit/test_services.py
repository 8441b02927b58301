from __future__ import annotations

import pytest

from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import AuditFilters, audit_events_filtered, audit_verify
from privacyops.audit.services import audit_record
from privacyops.errors import NotFound, PermissionDenied
from privacyops.holds.models import LegalHold
from privacyops.holds.services import hold_place, hold_release
from privacyops.jobs.models import JobStatus
from privacyops.jobs.services import job_approve
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(tenant):
    return factories.user_create(email="owner@example.com", tenant=tenant, role=Role.SUPER_ADMIN)


class TestRefusalsAreRecorded:
    def test_a_hold_placed_by_a_tenant_owner_is_refused_and_recorded(self, tenant, owner):
        with pytest.raises(PermissionDenied, match="Only platform staff place legal holds"):
            hold_place(tenant_id=tenant.pk, scope_type="subject", scope_id="7",
                       reason="Litigation", actor=factories.actor(owner))
        assert not LegalHold.objects.exists()
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome) == ("hold.placed", "failure")
        assert (event.actor_type, event.actor_id, event.actor_label) == (
            "user", str(owner.pk), "owner@example.com")
        assert (event.tenant_id, event.target_type, event.target_id) == (tenant.pk, "subject", "7")
        assert event.metadata["code"] == "forbidden"
        assert audit_verify().ok

    def test_a_refused_approval_shows_in_the_tenant_s_own_log(self, tenant, owner, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with pytest.raises(PermissionDenied, match="Only platform staff approve"):
            job_approve(job_id=job.pk, actor=factories.actor(owner))
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING
        [event] = audit_events_filtered(owner, AuditFilters(outcome="failure"))
        assert (event.action, event.target_id, event.tenant_id) == (
            "job.approved", str(job.pk), tenant.pk)

    def test_a_refused_release_is_recorded_under_the_hold_s_tenant(self, tenant, owner, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        with pytest.raises(PermissionDenied, match="Only platform staff release"):
            hold_release(hold_id=hold.pk, reason="Settled", actor=factories.actor(owner))
        hold.refresh_from_db()
        assert hold.active
        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.tenant_id) == (
            "hold.released", "failure", tenant.pk)

    def test_an_attempt_on_a_missing_job_is_recorded_without_a_tenant(self, staff):
        with pytest.raises(NotFound):
            job_approve(job_id=424242, actor=factories.actor(staff))
        event = AuditEvent.objects.get()
        assert (event.outcome, event.target_id, event.tenant_id) == ("failure", "424242", None)
        assert event.metadata["code"] == "not_found"


class TestAuditRecord:
    def test_recording_outside_a_transaction_is_refused(self):
        with pytest.raises(RuntimeError, match="inside the transaction"):
            audit_record(actor=Actor.system(), action="job.started", tenant_id=None)
        assert not AuditEvent.objects.exists()
