"""(a) A CRM: bearer token, cursor pagination over more than two pages, PATCH masking."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest

from privacyops.connectors.base import ConnectorError, Target, TargetNotFound
from privacyops.connectors.http import load_http_connector
from tests.connectors.http.conftest import ALICE, CRM_MAP, CRM_TOKEN, write_map
from tests.connectors.http.services import Crm, Seen

ALICE_ID = Target("subject", "c1", None)


def test_resolve_identity_matches_emails_case_insensitively(crm: Crm, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)

    assert connector.resolve_identity({"Email": "  alice.MARTIN@example.com "}, None) == \
        ["c1", "c3"]
    assert connector.resolve_identity({"email": "bob@example.com"}, None) == ["c2"]
    assert connector.resolve_identity({"email": "nobody@example.com"}, None) == []
    # An identity this system does not know is "no data here", not an error.
    assert connector.resolve_identity({"employee_id": "E-1"}, None) == []
    searches = crm.requests_to("GET", "/api/contacts")
    assert all(s.headers["Authorization"] == f"Bearer {CRM_TOKEN}" for s in searches)
    assert searches[0].query == {"email": "alice.martin@example.com"}


def test_export_streams_every_page_of_notes(crm: Crm, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)

    sections = connector.iter_export(ALICE_ID)
    contacts = next(sections)
    assert contacts.name == "CRM contacts"
    assert contacts.columns == ["id", "email", "name", "profile.city", "health_note",
                                "created_at"]
    assert list(contacts.rows) == [{"id": "c1", "email": ALICE, "name": "Alice Martin",
                                    "profile.city": "Lyon", "health_note": "asthma",
                                    "created_at": "2024-01-02"}]
    notes = next(sections)
    assert notes.name == "CRM notes"
    note_reads_before = len(crm.requests_to("GET", "/api/contacts/c1/notes"))
    first = next(notes.rows)
    # Streamed: consuming the first row has read one page, not all four.
    assert len(crm.requests_to("GET", "/api/contacts/c1/notes")) == note_reads_before + 1
    rows = [first, *notes.rows]
    assert [r["id"] for r in rows] == [f"n{i}" for i in range(1, 8)]
    assert rows[0] == {"id": "n1", "body": "call #1 about renewal", "author": "sales-7"}
    pages = crm.requests_to("GET", "/api/contacts/c1/notes")
    assert [p.query.get("cursor") for p in pages] == [None, "2", "4", "6"]
    assert list(sections) == []


def test_erase_patches_only_the_mapped_fields(crm: Crm, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)
    before = copy.deepcopy(crm.contacts)

    dry = connector.erase(ALICE_ID, dry_run=True)
    assert dry.dry_run
    assert dry.by_table() == {"notes": 7, "contacts": 1}
    assert crm.contacts == before
    assert crm.requests_to("PATCH", "/") == []

    result = connector.erase(ALICE_ID)
    assert result.by_table() == {"notes": 7, "contacts": 1}
    assert dict((c.table, c.columns) for c in result.tables)["contacts"] == (
        "email", "name", "profile.city", "health_note")
    alice = crm.contacts["c1"]
    assert alice == {"id": "c1", "email": "erased-c1@erased.local", "name": "Erased contact",
                     "phone": "+33 1 23", "profile": {"city": None, "language": "fr"},
                     "health_note": None, "created_at": "2024-01-02"}
    # Notes come first, the contact last (so a retry still finds them by the contact).
    patches = crm.requests_to("PATCH", "/")
    assert [p.path for p in patches][-1] == "/api/contacts/c1"
    assert patches[-1].body == {"contact": {"email": "erased-c1@erased.local",
                                            "name": "Erased contact",
                                            "profile": {"city": None}, "health_note": None}}
    assert all(crm.notes[f"n{i}"]["body"] == "" for i in range(1, 8))
    # Other people are untouched.
    assert crm.contacts["c2"] == before["c2"]
    assert crm.contacts["c3"] == before["c3"]
    assert crm.notes["b1"]["body"] == "bob 1"
    # c3 holds the same email: erasing c1 does not erase it, and verify says so.
    problems = connector.verify_erased(ALICE_ID, {"email": ALICE})
    assert "crm: endpoint contacts, field email still holds the subject's email" in problems


def test_second_erase_changes_nothing_and_verify_is_clean(crm: Crm, tmp_path: Path) -> None:
    crm.contacts.pop("c3")  # only one record holds Alice's email
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)
    connector.erase(ALICE_ID)
    after_first = copy.deepcopy((crm.contacts, crm.notes))
    patches = len(crm.requests_to("PATCH", "/"))

    again = connector.erase(ALICE_ID)

    assert again.by_table() == {"notes": 0, "contacts": 0}
    assert (crm.contacts, crm.notes) == after_first
    assert len(crm.requests_to("PATCH", "/")) == patches
    assert connector.verify_erased(ALICE_ID, {"email": ALICE}) == []
    assert connector.resolve_identity({"email": ALICE}, None) == []


def test_verify_names_endpoint_and_field_left_behind(crm: Crm, tmp_path: Path) -> None:
    crm.contacts.pop("c3")
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)
    connector.erase(ALICE_ID)
    # The service "restores" a value behind our back, and a note copies the email.
    crm.contacts["c1"]["profile"]["city"] = "Lyon"
    crm.notes["n3"]["body"] = ALICE.lower()

    problems = connector.verify_erased(ALICE_ID, {"email": ALICE})

    assert problems == [
        "crm: endpoint contacts, field profile.city does not hold its erased value",
        "crm: endpoint notes, field body still holds the subject's email",
        "crm: endpoint notes, field body does not hold its erased value",
    ]


def test_a_wrong_token_is_refused_and_the_message_names_the_variable(
        crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TEST_CRM_TOKEN", "not-the-token")
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ConnectorError) as caught:
        connector.resolve_identity({"email": ALICE}, None)

    message = str(caught.value)
    assert message == ("crm: GET /api/contacts was refused (401 Unauthorized); check the "
                       "credentials in TEST_CRM_TOKEN and that they may read and change these "
                       "records")
    assert crm.seen[-1].status == 401
    assert "not-the-token" not in caplog.text
    assert "alice" not in caplog.text.lower()


def test_an_unknown_subject_id_is_target_not_found(crm: Crm, tmp_path: Path) -> None:
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)

    with pytest.raises(TargetNotFound, match="crm has no contacts record with this id"):
        list(connector.iter_export(Target("subject", "c404", None)))
    with pytest.raises(TargetNotFound):
        connector.erase(Target("subject", "c404", None))


def test_match_drops_records_of_other_people_the_service_returns(
        crm: Crm, tmp_path: Path) -> None:
    def careless(seen: Seen) -> tuple[int, dict[str, str], object] | None:
        if seen.method == "GET" and seen.path == "/api/contacts/c1/notes":
            notes = [crm.notes["n1"], crm.notes["b1"]]  # Bob's note too
            return 200, {}, {"data": {"items": copy.deepcopy(notes)}, "meta": {}}
        return None

    crm.before = careless
    connector = load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)

    sections = {s.name: list(s.rows) for s in connector.iter_export(ALICE_ID)}
    result = connector.erase(ALICE_ID)

    assert [r["id"] for r in sections["CRM notes"]] == ["n1"]
    assert result.by_table()["notes"] == 1
    assert crm.notes["b1"]["body"] == "bob 1"
    assert crm.notes["n1"]["body"] == ""
