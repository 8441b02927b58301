"""RECTIFY and RESTRICT on SQLite, PostgreSQL and MariaDB: the demo schema, and a table of
typed columns (whole number, boolean, date, timestamp, bounded text) for the type checks.

The oracle is the database itself, read back with plain SQL (``fetch_rows``), and row
checksums prove that a refused change wrote nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import yaml
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
)
from sqlalchemy.exc import IntegrityError

from privacyops.connectors import Target, TargetNotFound
from privacyops.connectors.sql import SqlDatastore
from privacyops.connectors.sql_rectify import InvalidChange, NoRestrictionMarker, SubjectErased
from privacyops.datamap import load_datamap, parse_datamap
from tests.connectors.conftest import HASH_KEY, fetch_rows, table_checksums
from tests.connectors.test_sql_demo import DEMO_DATAMAP, ERIN, build_demo

CANARY = "Canary-Quokka-4711"


@pytest.fixture
def demo_url(database_url: str) -> str:
    build_demo(database_url)
    return database_url


@pytest.fixture
def store(demo_url: str) -> Iterator[SqlDatastore]:
    datastore = SqlDatastore(load_datamap(DEMO_DATAMAP), demo_url, hash_key=HASH_KEY)
    yield datastore
    datastore.close()


def _without(checksums: dict[str, dict[Any, str]], table: str, pk: Any) -> dict[str, Any]:
    return {name: {k: v for k, v in rows.items() if not (name == table and k == pk)}
            for name, rows in checksums.items()}


class TestRectifyDemo:
    def test_sets_the_fields_on_the_subjects_row_only(self, demo_url, store):
        before = table_checksums(demo_url)

        done = store.rectify(ERIN, {"name": CANARY, "phone": "+1-555-0199",
                                    "job_title": "Staff engineer"})

        erin = fetch_rows(demo_url, "people")[11]
        assert (erin["name"], erin["phone"], erin["job_title"]) == (
            CANARY, "+1-555-0199", "Staff engineer")
        assert erin["email"] == "erin@example.com"  # not asked for: unchanged
        assert [(c.field, c.old, c.new) for c in done] == [
            ("name", "Erin", CANARY), ("phone", "+1-555-0211", "+1-555-0199"),
            ("job_title", "Engineer", "Staff engineer")]
        after = table_checksums(demo_url)
        assert _without(after, "people", 11) == _without(before, "people", 11)

    @pytest.mark.parametrize(("changes", "field", "words"), [
        ({"shoe_size": "42"}, "shoe_size", "not a field of the subject"),
        ({"id": 99}, "id", "primary key"),
        ({"workspace_id": 2}, "workspace_id", "tenant column"),
        ({"sso_issuer_id": 1}, "sso_issuer_id", "a key"),
        ({"manager_id": 13}, "manager_id", "a key"),
        ({"erased_at": None}, "erased_at", "erased_marker"),
        ({"processing_restricted_at": None}, "processing_restricted_at", "restriction_marker"),
        ({"name": "x" * 256}, "name", "at most 255 characters"),
        ({"name": None}, "name", "NOT NULL"),
        ({"phone": 5550100}, "phone", "takes text"),
        ({"name": ["a"]}, "name", "one plain value"),
        ({"name": "ok", "department": 7}, "department", "takes text"),
    ])
    def test_refused_changes_name_the_field_and_write_nothing(self, demo_url, store, changes,
                                                              field, words):
        before = table_checksums(demo_url)

        with pytest.raises(InvalidChange) as refused:
            store.rectify(ERIN, changes)

        assert refused.value.field == field
        assert field in str(refused.value)
        assert words in str(refused.value)
        for value in changes.values():
            if isinstance(value, str) and len(value) > 3:
                assert value not in str(refused.value)  # sentences never repeat values
        assert table_checksums(demo_url) == before

    def test_a_unique_email_of_another_person_is_refused_by_the_database(self, demo_url,
                                                                         store):
        before = table_checksums(demo_url)
        with pytest.raises(IntegrityError):
            store.rectify(ERIN, {"name": CANARY, "email": "hank@example.com"})
        assert table_checksums(demo_url) == before  # the name was rolled back with it

    def test_an_erased_subject_is_not_rectified(self, demo_url, store):
        store.erase(ERIN)
        before = table_checksums(demo_url)
        with pytest.raises(SubjectErased):
            store.rectify(ERIN, {"name": CANARY})
        assert table_checksums(demo_url) == before

    def test_a_missing_subject_or_one_of_another_tenant(self, demo_url, store):
        with pytest.raises(TargetNotFound):
            store.rectify(Target("subject", "404", "1"), {"name": CANARY})
        with pytest.raises(TargetNotFound):  # Gina (20) is in workspace 2
            store.rectify(Target("subject", "20", "1"), {"name": CANARY})
        assert fetch_rows(demo_url, "people")[20]["name"] == "Gina"


class TestRestrictDemo:
    def test_restrict_sets_the_marker_and_lift_clears_it(self, demo_url, store):
        at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

        first = store.restrict(ERIN, at=at)
        assert fetch_rows(demo_url, "people")[11]["processing_restricted_at"] == (
            "2026-03-01T09:30:00Z")
        assert (first.restricted, first.changed) == (True, True)

        again = store.restrict(ERIN, at=datetime(2026, 4, 1, tzinfo=UTC))
        assert again.changed is False  # restricted since the first time
        assert fetch_rows(demo_url, "people")[11]["processing_restricted_at"] == (
            "2026-03-01T09:30:00Z")

        lifted = store.restrict(ERIN, lift=True)
        assert fetch_rows(demo_url, "people")[11]["processing_restricted_at"] is None
        assert (lifted.restricted, lifted.changed) == (False, True)
        assert fetch_rows(demo_url, "people")[12]["processing_restricted_at"] is None

    def test_without_a_declared_marker_nothing_is_written(self, demo_url):
        raw = yaml.safe_load(DEMO_DATAMAP.read_text())
        del raw["subject"]["restriction_marker"]
        before = table_checksums(demo_url)
        with SqlDatastore(parse_datamap(raw), demo_url, hash_key=HASH_KEY) as store:
            with pytest.raises(NoRestrictionMarker):
                store.restrict(ERIN)
        assert table_checksums(demo_url) == before


# --- typed columns ----------------------------------------------------------------------------

metadata = MetaData()
clients = Table(
    "clients", metadata,
    Column("id", Integer, primary_key=True),
    Column("shop_id", Integer, nullable=False),
    Column("name", String(20), nullable=False),
    Column("nickname", String(40), nullable=True),
    Column("visits", Integer, nullable=False),
    Column("vip", Boolean, nullable=False),
    Column("born_on", Date, nullable=True),
    Column("last_seen_at", DateTime, nullable=True),
    Column("restricted_at", DateTime, nullable=True),
)
SHOP = Target("subject", "1", "5")
NAIVE_T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC).replace(tzinfo=None)  # a column without zone


def typed_map() -> Any:
    return parse_datamap({
        "name": "typed", "connection": {"url_env": "TYPED_URL"}, "tenant_column": "shop_id",
        "subject": {"entity": "clients", "identity_fields": ["name"],
                    "restriction_marker": {"column": "restricted_at", "value": "now"}},
        "entities": {"clients": {"table": "clients", "primary_key": "id", "fields": {
            **{name: {"category": "identity"} for name in (
                "name", "nickname", "visits", "vip", "born_on", "last_seen_at")},
            "restricted_at": {"category": "technical", "export": False}}}},
    })


@pytest.fixture
def typed(database_url: str) -> Iterator[tuple[str, SqlDatastore]]:
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(clients), [
            {"id": 1, "shop_id": 5, "name": "Ana", "nickname": "A", "visits": 3, "vip": False,
             "born_on": date(1990, 1, 2), "last_seen_at": NAIVE_T0},
            {"id": 2, "shop_id": 5, "name": "Bo", "nickname": None, "visits": 1, "vip": True,
             "born_on": None, "last_seen_at": None}])
    engine.dispose()
    store = SqlDatastore(typed_map(), database_url, hash_key=HASH_KEY)
    yield database_url, store
    store.close()


def test_typed_values_are_converted_to_the_column_types(typed):
    url, store = typed
    done = store.rectify(SHOP, {"visits": "12", "vip": "true", "born_on": "1991-05-06",
                                "last_seen_at": "2026-03-01T10:15:00", "nickname": None})
    row = fetch_rows(url, "clients")[1]
    assert (row["visits"], bool(row["vip"]), row["born_on"], row["nickname"]) == (
        12, True, date(1991, 5, 6), None)
    assert row["last_seen_at"] == datetime(2026, 3, 1, 10, 15, tzinfo=UTC).replace(tzinfo=None)
    assert {c.field: (c.old, c.new) for c in done}["born_on"] == ("1990-01-02", "1991-05-06")
    assert fetch_rows(url, "clients")[2]["name"] == "Bo"


@pytest.mark.parametrize(("changes", "words"), [
    ({"visits": "twelve"}, "whole number"),
    ({"visits": 1.5}, "whole number"),
    ({"visits": True}, "whole number"),
    ({"vip": "perhaps"}, "true or false"),
    ({"vip": None}, "NOT NULL"),
    ({"born_on": "06/05/1991"}, "ISO 8601"),
    ({"last_seen_at": "yesterday"}, "ISO 8601"),
    ({"name": "A" * 21}, "at most 20 characters"),
    ({"nickname": 7}, "takes text"),
])
def test_typed_values_of_the_wrong_type_are_refused(typed, changes, words):
    url, store = typed
    before = table_checksums(url)
    with pytest.raises(InvalidChange) as refused:
        store.rectify(SHOP, changes)
    assert refused.value.field == next(iter(changes))
    assert words in str(refused.value)
    assert table_checksums(url) == before


def test_restrict_writes_a_timestamp_into_a_timestamp_column(typed):
    url, store = typed
    store.restrict(SHOP, at=datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC))
    stamp = fetch_rows(url, "clients")[1]["restricted_at"]
    assert stamp.replace(tzinfo=UTC) == datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    store.restrict(SHOP, lift=True)
    assert fetch_rows(url, "clients")[1]["restricted_at"] is None
