"""The record of processing activities (Art. 30) from the demo map and the shop fixture."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from privacyops.datamap import load_datamap, parse_datamap
from privacyops.retention.ropa import CSV_HEADER, ropa_csv, ropa_rows
from privacyops.tenancy.models import Role
from tests import factories
from tests.fixtures.shop.builder import SHARED_DATAMAP

DEMO = Path(__file__).parents[2] / "src" / "privacyops" / "demo" / "datamap.yaml"


def by_entity(text: str) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {row["entity"]: row for row in rows}


def test_demo_map_record_lists_every_personal_entity_with_what_it_declares() -> None:
    record = by_entity(ropa_csv(ropa_rows([load_datamap(DEMO)])))

    assert next(iter(csv.reader(io.StringIO(ropa_csv([]))))) == CSV_HEADER
    assert set(record) == {"workspaces", "sso_issuers", "people", "assets",
                           "hardware_assignments", "software", "software_assignments",
                           "asset_requests", "activity_log"}
    people = record["people"]
    assert people["system"] == "demo"
    assert people["categories"] == "behavioral; contact; credential; employment; identity; technical"
    assert people["special_categories"] == ""
    assert people["purposes"] == "IT asset management; access to workplace systems"
    assert people["legal_basis"] == "Art. 6(1)(b) GDPR: employment contract"
    assert people["recipients"] == "IT service desk"
    assert people["retention"] == "not declared"
    assert record["asset_requests"]["purposes"] == "not declared"  # gaps are visible


def shop_with_declarations() -> Any:
    data = yaml.safe_load(SHARED_DATAMAP.read_text())
    tickets = data["entities"]["support_tickets"]
    tickets["fields"]["body"] = {"category": "health", "erase": {"set": "[erased]"}}
    tickets.update({"purposes": ["customer support"], "legal_basis": "Art. 6(1)(b) contract",
                    "recipients": ["helpdesk provider"],
                    "retention": {"after": "730d", "from": "created_at"}})
    data["entities"]["orders"]["keep"] = {"for": "10y", "from": "placed_at",
                                          "reason": "tax records (HGB §257)"}
    return data


def test_shop_record_marks_special_categories_retention_and_keep() -> None:
    record = by_entity(ropa_csv(ropa_rows([parse_datamap(shop_with_declarations())])))

    tickets = record["support_tickets"]
    assert tickets["categories"] == "free_text; health; technical"
    assert tickets["special_categories"] == "health"
    assert tickets["retention"] == "purge 730d after created_at"
    assert tickets["recipients"] == "helpdesk provider"
    orders = record["orders"]
    assert orders["retention"] == "purge 10y after placed_at (when the keep period ends)"
    assert orders["statutory_keep"] == "kept 10y after placed_at (tax records (HGB §257))"


@pytest.fixture
def shop_tenant(tmp_path: Path, db: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(settings, "DATAMAP_DIR", str(tmp_path))
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(shop_with_declarations()))
    return factories.tenant_create(slug="shop-1", name="Shop One", datamap_name="shop",
                                   datastore_key="1")


def test_cli_writes_csv_and_html(shop_tenant: Any, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("ropa", "--tenant", "shop-1", "--format", "csv", stdout=out)
    assert by_entity(out.getvalue())["support_tickets"]["special_categories"] == "health"

    target = tmp_path / "ropa.html"
    call_command("ropa", "--tenant", "shop-1", "--format", "html", "--out", str(target),
                 stdout=io.StringIO())
    html = target.read_text()
    assert "<h1>Record of processing activities (GDPR Art. 30)</h1>" in html
    assert "health (special)" in html
    assert "Shop One" in html
    assert "<script" not in html


def test_page_and_download_are_scoped_by_tenant(shop_tenant: Any, tenant: Any) -> None:
    staff = factories.user_create(is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get("/platform/privacy/ropa/?tenant=shop-1")
    assert page.status_code == 200
    assert "health (special)" in page.content.decode()
    download = client.get("/platform/privacy/ropa/?tenant=shop-1&format=csv")
    assert download["Content-Disposition"].startswith('attachment; filename="ropa-shop-1-')
    assert "customer support" in download.content.decode()

    outsider = factories.user_create(tenant=tenant, role=Role.ADMIN)
    client.force_login(outsider)
    assert client.get("/platform/privacy/ropa/?tenant=shop-1").status_code == 404
    assert "customer support" not in client.get("/platform/privacy/ropa/").content.decode()
