"""Jobs by identity through the API, end to end on two real SQLite systems of one tenant."""

from __future__ import annotations

import io
import json
import zipfile

from django.test import Client

from privacyops.execution.models import JobStep
from privacyops.execution.runner import run_job_now
from privacyops.holds.services import hold_place
from privacyops.jobs.models import Job
from tests import factories
from tests.api.conftest import api_as, assert_error
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]


def _create(api, tenant, email, job_type="EXPORT", **extra):
    response = api.post("/jobs", {"tenant_id": tenant.pk, "type": job_type,
                                   "target_type": "subject", "identity": {"email": email},
                                   "reason": "Art. 15/17 request", **extra})
    assert response.status_code == 201, response.content
    return response.json()


def _run(api, approver_api, body):
    if body["status"] == "Pending":
        assert approver_api.post(f"/jobs/{body['id']}/approve").status_code == 200
    run_job_now(body["id"])
    return api.get(f"/jobs/{body['id']}").json()


def _steps(body):
    return {step["system"]: step for step in body["steps"]}


class TestExportByIdentity:
    def test_one_package_with_a_folder_per_system(self, multi_store, staff, other_staff):
        api = api_as(staff)
        person_id, email = multi_store.person()
        body = _create(api, multi_store.tenant, email.upper())
        assert body["identity"] == {"email": email.lower()}
        assert body["target_id"] == ""
        assert {s["system"]: s["status"] for s in body["steps"]} == {
            "demo": "pending", "helpdesk": "pending"}
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed", done["error_message"]
        steps = _steps(done)
        assert steps["demo"]["status"] == steps["helpdesk"]["status"] == "completed"
        tickets = multi_store.desk(
            "SELECT COUNT(*) FROM tickets t JOIN requesters r ON r.id = t.requester_id "
            "WHERE r.email = ?", email)[0][0]
        assert tickets == 2
        client = Client()
        client.force_login(staff)
        response = client.get(done["result"]["download_url"])
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        names = set(archive.namelist())
        assert {"export.json", "manifest.json", "demo/export.json", "demo/counts.json",
                "helpdesk/export.json", "helpdesk/tickets.csv",
                "helpdesk/ticket_messages.csv"} <= names
        top = json.loads(archive.read("export.json"))
        assert top["systems"]["demo"]["data_subject"][0]["id"] == person_id
        assert top["systems"]["helpdesk"]["requester"][0]["email"] == email
        assert len(top["systems"]["helpdesk"]["tickets"]) == tickets
        manifest = json.loads(archive.read("manifest.json"))
        assert {f["name"] for f in manifest["files"]} == names - {"manifest.json"}
        assert manifest["systems"]["helpdesk"]["tickets"] == tickets

    def test_an_email_nobody_has_is_no_data_everywhere(self, multi_store, staff, other_staff):
        api = api_as(staff)
        body = _create(api, multi_store.tenant, "nobody@example.org")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed"
        assert {s["status"] for s in done["steps"]} == {"no_data"}

    def test_only_the_systems_named(self, multi_store, staff, other_staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        body = _create(api, multi_store.tenant, email, systems=["helpdesk"])
        assert [s["system"] for s in body["steps"]] == ["helpdesk"]
        assert _run(api, api_as(other_staff), body)["status"] == "Completed"

    def test_unknown_system_and_both_targets_are_refused(self, multi_store, staff):
        api = api_as(staff)
        response = api.post("/jobs", {"tenant_id": multi_store.tenant.pk, "type": "EXPORT",
                                      "target_type": "subject", "identity": {"email": "a@x.org"},
                                      "systems": ["crm"]})
        assert "crm" in assert_error(response, 422, "invalid")["message"]
        response = api.post("/jobs", {"tenant_id": multi_store.tenant.pk, "type": "EXPORT",
                                      "target_type": "subject", "target_id": "1",
                                      "identity": {"email": "a@x.org"}})
        assert response.status_code == 422
        response = api.post("/jobs", {"tenant_id": multi_store.tenant.pk, "type": "EXPORT",
                                      "target_type": "subject", "identity": {"shoe": "42"}})
        assert "shoe" in assert_error(response, 422, "invalid")["message"]


class TestEraseByIdentity:
    def test_both_systems_erased_and_verified(self, multi_store, staff, other_staff):
        api = api_as(staff)
        person_id, email = multi_store.person()
        requester = multi_store.requester_of(email)
        body = _create(api, multi_store.tenant, email, job_type="ERASE")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed", done["error_message"]
        steps = _steps(done)
        assert steps["demo"]["verified"]
        assert steps["helpdesk"]["verified"]
        assert steps["helpdesk"]["rows"] == 1 + 2 + 4  # requester, 2 tickets, 4 messages
        assert multi_store.app("SELECT email, name FROM people WHERE id = ?", person_id) == [
            (f"erased-user-{person_id}@erased.local", "Erased user")]
        assert multi_store.desk("SELECT email, name FROM requesters WHERE id = ?", requester) == [
            (f"erased-requester-{requester}@erased.local", "Erased requester")]
        assert multi_store.desk("SELECT COUNT(*) FROM ticket_messages WHERE author_email = ?",
                                email) == [(0,)]
        assert multi_store.desk("SELECT COUNT(*) FROM tickets WHERE body LIKE ?",
                                f"%{email}%") == [(0,)]
        receipt = api.get(f"/jobs/{body['id']}/receipt")
        assert receipt.status_code == 200

    def test_a_hold_in_one_system_blocks_every_system(self, multi_store, staff, other_staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        requester = multi_store.requester_of(email)
        # Held in the helpdesk only (a subject hold names a key; the workspace app's subject
        # with the same number is someone else, or nobody).
        hold_place(tenant_id=multi_store.tenant.pk, scope_type="identity",
                   scope_id=f"email {email.upper()}", reason="Tribunal case",
                   actor=factories.actor(staff))
        before = multi_store.table_bytes()
        body = _create(api, multi_store.tenant, email, job_type="ERASE")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Failed"
        assert done["error_code"] == "legal_hold"
        assert "Nothing was written" in done["error_message"]
        assert multi_store.table_bytes() == before
        assert requester

    def test_a_subject_hold_in_the_second_system_blocks_the_first_too(
            self, multi_store, staff, other_staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        requester = multi_store.requester_of(email)
        # A hold on the helpdesk's requester key: checked with the helpdesk's data map.
        factories.hold_create(tenant=multi_store.tenant, created_by=staff,
                              scope_type="subject", scope_id=str(requester))
        before = multi_store.table_bytes()
        body = _create(api, multi_store.tenant, email, job_type="ERASE")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Failed"
        assert done["error_code"] == "legal_hold"
        assert multi_store.table_bytes() == before
        assert any(s["status"] == "blocked" for s in done["steps"])

    def test_several_matches_refuse_until_a_pick(self, multi_store, staff, other_staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        requester = multi_store.requester_of(email)
        multi_store.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
                         "VALUES (99999, ?, ?, 'Second account', '2026-01-01')",
                         multi_store.key, email.upper())
        before = multi_store.table_bytes()
        body = _create(api, multi_store.tenant, email, job_type="ERASE")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Failed"
        assert "2 subjects match" in done["error_message"]
        assert _steps(done)["helpdesk"]["matches"] == 2
        assert multi_store.table_bytes() == before
        picked = api.post(f"/jobs/{body['id']}/steps/helpdesk/pick", {"target_id": "12345678"})
        assert_error(picked, 422, "invalid")
        picked = api.post(f"/jobs/{body['id']}/steps/helpdesk/pick", {"target_id": "99999"})
        assert picked.status_code == 200, picked.content
        assert api.post(f"/jobs/{body['id']}/retry").status_code == 200
        run_job_now(body["id"])
        done = api.get(f"/jobs/{body['id']}").json()
        assert done["status"] == "Completed", done["error_message"]
        assert multi_store.desk("SELECT name FROM requesters WHERE id = 99999") == [
            ("Erased requester",)]
        # The other account was not picked: untouched.
        assert multi_store.desk("SELECT email FROM requesters WHERE id = ?", requester) == [
            (email,)]

    def test_picks_in_the_create_payload(self, multi_store, staff, other_staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        multi_store.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
                         "VALUES (99999, ?, ?, 'Second account', '2026-01-01')",
                         multi_store.key, email)
        body = _create(api, multi_store.tenant, email, job_type="ERASE",
                       picks={"helpdesk": "99999"})
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed", done["error_message"]


class TestIsolation:
    def test_another_tenants_job_and_step_look_missing(self, multi_store, staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        body = _create(api, multi_store.tenant, email, job_type="ERASE")
        other_admin = factories.user_create(tenant=multi_store.demo.other_tenant,
                                            role="admin")
        outsider = api_as(other_admin)
        assert_error(outsider.post(f"/jobs/{body['id']}/steps/helpdesk/pick",
                                   {"target_id": "1"}), 404, "not_found")
        assert_error(outsider.get(f"/jobs/{body['id']}"), 404, "not_found")
        assert JobStep.objects.filter(job_id=body["id"], picked_key="").count() == 2

    def test_an_admin_of_the_tenant_may_see_but_not_pick(self, multi_store, staff):
        api = api_as(staff)
        _person_id, email = multi_store.person()
        body = _create(api, multi_store.tenant, email, job_type="ERASE")
        auditor = factories.user_create(tenant=multi_store.tenant, role="admin")
        assert_error(api_as(auditor).post(f"/jobs/{body['id']}/steps/helpdesk/pick",
                                          {"target_id": "1"}), 403, "forbidden")
        assert Job.objects.get(pk=body["id"]).steps.filter(picked_key="").count() == 2
