"""Purging a clinic: with a keep rule its invoices stay, anonymised; without one they go."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import parse_datamap
from tests.connectors.conftest import HASH_KEY, fetch_rows
from tests.fixtures.clinic.builder import build_clinic

CLINIC_1 = Target(scope="tenant", id="1", tenant_key="1")


def clinic_map(keep: bool) -> Any:
    invoices: dict[str, Any] = {
        "table": "invoices", "primary_key": "id",
        "relations": [{"to": "subject", "via": "patient_id"}],
        "fields": {"amount_cents": {"category": "financial"},
                   "iban": {"category": "financial", "erase": None}},
    }
    if keep:
        invoices["keep"] = {"for": "10y", "from": "issued_on",
                            "reason": "tax records (HGB §257)"}
    return parse_datamap({
        "name": "clinic", "connection": {"url_env": "CLINIC_URL"}, "tenant_column": "clinic_id",
        "subject": {"entity": "patients", "identity_fields": ["email"],
                    "erased_marker": {"column": "forgotten_at"}},
        "entities": {
            "patients": {"table": "patients", "primary_key": "id", "fields": {
                "email": {"category": "contact",
                          "erase": {"pseudonym": "forgotten-{id}@clinic.invalid"}},
                "full_name": {"category": "identity", "erase": {"set": "Forgotten patient"}},
                "phone": {"category": "contact", "erase": None},
                "insurance_number": {"category": "health", "erase": None},
                "forgotten_at": {"category": "technical", "export": False}}},
            "appointments": {"table": "appointments", "primary_key": "id",
                             "relations": [{"to": "subject", "via": "patient_id"}],
                             "fields": {"clinical_notes": {"category": "health",
                                                           "erase": None}}},
            "message": {"table": "message", "primary_key": "id",
                        "relations": [{"to": "subject", "via": "patient_id"}],
                        "fields": {"body": {"category": "free_text", "erase": {"set": ""}}}},
            "prescriptions": {"table": "prescriptions", "primary_key": "id",
                              "relations": [{"to": "subject", "via": "patient_id"}],
                              "fields": {"drug": {"category": "health", "erase": {"set": ""}}}},
            "invoices": invoices,
        },
    })


@pytest.fixture
def url(database_url: str) -> str:
    engine = create_engine(database_url)
    build_clinic(engine)
    with engine.begin() as conn:  # the clinic's invoices get the date their period counts from
        conn.execute(text("ALTER TABLE invoices ADD issued_on DATE"))
        conn.execute(text("UPDATE invoices SET issued_on = :d"), {"d": date(2025, 5, 2)})
    engine.dispose()
    return database_url


@pytest.fixture
def stores() -> Iterator[list[SqlDatastore]]:
    opened: list[SqlDatastore] = []
    yield opened
    for store in opened:
        store.close()


def of_clinic(url: str, table: str, clinic: int = 1) -> dict[Any, dict[str, Any]]:
    return {k: r for k, r in fetch_rows(url, table).items() if r["clinic_id"] == clinic}


def test_without_a_keep_rule_purging_a_clinic_deletes_its_invoices(
        url: str, stores: list[SqlDatastore]) -> None:
    store = SqlDatastore(clinic_map(keep=False), url, hash_key=HASH_KEY)
    stores.append(store)
    result = store.purge(CLINIC_1)
    assert result.deleted["invoices"] == 3
    assert of_clinic(url, "invoices") == {}
    assert of_clinic(url, "patients") == {}


def test_with_a_keep_rule_the_invoices_stay_anonymised(
        url: str, stores: list[SqlDatastore]) -> None:
    store = SqlDatastore(clinic_map(keep=True), url, hash_key=HASH_KEY)
    stores.append(store)
    result = store.purge(CLINIC_1, chunk_size=2)

    assert result.anonymised == {"patients": 3, "invoices": 3}
    invoices = of_clinic(url, "invoices")
    assert sorted(invoices) == [1010, 1020, 1030]
    assert {r["iban"] for r in invoices.values()} == {None}
    assert {r["amount_cents"] for r in invoices.values()} == {4500}
    patients = of_clinic(url, "patients")
    assert patients[101]["email"] == "forgotten-101@clinic.invalid"
    assert {r["full_name"] for r in patients.values()} == {"Forgotten patient"}
    assert {r["insurance_number"] for r in patients.values()} == {None}
    assert all(r["forgotten_at"] is not None for r in patients.values())
    assert of_clinic(url, "appointments") == {}  # not kept: deleted as usual
    assert len(of_clinic(url, "invoices", clinic=2)) == 3
    assert of_clinic(url, "patients", clinic=2)[201]["email"] == "patient201@example.com"
    assert store.purge(CLINIC_1).rows_deleted == 0  # a second purge changes nothing
