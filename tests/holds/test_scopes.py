"""A legal hold names a scope the data map declares, by the id the datastore uses.

The attack: a hold on free-text "Subject" or "patient" was accepted, and then every erasure in
the tenant failed with `execution_error`. A hold on "027" did not name subject 27.
"""

from __future__ import annotations

import pytest
from django.test import Client

from privacyops.errors import ValidationFailed
from privacyops.execution.runner import run_job_now
from privacyops.holds.models import LegalHold
from privacyops.holds.services import hold_place
from privacyops.jobs.models import JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories
from tests.api.conftest import api_as, assert_error
from tests.demo_store import demo_store

__all__ = ["demo_store"]
HOLDS = "/platform/privacy/holds/"


def _place(store, staff, scope_type: str, scope_id: str) -> LegalHold:
    return hold_place(tenant_id=store.tenant.pk, scope_type=scope_type, scope_id=scope_id,
                      reason="Litigation", actor=factories.actor(staff))


def _erase(store, staff, approver, person: int):
    job = job_create(tenant_id=store.tenant.pk, job_type="ERASE", target_type="subject",
                     target_id=str(person), reason="test", actor=factories.actor(staff))
    job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


class TestScopeType:
    @pytest.mark.parametrize("typed", ["Subject", "patient", "people", "sso_issuers"])
    def test_an_undeclared_scope_type_is_refused_with_the_declared_ones(self, demo_store,
                                                                        staff, typed):
        with pytest.raises(ValidationFailed) as refused:
            _place(demo_store, staff, typed, "27")
        assert refused.value.status == 422
        assert "declares: subject, tenant, issuer." in refused.value.message
        assert not LegalHold.objects.exists()

    def test_the_api_answers_422(self, demo_store, staff):
        response = api_as(staff).post("/holds", {
            "tenant_id": demo_store.tenant.pk, "scope_type": "patient", "scope_id": "27",
            "reason": "Litigation"})
        body = assert_error(response, 422, "invalid")
        assert "subject, tenant, issuer" in body["message"]

    def test_the_page_shows_it_on_the_scope_type_field(self, demo_store, staff):
        client = Client()
        client.force_login(staff)
        response = client.post(HOLDS, {"tenant": demo_store.tenant.pk, "scope_type": "Subject",
                                       "scope_id": "27", "reason": "Litigation"})
        assert response.status_code == 422
        page = response.content.decode()
        assert '<p class="field-error">A legal hold in tenant' in page
        assert "declares: subject, tenant, issuer." in page

    def test_a_hold_placed_before_the_check_blocks_with_a_sentence(self, demo_store, staff,
                                                                   other_staff):
        """Not `execution_error` on every erasure: a legal-hold failure that says what to do."""
        factories.hold_create(tenant=demo_store.tenant, created_by=staff, scope_type="patient",
                              scope_id="27")
        job = _erase(demo_store, staff, other_staff, demo_store.erasable_person())
        assert (job.status, job.error_code) == (JobStatus.FAILED, "legal_hold")
        assert "not one the data map declares" in job.error_message


class TestScopeId:
    @pytest.mark.parametrize("spelling", ["0{}", "+{}", " {} "])
    def test_the_id_is_stored_canonical_and_covers_the_person(self, demo_store, staff,
                                                              other_staff, spelling):
        person = demo_store.erasable_person()
        hold = _place(demo_store, staff, "subject", spelling.format(person))
        assert hold.scope_id == str(person)
        job = _erase(demo_store, staff, other_staff, person)
        assert (job.status, job.error_code, job.blocking_hold_id) == (
            JobStatus.FAILED, "legal_hold", hold.pk)

    def test_a_tenant_hold_names_this_tenant(self, demo_store, staff):
        hold = _place(demo_store, staff, "tenant", demo_store.tenant.slug)
        assert hold.scope_id == factories.tenant_key(demo_store.tenant)
        with pytest.raises(ValidationFailed, match="does not name tenant"):
            _place(demo_store, staff, "tenant", demo_store.other_tenant.slug)


class TestMatchesNoDataToday:
    def test_a_hold_on_data_that_does_not_exist_yet_is_allowed_and_says_so(self, demo_store,
                                                                           staff):
        api = api_as(staff)
        response = api.post("/holds", {"tenant_id": demo_store.tenant.pk,
                                       "scope_type": "subject", "scope_id": "999999",
                                       "reason": "Litigation ahead of the data"})
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["matches_data"], body["data_note"]) == (False, "matches no data today")
        listed = api.get("/holds").json()["items"]
        assert [item["data_note"] for item in listed] == ["matches no data today"]

        client = Client()
        client.force_login(staff)
        assert "matches no data today" in client.get(HOLDS).content.decode()
        detail = client.get(f"{HOLDS}{body['id']}/").content.decode()
        assert "matches no data today" in detail

    def test_a_hold_on_existing_data_says_nothing_of_the_kind(self, demo_store, staff):
        person = demo_store.erasable_person()
        api = api_as(staff)
        response = api.post("/holds", {"tenant_id": demo_store.tenant.pk,
                                       "scope_type": "subject", "scope_id": str(person),
                                       "reason": "Litigation"})
        assert (response.json()["matches_data"], response.json()["data_note"]) == (True, "")
        client = Client()
        client.force_login(staff)
        assert "matches no data today" not in client.get(HOLDS).content.decode()

    def test_the_page_says_so_when_the_hold_is_placed(self, demo_store, staff):
        client = Client()
        client.force_login(staff)
        response = client.post(HOLDS, {"tenant": demo_store.tenant.pk, "scope_type": "issuer",
                                       "scope_id": "424242", "reason": "Litigation"},
                               follow=True)
        assert response.status_code == 200
        assert "It matches no data today" in response.content.decode()
