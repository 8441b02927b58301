"""A job by identity on three systems of one tenant, end to end through the API: the demo
workspace app and helpdesk (real SQLite files) and a CRM reachable only over HTTP (a fake
service on a real HTTP server on 127.0.0.1, whose stored records are the oracle)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from privacyops.execution.models import JobStep
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job
from tests.api.conftest import api_as
from tests.api.test_multi_system_jobs import _create, _run, _steps
from tests.execution.multi_store import demo_store, multi_store
from tests.http_crm import crm_down, crm_fake, write_crm_map

__all__ = ["crm_fake", "demo_store", "multi_store"]


@pytest.fixture
def three(multi_store, crm_fake, staff, settings):
    """The tenant of `multi_store` with a third system, `crm`, registered through the API;
    the CRM holds a contact (c1, two notes) for the workspace app's first erasable person."""
    write_crm_map(Path(settings.DATAMAP_DIR))
    added = api_as(staff).post(f"/tenants/{multi_store.tenant.pk}/systems",
                               {"name": "crm", "connector_type": "http", "datamap_name": "crm"})
    assert added.status_code == 201, added.content
    _person_id, email = multi_store.person()
    crm_fake.contacts = {
        "c1": {"id": "c1", "email": email, "name": "Contact Person", "phone": "+33 1 23",
               "profile": {"city": "Lyon", "language": "fr"}, "health_note": "asthma",
               "created_at": "2024-01-02"},
        "c9": {"id": "c9", "email": "someone.else@example.net", "name": "Someone Else",
               "phone": None, "profile": {"city": "Nice"}, "health_note": None,
               "created_at": "2024-03-04"},
    }
    crm_fake.notes = {
        "n1": {"id": "n1", "contact_id": "c1", "body": "asked about renewal", "author": "s-7"},
        "n2": {"id": "n2", "contact_id": "c1", "body": "called back", "author": "s-7"},
        "n9": {"id": "n9", "contact_id": "c9", "body": "other person", "author": "s-2"},
    }
    return multi_store


class TestThreeSystems:
    def test_export_has_a_crm_folder_with_the_crm_records(self, three, crm_fake, staff,
                                                         other_staff):
        api = api_as(staff)
        _person_id, email = three.person()
        body = _create(api, three.tenant, email)
        assert {s["system"] for s in body["steps"]} == {"demo", "helpdesk", "crm"}
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed", done["error_message"]
        assert {s["system"]: s["status"] for s in done["steps"]} == {
            "demo": "completed", "helpdesk": "completed", "crm": "completed"}
        client = Client()
        client.force_login(staff)
        response = client.get(done["result"]["download_url"])
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        names = set(archive.namelist())
        crm_files = sorted(n for n in names if n.startswith("crm/"))
        assert crm_files, names
        crm_text = "".join(archive.read(n).decode() for n in crm_files)
        for value in (email, "Contact Person", "asked about renewal", "called back"):
            assert value in crm_text
        for value in ("Someone Else", "other person"):  # another person's records
            assert value not in crm_text
        top = json.loads(archive.read("export.json"))
        assert "crm" in top["systems"]
        # Nothing was written to the CRM by an export.
        assert crm_fake.requests_to("PATCH", "/") == []

    def test_erase_masks_the_crm_records_and_verifies(self, three, crm_fake, staff,
                                                     other_staff):
        api = api_as(staff)
        person_id, email = three.person()
        requester = three.requester_of(email)
        body = _create(api, three.tenant, email, job_type="ERASE")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed", done["error_message"]
        steps = _steps(done)
        assert steps["crm"]["status"] == "completed"
        assert steps["crm"]["verified"] is True
        assert steps["demo"]["verified"]
        assert steps["helpdesk"]["verified"]
        contact = crm_fake.contacts["c1"]
        assert contact["email"] == "erased-c1@erased.local"
        assert contact["name"] == "Erased contact"
        assert contact["profile"]["city"] is None
        assert contact["health_note"] is None
        assert [crm_fake.notes[n]["body"] for n in ("n1", "n2")] == ["", ""]
        assert crm_fake.contacts["c9"]["email"] == "someone.else@example.net"
        assert crm_fake.notes["n9"]["body"] == "other person"
        assert three.app("SELECT name FROM people WHERE id = ?", person_id) == [
            ("Erased user",)]
        assert three.desk("SELECT name FROM requesters WHERE id = ?", requester) == [
            ("Erased requester",)]

    def test_a_crm_without_the_person_is_no_data(self, three, crm_fake, staff, other_staff):
        api = api_as(staff)
        _person_id, email = three.person(1)  # not in the CRM
        body = _create(api, three.tenant, email, job_type="ERASE")
        done = _run(api, api_as(other_staff), body)
        assert done["status"] == "Completed", done["error_message"]
        steps = _steps(done)
        assert steps["crm"]["status"] == "no_data"
        assert steps["demo"]["status"] == steps["helpdesk"]["status"] == "completed"
        assert crm_fake.requests_to("PATCH", "/") == []


class TestCrmDownMidJob:
    def test_only_the_crm_step_is_retried_and_the_job_completes(self, three, crm_fake, staff,
                                                               other_staff):
        api = api_as(staff)
        person_id, email = three.person()
        crm_down(crm_fake)
        body = _create(api, three.tenant, email, job_type="ERASE")
        first = _run(api, api_as(other_staff), body)
        assert first["status"] == "Processing", first
        steps = _steps(first)
        assert steps["crm"]["status"] == "failed"
        assert "503" in steps["crm"]["error_message"]
        assert steps["demo"]["status"] == steps["helpdesk"]["status"] == "completed"
        # The SQL systems are erased already; the CRM untouched, and asked again on each try.
        assert three.app("SELECT name FROM people WHERE id = ?", person_id) == [
            ("Erased user",)]
        assert crm_fake.contacts["c1"]["email"] == email
        assert len(crm_fake.requests_to("GET", "/api/contacts")) >= 2
        before = {s.system_name: (s.attempts, s.rows, s.finished_at)
                  for s in JobStep.objects.filter(job_id=body["id"])}

        crm_fake.before = None  # the service is back
        run_job_now(body["id"])
        done = api.get(f"/jobs/{body['id']}").json()
        assert done["status"] == "Completed", done["error_message"]
        after = {s.system_name: s for s in JobStep.objects.filter(job_id=body["id"])}
        for name in ("demo", "helpdesk"):  # not run again
            assert (after[name].attempts, after[name].rows, after[name].finished_at) == (
                before[name])
            assert after[name].attempts == 1
        assert after["crm"].status == "completed"
        assert after["crm"].verified
        # The first try stopped at finding the contact (nothing sent): one erase run, each
        # record written once.
        assert after["crm"].attempts == 1
        assert len(crm_fake.requests_to("PATCH", "/")) == 3
        assert Job.objects.get(pk=body["id"]).attempts == 2
        assert crm_fake.contacts["c1"]["email"] == "erased-c1@erased.local"
        assert crm_fake.notes["n1"]["body"] == ""

    def test_a_crm_that_fails_its_writes_is_retried_alone(self, three, crm_fake, staff,
                                                        other_staff):
        api = api_as(staff)
        _person_id, email = three.person()

        def writes_fail(seen):
            return (503, {}, {"error": "read-only maintenance"}) if seen.method == "PATCH" \
                else None
        crm_fake.before = writes_fail
        body = _create(api, three.tenant, email, job_type="ERASE")
        first = _run(api, api_as(other_staff), body)
        assert first["status"] == "Processing", first
        crm = _steps(first)["crm"]
        assert crm["status"] == "failed"
        assert "PATCH" in crm["error_message"]
        assert "503" in crm["error_message"]
        assert email not in crm["error_message"]
        assert crm_fake.contacts["c1"]["email"] == email  # every write was refused
        crm_fake.before = None
        run_job_now(body["id"])
        done = api.get(f"/jobs/{body['id']}").json()
        assert done["status"] == "Completed", done["error_message"]
        steps = {s.system_name: s for s in JobStep.objects.filter(job_id=body["id"])}
        assert (steps["demo"].attempts, steps["helpdesk"].attempts, steps["crm"].attempts) == (
            1, 1, 2)
        assert steps["crm"].verified
        assert crm_fake.contacts["c1"]["name"] == "Erased contact"
