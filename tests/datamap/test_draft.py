"""Drafting a data map from a live database: it loads, and its guesses are the useful ones."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import create_engine

from privacyops.datamap import DataMapGraph, parse_datamap
from privacyops.datamap.draft import draft_datamap
from privacyops.demo.schema import create_schema
from tests.fixtures.shop.builder import build_shop


def test_shop_draft_loads_and_guesses_subject_tenant_and_erasure(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    engine = create_engine(url)
    build_shop(engine)
    engine.dispose()

    text = draft_datamap(url, name="shop", url_env="SHOP_DATABASE_URL")
    datamap = parse_datamap(yaml.safe_load(text))

    assert text.startswith("# Drafted from the database")
    assert datamap.subject.entity == "customers"
    assert datamap.tenant_column == "shop_id"
    customers = datamap.entities["customers"]
    assert customers.fields["email"].erase.kind == "pseudonym"
    assert customers.fields["phone"].erase.kind == "null"
    assert customers.fields["full_name"].category == "identity"
    assert [r.to for r in customers.references] == ["customers"]
    assert datamap.entities["orders"].fields["customer_ip"].erase.kind == "hash"
    graph = DataMapGraph(datamap)
    assert set(graph.reachable("subject")) == {"customers", "addresses", "orders",
                                               "order_items", "support_tickets"}


def test_demo_draft_finds_the_workspace_as_tenant(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    engine = create_engine(url)
    create_schema(engine)
    engine.dispose()

    datamap = parse_datamap(yaml.safe_load(draft_datamap(url)))

    assert datamap.subject.entity == "people"
    assert datamap.scope_entities()["tenant"] == "workspaces"
    assert datamap.tenant_column_of("workspaces") == "id"
    assert datamap.entities["people"].fields["password_hash"].export is False
    assert datamap.subject.erased_marker is not None
    assert datamap.subject.erased_marker.column == "erased_at"
