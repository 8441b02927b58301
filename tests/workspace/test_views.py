"""The workspace GDPR screen through the Django test client, on a real demo datastore."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobSource, JobStatus
from privacyops.tenancy.models import Role
from tests import factories
from tests.workspace.demo_store import must_match

pytestmark = pytest.mark.django_db(transaction=True)


def gdpr_url(slug: str = "acme") -> str:
    return reverse("workspace:gdpr", kwargs={"slug": slug})


def export_url(subject_id: object) -> str:
    return reverse("workspace:gdpr-export", kwargs={"slug": "acme", "subject_id": subject_id})


def erase_url(subject_id: object) -> str:
    return reverse("workspace:gdpr-erase", kwargs={"slug": "acme", "subject_id": subject_id})


def signed_in(client, tenant, role, email=None):
    user = factories.user_create(email=email, tenant=tenant, role=role)
    client.force_login(user)
    return user


class TestAccess:
    @pytest.mark.parametrize("role", [Role.ADMIN, Role.IT_ADMIN, Role.SUPER_ADMIN])
    def test_admin_roles_open_the_screen(self, client, acme, role):
        signed_in(client, acme, role)
        response = client.get(gdpr_url())
        assert response.status_code == 200
        body = response.content.decode()
        for article in ("Article 15", "Article 20", "Article 17"):
            assert article in body

    def test_platform_staff_open_the_screen(self, client, acme):
        client.force_login(factories.user_create(is_staff=True))
        assert client.get(gdpr_url()).status_code == 200

    def test_member_is_refused(self, client, acme):
        signed_in(client, acme, Role.MEMBER)
        assert client.get(gdpr_url()).status_code == 403

    def test_another_tenant_reads_as_missing(self, client, acme, globex):
        signed_in(client, globex, Role.SUPER_ADMIN)
        assert client.get(gdpr_url("acme")).status_code == 404

    def test_anonymous_is_sent_to_sign_in(self, client, acme):
        response = client.get(gdpr_url())
        assert response.status_code == 302
        assert "/login/" in response["Location"]


class TestList:
    def test_rows_show_every_display_field(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        body = client.get(gdpr_url()).content.decode()
        person = people.all()[0]
        for value in (person.name, person.email, person.employee_id, person.job_title,
                      person.department, person.status.title()):
            assert value in body
        never = next(p for p in people.all()[:50] if p.last_login is None)
        row = must_match(rf'id="subject-{never.id}".*?</tr>', body, re.S).group(0)
        assert "Never" in row
        logged_in = next(p for p in people.all()[:50] if p.last_login)
        row = must_match(rf'id="subject-{logged_in.id}".*?</tr>', body, re.S).group(0)
        assert re.search(r"\d+ (minute|hour|day|week|month|year)s? ago", row)
        # The id that the job and hold forms ask for is shown beside the person.
        assert f"subject id {person.id}</span>" in must_match(
            rf'id="subject-{person.id}".*?</tr>', body, re.S).group(0)

    @pytest.mark.parametrize("field", ["email", "name", "employee_id"])
    def test_search_by_each_field(self, client, acme, people, field):
        signed_in(client, acme, Role.ADMIN)
        person = people.all()[60]
        response = client.get(gdpr_url(), {"q": getattr(person, field)})
        body = response.content.decode()
        assert f'id="subject-{person.id}"' in body
        assert body.count('class="gdpr-row') < 5

    def test_live_search_answers_the_list_only(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        person = people.all()[3]
        response = client.get(gdpr_url(), {"q": person.email},
                              HTTP_HX_REQUEST="true", HTTP_HX_TARGET="subjects")
        body = response.content.decode()
        assert body.lstrip().startswith('<section id="subjects"')
        assert person.email in body
        assert "<html" not in body

    def test_search_without_match_explains_what_it_matches(self, client, acme):
        signed_in(client, acme, Role.ADMIN)
        body = client.get(gdpr_url(), {"q": "nobody@nowhere.invalid"}).content.decode()
        assert "Search matches email, name and employee ID" in body

    def test_keyset_pages_continue_after_the_last_id(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        first = client.get(gdpr_url()).content.decode()
        ids = [int(i) for i in re.findall(r'data-subject-id="(\d+)"', first)]
        assert len(ids) == 50
        next_link = must_match(r'href="\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
        assert f"after={ids[-1]}" in next_link
        second = client.get(gdpr_url() + "?" + next_link).content.decode()
        second_ids = [int(i) for i in re.findall(r'data-subject-id="(\d+)"', second)]
        everyone = [p.id for p in people.all()]
        assert second_ids == everyone[50:100]
        assert f"{len(everyone)} people · page 2 of {-(-len(everyone) // 50)}" in second

    def test_sorted_by_name_pages_by_number_over_the_count(self, client, acme, people):
        """The oracle: the people table read straight from the datastore, sorted here."""
        signed_in(client, acme, Role.ADMIN)
        rows = people.raw("SELECT id, name FROM people WHERE workspace_id = 1")
        expected = [str(i) for i, _name in sorted(rows, key=lambda r: (str(r[1]).lower(), r[0]))]
        shown: list[str] = []
        number = 1
        while True:
            body = client.get(gdpr_url(), {"sort": "name", "page": number}).content.decode()
            assert f"{len(rows)} people · page {number} of {-(-len(rows) // 50)}" in body
            shown += re.findall(r'data-subject-id="(\d+)"', body)
            if 'rel="next"' not in body:
                break
            number += 1
        assert shown == expected
        assert 'aria-sort="ascending"' in body

    def test_sorted_descending_by_last_login_never_signed_in_first(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        rows = people.raw("SELECT id, last_login_at FROM people WHERE workspace_id = 1")
        never = sorted((i for i, at in rows if at is None), reverse=True)
        signed = sorted(((str(at), i) for i, at in rows if at is not None), reverse=True)
        expected = [str(i) for i in never] + [str(i) for _at, i in signed]
        body = client.get(gdpr_url(), {"sort": "-last_login"}).content.decode()
        assert re.findall(r'data-subject-id="(\d+)"', body) == expected[:50]
        assert 'aria-sort="descending"' in body

    def test_a_search_is_counted_and_keeps_the_order(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        rows = people.raw("SELECT id, job_title FROM people WHERE workspace_id = 1 "
                          "AND lower(email) LIKE '%a%'")
        body = client.get(gdpr_url(), {"q": "a", "sort": "-employment"}).content.decode()
        assert f"{len(rows)} people match “a”" in body
        expected = [str(i) for _t, i in sorted(((str(t or "").lower(), i) for i, t in rows),
                                                reverse=True)]
        assert re.findall(r'data-subject-id="(\d+)"', body)[:10] == expected[:10]

    def test_other_tenants_people_are_not_listed(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        other = people.raw("SELECT email FROM people WHERE workspace_id = 2 LIMIT 1")
        assert other
        body = client.get(gdpr_url(), {"q": other[0][0]}).content.decode()
        assert 'class="gdpr-row' not in body


class TestExport:
    def test_admin_downloads_the_json_file(self, client, acme, people):
        admin = signed_in(client, acme, Role.IT_ADMIN)
        person = people.first(holds_assets=True)
        response = client.post(export_url(person.id))
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        assert re.fullmatch(
            rf'attachment; filename="gdpr-export-{person.id}-\d{{8}}-\d{{6}}\.json"', disposition)
        document = json.loads(b"".join(response.streaming_content))
        assert document["exported_by"] == admin.email
        assert document["exported_at"]
        assert list(document)[2:] == ["data_subject", "hardware_assignments",
                                      "software_assignments", "asset_requests", "activity"]
        assert document["data_subject"][0]["email"] == person.email
        assert len(document["hardware_assignments"]) >= person.active_hardware
        assert len(document["activity"]) <= 1000

    def test_export_is_a_completed_job_and_an_audit_event(self, client, acme, people):
        admin = signed_in(client, acme, Role.ADMIN)
        person = people.all()[5]
        response = client.post(export_url(person.id))
        document = json.loads(b"".join(response.streaming_content))
        job = Job.objects.get(job_type="EXPORT", target_id=str(person.id))
        assert job.status == JobStatus.COMPLETED
        assert job.source == JobSource.GDPR_SCREEN
        assert job.requested_by == admin
        assert job.result is not None
        assert job.result["sections"]["activity"] == len(document["activity"])
        event = AuditEvent.objects.get(action="gdpr.export")
        assert (event.outcome, event.actor_label, event.target_id) == (
            "success", admin.email, str(person.id))

    def test_member_cannot_export(self, client, acme, people):
        signed_in(client, acme, Role.MEMBER)
        assert client.post(export_url(people.all()[5].id)).status_code == 403
        assert not Job.objects.exists()

    def test_unknown_subject_is_not_found(self, client, acme):
        signed_in(client, acme, Role.ADMIN)
        assert client.post(export_url(999999)).status_code == 404
        assert AuditEvent.objects.filter(action="gdpr.export", outcome="failure").exists()


class TestErase:
    def erase(self, client, person, *, confirmation=None, reason="Art. 17 request by email",
              htmx=True):
        headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"erase-error-{person.id}"} \
            if htmx else {}
        return client.post(erase_url(person.id), {
            "confirmation_email": person.email if confirmation is None else confirmation,
            "reason": reason,
        }, **headers)

    def refused(self, response, status, sentence):
        assert response.status_code == status
        assert sentence in html.unescape(response.content.decode())
        assert not Job.objects.filter(job_type="ERASE").exists()
        event = AuditEvent.objects.filter(action="gdpr.erase").get()
        assert event.outcome == "failure"

    def test_not_a_super_admin_is_a_permission_error(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        person = people.erasable(1)[0]
        self.refused(self.erase(client, person), 403, "Erasure is super-admin only")

    def test_target_super_admin_is_refused(self, client, acme, people):
        signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        target = people.first(role="super-admin")
        self.refused(self.erase(client, target), 409, "Demote the account first")

    def test_own_account_is_refused(self, client, acme, people):
        person = people.erasable(1)[0]
        signed_in(client, acme, Role.SUPER_ADMIN, email=person.email)
        self.refused(self.erase(client, person), 409, "You can't erase yourself here")

    def test_active_assignments_are_refused_with_counts(self, client, acme, people):
        signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        person = people.first(holds_assets=True)
        response = self.erase(client, person)
        body = response.content.decode()
        self.refused(response, 409, "Recover and revoke via offboarding, then retry")
        if person.active_hardware:
            assert f"still holds {person.active_hardware} hardware assignment(s)" in body
        if person.active_software:
            assert f"still holds {person.active_software} active software" in body

    def test_active_legal_hold_is_refused_naming_it(self, client, acme, people):
        user = signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        person = people.erasable(1)[0]
        hold = factories.hold_create(tenant=acme, created_by=user, scope_id=str(person.id),
                                     reason="Tribunal case 2026-7")
        self.refused(self.erase(client, person), 409,
                     f"legal hold #{hold.pk} on subject {person.id} (Tribunal case 2026-7)")

    def test_confirmation_mismatch_is_refused(self, client, acme, people):
        signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        person = people.erasable(1)[0]
        self.refused(self.erase(client, person, confirmation=person.email.upper()), 409,
                     "Retype the person's exact current email")

    @pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
    def test_reason_is_required_and_bounded(self, client, acme, people, reason):
        signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        person = people.erasable(1)[0]
        response = self.erase(client, person, reason=reason)
        assert response.status_code == 422
        assert not Job.objects.exists()

    def test_refusal_without_htmx_comes_back_as_a_message(self, client, acme, people):
        signed_in(client, acme, Role.ADMIN)
        response = self.erase(client, people.erasable(1)[0], htmx=False)
        assert response.status_code == 303
        page = client.get(response["Location"]).content.decode()
        assert "Erasure is super-admin only" in page

    def test_successful_erasure(self, client, acme, people):
        user = signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        person = people.erasable(1)[0]
        response = self.erase(client, person, reason="Request received by post on 7 June")
        assert response.status_code == 200
        new_email = f"erased-user-{person.id}@erased.local"
        assert response["HX-Redirect"].endswith(f"?q=erased-user-{person.id}%40erased.local")
        page = client.get(response["HX-Redirect"]).content.decode()
        assert "msg-success" in page
        assert new_email in page
        row = must_match(rf'<tr id="subject-{person.id}".*?</tr>', page, re.S).group(0)
        assert "is-erased" in row
        assert "badge-erased" in row
        assert ">Erased<" in row
        assert "Erase data" not in row
        assert "Export JSON" in row
        assert people.get(person.id).email == new_email
        job = Job.objects.get(job_type="ERASE")
        assert (job.status, job.source, job.requires_approval, job.requested_by) == (
            JobStatus.COMPLETED, JobSource.GDPR_SCREEN, False, user)
        event = AuditEvent.objects.get(action="gdpr.erase")
        assert event.outcome == "success"
        assert event.metadata["reason"] == "Request received by post on 7 June"
        assert event.metadata["job_id"] == job.pk

    def test_erased_person_stays_listed_and_is_found_by_their_new_email(self, client, acme,
                                                                         people):
        signed_in(client, acme, Role.SUPER_ADMIN, email="owner@example.com")
        person = people.erasable(1)[0]
        self.erase(client, person)
        page = client.get(gdpr_url()).content.decode()
        assert f'id="subject-{person.id}"' in page
        again = self.erase(client, people.get(person.id))
        assert again.status_code == 409
        assert "already erased" in again.content.decode()
