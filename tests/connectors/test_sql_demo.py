"""The demo data map against the demo schema: the GDPR screen's export, erase and guards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert

from privacyops.connectors import PreconditionsFailed, Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.connectors.sql_write import hmac_hex
from privacyops.datamap import load_datamap
from privacyops.demo import schema as demo
from tests.connectors.conftest import HASH_KEY, fetch_rows, table_checksums

DEMO_DATAMAP = Path(demo.__file__).with_name("datamap.yaml")
T0 = "2026-01-05T09:00:00Z"
ERIN = Target("subject", "11", "1")  # returned everything: erasable
HANK = Target("subject", "12", "1")  # still holds a laptop and a licence
ROOT = Target("subject", "13", "1")  # super-admin


def person(pid: int, ws: int, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "workspace_id": ws, "name": name,
            "email": f"{name.lower()}@example.com", "employee_id": f"E{pid}",
            "job_title": "Engineer", "department": "IT", "manager_id": None,
            "phone": f"+1-555-02{pid:02d}", "employment_status": "active",
            "last_login_at": T0, "role": "member", "password_hash": "argon2$x",
            "sso_issuer_id": None, "sso_subject": None, "created_at": T0,
            "erased_at": None, "deleted_at": None} | extra


def build_demo(url: str) -> None:
    engine = create_engine(url)
    demo.create_schema(engine)
    rows: list[tuple[Any, list[dict[str, Any]]]] = [
        (demo.workspaces, [{"id": 1, "slug": "acme", "name": "Acme"},
                           {"id": 2, "slug": "globex", "name": "Globex"}]),
        (demo.sso_issuers, [{"id": 1, "workspace_id": 1, "name": "Okta", "entity_id": "okta"}]),
        (demo.people, [
            person(10, 1, "Boss", role="admin"),
            person(11, 1, "Erin", manager_id=10, sso_issuer_id=1, sso_subject="okta|erin"),
            person(12, 1, "Hank", manager_id=11, sso_issuer_id=1, sso_subject="okta|hank"),
            person(13, 1, "Root", role="super-admin"),
            person(20, 2, "Gina"),
        ]),
        (demo.assets, [{"id": 1, "workspace_id": 1, "asset_tag": "LT-1", "name": "Laptop",
                        "serial_number": "SN1", "kind": "laptop"},
                       {"id": 2, "workspace_id": 1, "asset_tag": "LT-2", "name": "Laptop",
                        "serial_number": "SN2", "kind": "laptop"}]),
        (demo.hardware_assignments, [
            {"id": 1, "workspace_id": 1, "person_id": 11, "asset_id": 1, "assigned_at": T0,
             "returned_at": "2026-02-01T09:00:00Z", "return_condition": "good"},
            {"id": 2, "workspace_id": 1, "person_id": 12, "asset_id": 2, "assigned_at": T0,
             "returned_at": None, "return_condition": None}]),
        (demo.software, [{"id": 1, "workspace_id": 1, "name": "Figma", "edition": "Pro"}]),
        (demo.software_assignments, [
            {"id": 1, "workspace_id": 1, "person_id": 11, "software_id": 1,
             "account_identifier": "erin@example.com", "assigned_at": T0,
             "revoked_at": "2026-02-01T09:00:00Z", "access_level": "editor"},
            {"id": 2, "workspace_id": 1, "person_id": 12, "software_id": 1,
             "account_identifier": "hank@example.com", "assigned_at": T0, "revoked_at": None,
             "access_level": "viewer"}]),
        (demo.asset_requests, [
            {"id": 1, "workspace_id": 1, "person_id": 11, "title": "Monitor",
             "request_type": "hardware", "status": "approved",
             "justification": "My eyes hurt", "created_at": T0}]),
        (demo.activity_log, [
            {"id": k, "workspace_id": 1, "actor_id": actor, "subject_id": subject,
             "action": "person.updated", "details": "{}", "ip_address": ip,
             "created_at": f"2026-01-0{k}T10:00:00Z"}
            for k, actor, subject, ip in [(1, 10, 11, "192.0.2.1"), (2, 11, 12, "192.0.2.2"),
                                          (3, 10, 12, "192.0.2.1"), (4, None, 11, None)]]),
    ]
    with engine.begin() as conn:
        for table, values in rows:
            conn.execute(insert(table), values)
    engine.dispose()


@pytest.fixture
def demo_url(database_url: str) -> str:
    build_demo(database_url)
    return database_url


@pytest.fixture
def store(demo_url: str) -> Iterator[SqlDatastore]:
    datastore = SqlDatastore(load_datamap(DEMO_DATAMAP), demo_url, hash_key=HASH_KEY)
    yield datastore
    datastore.close()


def test_export_has_the_gdpr_screen_sections(store: SqlDatastore) -> None:
    document = {s.name: (s.columns, list(s.rows)) for s in store.iter_export(ERIN)}

    assert list(document) == ["data_subject", "hardware_assignments", "software_assignments",
                              "asset_requests", "activity"]
    subject = document["data_subject"][1][0]
    assert subject["email"] == "erin@example.com"
    assert subject["manager_name"] == "Boss"
    assert "password_hash" not in subject
    assert "sso_subject" not in subject
    assert document["hardware_assignments"][1] == [{
        "asset_tag": "LT-1", "asset_name": "Laptop", "serial_number": "SN1", "assigned_at": T0,
        "returned_at": "2026-02-01T09:00:00Z", "return_condition": "good"}]
    assert document["software_assignments"][1][0]["software"] == "Figma"
    assert [row["created_at"][:10] for row in document["activity"][1]] == [
        "2026-01-04", "2026-01-02", "2026-01-01"]  # actor or subject, most recent first


def test_erase_matches_the_gdpr_screen(demo_url: str, store: SqlDatastore) -> None:
    before = table_checksums(demo_url)

    store.erase(ERIN)

    erin = fetch_rows(demo_url, "people")[11]
    assert erin["email"] == "erased-user-11@erased.local"
    assert erin["name"] == "Erased user"
    assert erin["employment_status"] == "offboarded"
    assert (erin["password_hash"], erin["sso_subject"], erin["sso_issuer_id"]) == (None,) * 3
    assert erin["erased_at"] is not None
    assert erin["deleted_at"] is not None
    activity = fetch_rows(demo_url, "activity_log")
    assert activity[1]["ip_address"] == hmac_hex(HASH_KEY, "192.0.2.1")
    assert activity[3]["ip_address"] == "192.0.2.1"  # not Erin's entry
    assert activity[1]["details"] == "{}"
    assert fetch_rows(demo_url, "asset_requests")[1]["justification"] == ""
    after = table_checksums(demo_url)
    assert after["hardware_assignments"] == before["hardware_assignments"]
    assert after["workspaces"] == before["workspaces"]
    listed = {row["id"]: row for row in store.list_subjects("1", search="erased-user")}
    assert listed[11]["erased"] is True


def test_guards_refuse_active_assignments_and_super_admins(store: SqlDatastore) -> None:
    with pytest.raises(PreconditionsFailed) as hank:
        store.erase(HANK)
    root = store.check_preconditions(ROOT)

    assert [f.name for f in hank.value.failures] == ["active_hardware", "active_software"]
    assert "still holds 1 hardware assignment(s)" in hank.value.failures[0].message
    assert [f.message for f in root] == ["holds the super-admin role. Demote the account first."]


def test_issuer_reaches_its_people_and_purges_them(demo_url: str, store: SqlDatastore) -> None:
    issuer = Target("issuer", "1", "1")

    assert store.reaches(issuer, "subject", "12") is True
    assert store.reaches(issuer, "subject", "10") is False
    assert store.reaches(Target("tenant", "1", "1"), "issuer", "1") is True
    result = store.purge(issuer, chunk_size=2)

    people = fetch_rows(demo_url, "people")
    assert set(people) == {10, 13, 20}
    assert result.deleted["people"] == 2
    assert set(fetch_rows(demo_url, "activity_log")) == set()  # every entry involved 11 or 12
    assert set(fetch_rows(demo_url, "assets")) == {1, 2}


def test_tenant_purge_removes_the_workspace_last(demo_url: str, store: SqlDatastore) -> None:
    result = store.purge(Target("tenant", "1", "1"), chunk_size=2)

    assert list(result.deleted)[-1] == "workspaces"
    assert set(fetch_rows(demo_url, "workspaces")) == {2}
    assert set(fetch_rows(demo_url, "people")) == {20}
    assert store.exists(Target("tenant", "1", None)) is False
    assert store.exists(Target("tenant", "2", None)) is True


def test_generated_demo_datastore_matches_the_data_map(tmp_path: Path) -> None:
    from privacyops.demo.generate import demo_people_sample, generate_demo_datastore

    summary = generate_demo_datastore(tmp_path / "demo.sqlite3", people=60, workspaces=2,
                                      progress=False)
    workspace = summary.workspaces[0].id
    datastore = SqlDatastore(load_datamap(DEMO_DATAMAP), f"sqlite:///{summary.path}",
                             hash_key=HASH_KEY)
    sample = demo_people_sample(summary.path, workspace)
    erasable = next(p for p in sample if not p.has_active_assignments and p.role != "super-admin")

    result = datastore.erase(Target("subject", str(erasable.id), str(workspace)))

    assert result.by_table()["people"] == 1
    listed = datastore.list_subjects(str(workspace), search=f"erased-user-{erasable.id}@")
    assert [row["erased"] for row in listed] == [True]
    datastore.close()


def test_people_who_share_an_activity_row_share_data(store: SqlDatastore) -> None:
    # Activity #2 has Erin (11) as actor and Hank (12) as subject; Root (13) has none.
    def subject(pid: int) -> Target:
        return Target("subject", str(pid), "1")

    assert store.shares_rows(subject(11), subject(12))
    assert store.shares_rows(subject(12), subject(11))
    assert not store.shares_rows(subject(13), subject(11))
    assert not store.reaches(subject(11), "subject", "12")
