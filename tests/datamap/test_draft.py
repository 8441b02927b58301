"""Drafting a data map from a live database: it loads, and its guesses are the useful ones.

The demo's hand-written map is the oracle for the demo schema; the shop and the clinic (a
schema written for the draft, with another tenant column and much free text) are judged field by
field against what a privacy engineer would write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine

from privacyops.datamap import DataMap, DataMapGraph, load_datamap, parse_datamap
from privacyops.datamap.draft import draft_datamap
from privacyops.demo.generate import generate_demo_datastore
from tests.fixtures.clinic.builder import build_clinic
from tests.fixtures.shop.builder import build_shop

DEMO_MAP = Path(__file__).parents[2] / "src" / "privacyops" / "demo" / "datamap.yaml"


def _relations(datamap: DataMap) -> set[tuple[str, str, frozenset[str]]]:
    """(table, target table, via columns) of every relation, with scopes resolved to tables."""
    scopes = datamap.scope_entities()
    found = set()
    for spec in datamap.entities.values():
        for relation in spec.relations:
            target = scopes.get(relation.to) or relation.to
            found.add((spec.table, datamap.entities[target].table, frozenset(relation.via)))
    return found


def _references(datamap: DataMap) -> set[tuple[str, str]]:
    return {(spec.table, ref.via) for spec in datamap.entities.values() for ref in spec.references}


@pytest.fixture(scope="module")
def demo_draft(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DataMap]:
    store = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    generate_demo_datastore(store, people=30, workspaces=2, progress=False)
    text = draft_datamap(f"sqlite:///{store}")
    return text, parse_datamap(yaml.safe_load(text))


class TestDemoDraft:
    def test_tenant_subject_and_markers_match_the_hand_written_map(
            self, demo_draft: tuple[str, DataMap]) -> None:
        _, draft = demo_draft
        hand = load_datamap(DEMO_MAP)

        assert draft.tenant_column == hand.tenant_column == "workspace_id"
        assert draft.scope_entities()["tenant"] == "workspaces"
        assert draft.tenant_column_of("workspaces") == "id"
        assert draft.subject.entity == hand.subject.entity
        assert draft.subject.identity_fields == hand.subject.identity_fields
        assert draft.subject.erased_marker == hand.subject.erased_marker
        assert draft.subject.soft_delete == hand.subject.soft_delete
        # A column named like *restricted* becomes the RESTRICT marker (GDPR Art. 18).
        assert draft.subject.restriction_marker == hand.subject.restriction_marker
        assert hand.subject.restriction_marker is not None

    def test_relations_and_references_match_the_hand_written_map(
            self, demo_draft: tuple[str, DataMap]) -> None:
        _, draft = demo_draft
        hand = load_datamap(DEMO_MAP)

        assert _relations(draft) == _relations(hand)
        assert _references(draft) == _references(hand)

    def test_every_field_the_hand_written_map_erases_is_erased_the_same_way(
            self, demo_draft: tuple[str, DataMap]) -> None:
        _, draft = demo_draft
        hand = load_datamap(DEMO_MAP)
        expected, drafted = {}, {}
        for name, spec in hand.entities.items():
            for column, field in spec.fields.items():
                if field.erase.kind != "keep":
                    expected[f"{name}.{column}"] = field.erase.kind
                    drafted[f"{name}.{column}"] = draft.entities[name].fields[column].erase.kind

        assert len(expected) == 14  # software_assignments.account_identifier too
        assert drafted == expected
        assert draft.entities["people"].fields["password_hash"].export is False

    def test_unclassified_columns_are_marked_for_review(
            self, demo_draft: tuple[str, DataMap]) -> None:
        text, _ = demo_draft
        lines = text.splitlines()

        review = {line.split(":")[0].strip() for line in lines if line.endswith("# REVIEW")}
        assert {"role", "status", "asset_tag", "serial_number"} <= review
        assert not review & {"email", "phone", "password_hash", "ip_address", "justification"}


class TestShopDraft:
    def test_shop_draft_guesses_subject_tenant_and_erasure(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
        engine = create_engine(url)
        build_shop(engine)
        engine.dispose()

        text = draft_datamap(url, name="shop", url_env="SHOP_DATABASE_URL")
        datamap = parse_datamap(yaml.safe_load(text))
        hand = load_datamap(Path(__file__).parents[1] / "fixtures" / "shop" / "datamap.yaml")

        assert text.startswith("# Drafted from the database")
        assert datamap.subject.entity == "customers"
        assert datamap.tenant_column == "shop_id"
        assert datamap.subject.erased_marker == hand.subject.erased_marker
        customers = datamap.entities["customers"]
        assert customers.fields["email"].erase.kind == "pseudonym"
        assert customers.fields["phone"].erase.kind == "null"
        assert customers.fields["birth_date"].erase.kind == "null"
        assert customers.fields["full_name"].category == "identity"
        assert [r.to for r in customers.references] == ["customers"]
        assert datamap.entities["orders"].fields["customer_ip"].erase.kind == "hash"
        assert datamap.entities["support_tickets"].fields["body"].category == "free_text"
        assert datamap.entities["support_tickets"].fields["body"].erase.kind != "keep"
        graph = DataMapGraph(datamap)
        assert set(graph.reachable("subject")) == {"customers", "addresses", "orders",
                                                   "order_items", "support_tickets"}


class TestClinicDraft:
    @pytest.fixture
    def clinic(self, tmp_path: Path) -> tuple[str, DataMap]:
        url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
        engine = create_engine(url)
        build_clinic(engine)
        engine.dispose()
        text = draft_datamap(url, name="clinic")
        return text, parse_datamap(yaml.safe_load(text))

    def test_tenant_column_subject_and_forgotten_marker(
            self, clinic: tuple[str, DataMap]) -> None:
        _, datamap = clinic

        assert datamap.tenant_column == "clinic_id"
        assert datamap.scope_entities()["tenant"] == "clinics"
        assert datamap.subject.entity == "patients"
        assert datamap.subject.identity_fields == ["email"]
        assert datamap.subject.erased_marker is not None
        assert datamap.subject.erased_marker.column == "forgotten_at"

    def test_the_most_sensitive_data_is_erased_by_default(
            self, clinic: tuple[str, DataMap]) -> None:
        _, datamap = clinic
        fields: dict[str, Any] = {
            f"{name}.{column}": field for name, spec in datamap.entities.items()
            for column, field in spec.fields.items()}

        assert (fields["appointments.clinical_notes"].category,
                fields["appointments.clinical_notes"].erase.kind) == ("health", "null")
        assert (fields["prescriptions.pharmacist_note"].category,
                fields["prescriptions.pharmacist_note"].erase.kind) == ("health", "null")
        assert fields["message.body"].category == "free_text"
        assert fields["message.body"].erase.kind == "set"  # NOT NULL: emptied
        assert fields["patients.insurance_number"].erase.kind == "hash"
        assert fields["invoices.iban"].erase.kind == "hash"
        # Only its values say this one is free text.
        assert fields["appointments.summary"].category == "free_text"
        assert fields["appointments.summary"].erase.kind == "null"
        assert datamap.is_special("health")

    def test_review_marks_only_what_it_could_not_classify(
            self, clinic: tuple[str, DataMap]) -> None:
        text, _ = clinic

        review = {line.split(":")[0].strip() for line in text.splitlines()
                  if line.endswith("# REVIEW")}
        assert review == {"name", "amount_cents", "speciality", "drug", "dosage", "label"}


class TestDraftOnServers:
    def test_the_clinic_drafts_the_same_on_every_backend(self, database_url: str) -> None:
        engine = create_engine(database_url)
        build_clinic(engine)
        engine.dispose()

        datamap = parse_datamap(yaml.safe_load(draft_datamap(database_url, name="clinic")))

        assert datamap.tenant_column == "clinic_id"
        assert datamap.subject.entity == "patients"
        assert datamap.subject.erased_marker is not None
        assert datamap.subject.erased_marker.column == "forgotten_at"
        appointments = datamap.entities["appointments"].fields
        assert appointments["clinical_notes"].category == "health"
        assert appointments["summary"].category == "free_text"
        assert datamap.entities["patients"].fields["insurance_number"].erase.kind == "hash"
