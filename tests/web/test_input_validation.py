"""Ids and reasons with control characters or bidi overrides are refused with a sentence, in
the API (422), on the pages (a form error) and on the GDPR screen; line breaks in a reason
are kept."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from privacyops.errors import ValidationFailed
from privacyops.holds.models import LegalHold
from privacyops.jobs.models import Job
from privacyops.validation import clean_identifier, clean_text, parse_id
from tests import factories
from tests.workspace.demo_store import acme, demo_store, demo_template, globex, people

__all__ = ["acme", "demo_store", "demo_template", "globex", "people"]

pytestmark = pytest.mark.django_db

RLO = "\u202e"
REFUSED_IDS = [f"12{RLO}3", "1\r\n2", "1\t2", "1\x00", "7\u2066", "\x1b[31m1"]


class TestRules:
    @pytest.mark.parametrize("value", REFUSED_IDS)
    def test_ids_with_hidden_characters_are_refused(self, value):
        with pytest.raises(ValidationFailed, match="invisible control character"):
            clean_identifier(value, field="target_id", what="target id")

    def test_plain_ids_pass_stripped(self):
        assert clean_identifier("  erased-user-7@erased.local ", field="x", what="id") == (
            "erased-user-7@erased.local")

    def test_reasons_keep_line_breaks_but_not_bidi(self):
        assert clean_text("Art. 17\r\nsecond line\tend", field="reason", what="reason",
                          limit=100) == "Art. 17\r\nsecond line\tend"
        with pytest.raises(ValidationFailed, match="U\\+202E"):
            clean_text(f"ok {RLO}txt.exe", field="reason", what="reason", limit=100)

    @pytest.mark.parametrize("value", ["abc", "9" * 25, "-1", "0", "", "٢٧"])
    def test_ids_out_of_range_are_refused(self, value):
        with pytest.raises(ValidationFailed, match="whole number"):
            parse_id(value, field="job_id", what="job id")


@pytest.fixture
def staff_client(acme):
    client = Client()
    client.force_login(factories.user_create(is_staff=True))
    return client


class TestApi:
    @pytest.mark.parametrize("field", ["target_id", "reason"])
    def test_job_with_a_bidi_override_is_refused(self, staff_client, acme, field):
        body = {"tenant_id": acme.pk, "type": "EXPORT", "target_type": "subject",
                "target_id": "1", "reason": "Art. 15", field: f"1{RLO}2"}
        response = staff_client.post("/api/v1/jobs", json.dumps(body),
                                     content_type="application/json")
        assert response.status_code == 422, response.content
        assert "invisible control character" in response.json()["message"]
        assert not Job.objects.exists()

    def test_hold_with_crlf_in_its_scope_id_is_refused(self, staff_client, acme):
        body = {"tenant_id": acme.pk, "scope_type": "subject", "scope_id": "1\r\n2",
                "reason": "Litigation"}
        response = staff_client.post("/api/v1/holds", json.dumps(body),
                                     content_type="application/json")
        assert response.status_code == 422
        assert "invisible control character" in response.json()["message"]
        assert not LegalHold.objects.exists()

    def test_hold_reason_over_several_lines_is_kept(self, staff_client, acme):
        body = {"tenant_id": acme.pk, "scope_type": "subject", "scope_id": "1",
                "reason": "Case 12\nfiled 2031-01-02"}
        response = staff_client.post("/api/v1/holds", json.dumps(body),
                                     content_type="application/json")
        assert response.status_code == 201, response.content
        assert LegalHold.objects.get().reason == "Case 12\nfiled 2031-01-02"


class TestPages:
    def test_new_job_form_shows_the_sentence(self, staff_client, acme):
        response = staff_client.post("/platform/privacy/jobs/new/", {
            "tenant": acme.pk, "job_type": "EXPORT", "target_type": "subject",
            "target_id": f"1{RLO}2", "reason": "Art. 15"})
        assert response.status_code == 422
        assert "invisible control character" in response.content.decode()
        assert not Job.objects.exists()

    def test_gdpr_erase_refuses_a_bidi_subject_id(self, acme, people):
        admin = factories.user_create(tenant=acme, role="super-admin")
        client = Client()
        client.force_login(admin)
        response = client.post(f"/workspace/acme/gdpr/subjects/1{RLO}/erase/",
                               {"confirmation_email": "x@example.com", "reason": "Art. 17"},
                               HTTP_HX_REQUEST="true", HTTP_HX_TARGET="erase-error")
        assert response.status_code == 422
        assert "invisible control character" in response.content.decode()

    def test_gdpr_erase_refuses_a_bidi_reason(self, acme, people):
        admin = factories.user_create(tenant=acme, role="super-admin")
        person = people.first(holds_assets=False)
        client = Client()
        client.force_login(admin)
        response = client.post(f"/workspace/acme/gdpr/subjects/{person.id}/erase/",
                               {"confirmation_email": person.email,
                                "reason": f"asked {RLO}by phone"},
                               HTTP_HX_REQUEST="true", HTTP_HX_TARGET="erase-error")
        assert response.status_code == 422
        assert "invisible control character" in response.content.decode()
        assert people.get(person.id).email == person.email

    def test_gdpr_screen_bad_page_link_is_a_sentence(self, staff_client, acme):
        response = staff_client.get("/workspace/acme/gdpr/", {"after": "abc"})
        assert response.status_code == 422
        assert "This page link is not valid" in response.content.decode()


@pytest.mark.django_db(transaction=True)
class TestIntakeQueue:
    def test_linking_a_request_to_a_bidi_subject_id_is_refused(self, acme):
        from privacyops.intake.services import intake_link, intake_reject
        from tests.intake.conftest import file_request

        staff = factories.user_create(is_staff=True)
        request, _ = file_request(tenant=acme)
        with pytest.raises(ValidationFailed, match="invisible control character"):
            intake_link(request_id=request.pk, subject_id=f"4{RLO}2",
                        actor=factories.actor(staff))
        with pytest.raises(ValidationFailed, match="invisible control character"):
            intake_reject(request_id=request.pk, reason=f"spam {RLO}",
                          actor=factories.actor(staff))
        request.refresh_from_db()
        assert (request.subject_id, request.status, request.rejection_reason) == ("", "received", "")
