"""The live check: a data map against the database it describes, on SQLite, PostgreSQL, MariaDB.

The schema is written here with SQLAlchemy Core, independent of the code under test; each test
breaks the map (or the database) in one way a person would, and expects that one finding, with
the data-map path and the database object.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    text,
)

from privacyops.datamap import parse_datamap
from privacyops.datamap.live import LiveReport, live_check


def _schema() -> MetaData:
    metadata = MetaData()
    Table("shops", metadata, Column("id", Integer, primary_key=True),
          Column("name", String(100), nullable=False))
    Table("customers", metadata,
          Column("id", Integer, primary_key=True, autoincrement=False),
          Column("shop_id", Integer, ForeignKey("shops.id"), nullable=False, index=True),
          Column("email", String(255), nullable=False),
          Column("nickname", String(16)),
          Column("billing_address", Text),
          Column("loyalty_points", Integer, nullable=False),
          Column("birth_date", Date),
          Column("erased_at", String(32)))
    # No foreign key on orders.customer_id: MariaDB would index it by itself.
    Table("orders", metadata,
          Column("id", Integer, primary_key=True, autoincrement=False),
          Column("shop_id", Integer, nullable=False),
          Column("customer_id", Integer, nullable=False),
          Column("total_cents", Integer, nullable=False),
          Index("ix_orders_shop_id_customer_id", "shop_id", "customer_id"))
    return metadata


MAP: dict[str, Any] = {
    "version": 1,
    "name": "shop",
    "connection": {"url_env": "LIVE_SHOP_URL"},
    "tenant_column": "shop_id",
    "subject": {"entity": "customers", "identity_fields": ["email"],
                "erased_marker": {"column": "erased_at"}},
    "scopes": {"tenant": "shops"},
    "entities": {
        "shops": {"table": "shops", "primary_key": "id",
                  "fields": {"name": {"category": "other"}}},
        "customers": {"table": "customers", "primary_key": "id", "fields": {
            "email": {"category": "contact", "erase": {"pseudonym": "erased-{id}@shop.invalid"}},
            "nickname": {"category": "identity", "erase": {"pseudonym": "anon-{id}"}},
            "billing_address": {"category": "location", "erase": None},
            "loyalty_points": {"category": "behavioral", "erase": {"set": 0}},
            "birth_date": {"category": "identity", "erase": None},
            "erased_at": {"category": "technical", "export": False},
        }},
        "orders": {"table": "orders", "primary_key": "id",
                   "relations": [{"to": "subject", "via": "customer_id"}],
                   "fields": {"total_cents": {"category": "financial"}}},
    },
}


@pytest.fixture
def shop_url(database_url: str) -> str:
    engine = create_engine(database_url)
    _schema().create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(_schema().tables["shops"]), [{"id": 1, "name": "Shop"}])
    engine.dispose()
    return database_url


def _check(data: dict[str, Any], url: str) -> LiveReport:
    return live_check(parse_datamap(copy.deepcopy(data)), url)


def _by_path(findings: Any) -> dict[str, Any]:
    return {finding.path: finding for finding in findings}


def _with_index(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_orders_customer_id ON orders (customer_id)"))
    engine.dispose()


class TestLiveCheck:
    def test_a_map_that_matches_the_database_has_no_finding(self, shop_url: str) -> None:
        _with_index(shop_url)

        report = _check(MAP, shop_url)

        assert report.problems == ()
        assert report.warnings == ()
        assert report.unmapped == ()

    def test_a_misspelt_column_is_named_with_its_path_and_the_likely_fix(
            self, shop_url: str) -> None:
        data = copy.deepcopy(MAP)
        fields = data["entities"]["customers"]["fields"]
        fields["billing_adress"] = fields.pop("billing_address")

        problems = _by_path(_check(data, shop_url).problems)

        problem = problems["entities.customers.fields.billing_adress"]
        assert problem.database_object == "customers.billing_adress"
        assert "did you mean 'billing_address'" in problem.message
        assert len(problems) == 1

    def test_erase_actions_the_column_cannot_hold_are_problems(self, shop_url: str) -> None:
        data = copy.deepcopy(MAP)
        fields = data["entities"]["customers"]["fields"]
        fields["loyalty_points"]["erase"] = {"set": "none"}
        fields["nickname"]["erase"] = {"pseudonym": "anonymous-customer-{id}"}
        fields["email"]["erase"] = None

        problems = _by_path(_check(data, shop_url).problems)

        assert "into a column of type INTEGER" in problems[
            "entities.customers.fields.loyalty_points.erase"].message
        assert "column holds 16" in problems["entities.customers.fields.nickname.erase"].message
        data["entities"]["customers"]["fields"]["nickname"]["erase"] = {"pseudonym": "anonym-{id}"}
        tight = _by_path(_check(data, shop_url).warnings)["entities.customers.fields.nickname.erase"]
        assert "leaves 9 characters for the subject's id" in tight.message
        assert "NOT NULL" in problems["entities.customers.fields.email.erase"].message
        assert problems["entities.customers.fields.email.erase"].database_object.startswith(
            "customers.email")
        assert len(problems) == 3

    def test_a_relation_without_an_index_is_a_warning_with_the_statement(
            self, shop_url: str) -> None:
        report = _check(MAP, shop_url)

        assert report.problems == ()
        warning = _by_path(report.warnings)["entities.orders.relations[0].via[0]"]
        assert warning.database_object == "orders.customer_id"
        assert "CREATE INDEX ix_orders_customer_id ON orders (customer_id);" in warning.message

    def test_a_missing_table_and_marker_column(self, shop_url: str) -> None:
        data = copy.deepcopy(MAP)
        data["entities"]["orders"]["table"] = "order"
        data["subject"]["erased_marker"]["column"] = "forgotten_at"
        data["entities"]["customers"]["fields"]["forgotten_at"] = {"category": "technical"}

        problems = _by_path(_check(data, shop_url).problems)

        assert "no table 'order'" in problems["entities.orders.table"].message
        assert "did you mean 'orders'" in problems["entities.orders.table"].message
        marker = problems["subject.erased_marker.column"]
        assert marker.database_object == "customers.forgotten_at"
        assert "has no column 'forgotten_at'" in marker.message
        assert len(problems) == 2

    def test_a_restriction_marker_must_be_a_nullable_time_or_text_column(
            self, shop_url: str) -> None:
        data = copy.deepcopy(MAP)
        data["subject"]["restriction_marker"] = {"column": "loyalty_points", "value": "now"}

        problems = _by_path(_check(data, shop_url).problems)
        marker = problems["subject.restriction_marker.column"]
        assert marker.database_object.startswith("customers.loyalty_points")
        messages = [p.message for p in _check(data, shop_url).problems
                    if p.path == "subject.restriction_marker.column"]
        assert any("RESTRICT writes the current time" in m for m in messages)
        assert any("NOT NULL" in m for m in messages)

        data["subject"]["restriction_marker"] = {"column": "birth_date", "value": "now"}
        assert "subject.restriction_marker.column" not in _by_path(
            _check(data, shop_url).problems)

    def test_columns_and_tables_added_after_the_map_are_drift(self, shop_url: str) -> None:
        _with_index(shop_url)
        engine = create_engine(shop_url)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE customers ADD mobile_phone VARCHAR(40)"))
            conn.execute(text("ALTER TABLE customers ADD contact_ref VARCHAR(200)"))
            conn.execute(text("ALTER TABLE customers ADD vip_level INTEGER"))
            conn.execute(text("CREATE TABLE customer_documents (id INTEGER PRIMARY KEY, "
                              "customer_id INTEGER REFERENCES customers (id), iban VARCHAR(40))"))
            conn.execute(text("CREATE TABLE warehouses (id INTEGER PRIMARY KEY, "
                              "label VARCHAR(40))"))
            conn.execute(text(
                "INSERT INTO customers (id, shop_id, email, loyalty_points, contact_ref, "
                "vip_level) VALUES (1, 1, 'a@example.com', 0, 'ana@example.com', 2), "
                "(2, 1, 'b@example.com', 0, 'ben@example.com', 1)"))
        engine.dispose()

        report = _check(MAP, shop_url)

        assert report.problems == ()
        unmapped = {u.database_object: u for u in report.unmapped}
        assert set(unmapped) == {"customers.mobile_phone", "customers.contact_ref",
                                 "customers.vip_level", "customer_documents"}
        assert unmapped["customers.mobile_phone"].personal is True
        assert "2 of 2 sampled values look like email addresses" in (
            unmapped["customers.contact_ref"].evidence)
        assert unmapped["customers.vip_level"].personal is False
        documents = unmapped["customer_documents"]
        assert documents.personal is True
        assert "references mapped table 'customers' by customer_id" in documents.reason
        assert report.ok
        assert report.strict_ok is False
        assert report.summary() == "0 problems, 0 warnings, 4 unmapped (3 look personal)"
        assert report.drift_keys() == ("customer_documents", "customers.contact_ref",
                                       "customers.mobile_phone", "customers.vip_level")


def _privacyops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacyops.cli", *args], capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, **env},
    )


class TestCheckCommand:
    def test_live_strict_and_the_plain_check(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
        engine = create_engine(url)
        _schema().create_all(engine)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE customers ADD passport_number VARCHAR(20)"))
        engine.dispose()
        data = copy.deepcopy(MAP)
        fields = data["entities"]["customers"]["fields"]
        fields["billing_adress"] = fields.pop("billing_address")
        path = tmp_path / "shop.yaml"
        path.write_text(yaml.safe_dump(data))

        offline = _privacyops("datamap", "check", str(path), env={"LIVE_SHOP_URL": ""})
        live = _privacyops("datamap", "check", str(path), env={"LIVE_SHOP_URL": url})
        fields["billing_address"] = fields.pop("billing_adress")
        path.write_text(yaml.safe_dump(data))
        drift_only = _privacyops("datamap", "check", str(path), "--live",
                                 env={"LIVE_SHOP_URL": url})
        strict = _privacyops("datamap", "check", str(path), "--strict",
                             env={"LIVE_SHOP_URL": url})
        unset = _privacyops("datamap", "check", str(path), "--live", env={"LIVE_SHOP_URL": ""})

        assert offline.returncode == 0, offline.stderr
        assert "not checked against a database" in offline.stdout
        assert live.returncode == 1
        assert "entities.customers.fields.billing_adress:" in live.stderr
        assert "(database: customers.billing_adress)" in live.stderr
        assert drift_only.returncode == 0, drift_only.stderr
        assert "unmapped: customers.passport_number" in drift_only.stdout
        assert "CREATE INDEX ix_orders_customer_id" in drift_only.stdout
        assert strict.returncode == 1
        assert "error: customers.passport_number" in strict.stdout
        assert unset.returncode == 1
        assert "LIVE_SHOP_URL is not set" in unset.stderr


class TestShippedMaps:
    def test_the_demo_map_matches_the_demo_datastore(self, tmp_path: Path) -> None:
        from privacyops.datamap import load_datamap
        from privacyops.demo.generate import generate_demo_datastore

        store = tmp_path / "demo.sqlite3"
        generate_demo_datastore(store, people=20, workspaces=1, progress=False)
        demo = load_datamap(Path(__file__).parents[2] / "src/privacyops/demo/datamap.yaml")

        report = live_check(demo, f"sqlite:///{store}")

        assert report.problems == ()
        assert report.warnings == ()
        assert report.unmapped == ()

    def test_the_shop_map_matches_the_shop_except_three_unindexed_pointers(
            self, database_url: str) -> None:
        from privacyops.datamap import load_datamap
        from tests.fixtures.shop.builder import SHARED_DATAMAP, build_shop

        engine = create_engine(database_url)
        build_shop(engine)
        engine.dispose()

        report = live_check(load_datamap(SHARED_DATAMAP), database_url)

        assert report.problems == ()
        assert report.unmapped == ()
        unindexed = {w.database_object for w in report.warnings}
        # MariaDB indexes every foreign-key column by itself.
        assert unindexed <= {"customers.referred_by_id", "orders.shipping_address_id",
                             "support_tickets.order_id"}

    def test_the_check_cannot_write(self, shop_url: str) -> None:
        from sqlalchemy.exc import DBAPIError

        from privacyops.datamap.live import read_only_engine

        engine = read_only_engine(shop_url)
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text("INSERT INTO shops (id, name) VALUES (2, 'Other')"))
        engine.dispose()
