"""The GDPR screen's JSON export gains a `systems` section when another system holds the
person's data (by email), and keeps its shape otherwise."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from django.urls import reverse

from privacyops.demo.helpdesk import generate_helpdesk, people_of_demo, write_helpdesk_datamap
from privacyops.tenancy.models import Role, System
from tests.workspace.test_views import signed_in


def _export(client, person_id):
    url = reverse("workspace:gdpr-export", kwargs={"slug": "acme", "subject_id": person_id})
    response = client.post(url)
    assert response.status_code == 200
    return json.loads(b"".join(response.streaming_content))


class TestGdprExportSystems:
    def test_a_second_system_adds_its_sections(self, client, acme, people, demo_store, settings,
                                               tmp_path):
        helpdesk = tmp_path / "helpdesk.sqlite3"
        generate_helpdesk(helpdesk, people_of_demo(demo_store))
        write_helpdesk_datamap(helpdesk, Path(settings.DATAMAP_DIR))
        System.objects.create(tenant=acme, name="helpdesk", datamap_name="helpdesk",
                              datastore_key="1")
        signed_in(client, acme, Role.IT_ADMIN)
        person = people.first()
        document = _export(client, person.id)
        assert list(document)[2:] == ["data_subject", "hardware_assignments",
                                      "software_assignments", "asset_requests", "activity",
                                      "systems"]
        desk = document["systems"]["helpdesk"]
        assert desk["requester"][0]["email"] == person.email
        with sqlite3.connect(helpdesk) as conn:
            tickets = conn.execute("SELECT COUNT(*) FROM tickets t JOIN requesters r ON "
                                   "r.id = t.requester_id WHERE r.email = ?",
                                   (person.email,)).fetchone()[0]
        assert len(desk["tickets"]) == tickets == 2

    def test_one_system_keeps_the_shape(self, client, acme, people):
        signed_in(client, acme, Role.IT_ADMIN)
        document = _export(client, people.first().id)
        assert "systems" not in document
