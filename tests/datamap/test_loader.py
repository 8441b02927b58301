"""Loading and validating data maps: errors name the path and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from privacyops.datamap import (
    DataMapError,
    DataMapGraph,
    check_datamap_file,
    load_datamap,
    parse_datamap,
    resolve_connection_url,
)
from tests.fixtures.shop.builder import PER_TENANT_DATAMAP, SHARED_DATAMAP

DEMO = Path(__file__).parents[2] / "src" / "privacyops" / "demo" / "datamap.yaml"


@pytest.fixture
def shop() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SHARED_DATAMAP.read_text())
    return copy.deepcopy(data)


def issues_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DataMapError) as raised:
        parse_datamap(data)
    return dict(raised.value.issues)


class TestShippedDataMaps:
    def test_demo_shop_and_per_tenant_maps_load(self) -> None:
        demo = load_datamap(DEMO)
        per_tenant = load_datamap(PER_TENANT_DATAMAP)

        assert [s.name for s in demo.sections] == [
            "data_subject", "hardware_assignments", "software_assignments", "asset_requests",
            "activity"]
        assert demo.scope_entities() == {"subject": "people", "tenant": "workspaces",
                                         "issuer": "sso_issuers"}
        assert load_datamap(SHARED_DATAMAP).is_shared is True
        assert per_tenant.is_shared is False

    def test_demo_erase_actions_follow_the_gdpr_screen(self) -> None:
        people = load_datamap(DEMO).entities["people"].fields

        assert people["email"].erase.pseudonym_for("7", "1") == "erased-user-7@erased.local"
        assert people["password_hash"].erase.kind == "null"
        assert people["password_hash"].export is False
        assert people["employment_status"].erase.value == "offboarded"

    def test_issuer_purge_order_deletes_children_first(self) -> None:
        graph = DataMapGraph(load_datamap(DEMO))

        order = graph.delete_order(graph.reachable("issuer"))

        assert order.index("activity_log") < order.index("people") < order.index("sso_issuers")


class TestValidationErrors:
    def test_unknown_relation_target_names_its_path(self, shop: dict[str, Any]) -> None:
        shop["entities"]["orders"]["relations"][0]["to"] = "clients"

        issues = issues_of(shop)

        assert "unknown entity or scope 'clients'" in issues["entities.orders.relations[0].to"]

    def test_empty_via_names_its_path(self, shop: dict[str, Any]) -> None:
        shop["entities"]["orders"]["relations"][0]["via"] = []

        assert "entities.orders.relations[0].via" in issues_of(shop)

    def test_literal_database_url_is_refused_with_the_fix(self, shop: dict[str, Any]) -> None:
        shop["connection"] = {"url": "postgresql://shop:hunter2@db.example.com/shop"}

        message = issues_of(shop)["connection.url"]

        assert "url_env" in message
        assert "credentials" in message

    def test_literal_sqlite_url_is_allowed(self, shop: dict[str, Any]) -> None:
        shop["connection"] = {"url": "sqlite:///shop.sqlite3"}

        assert parse_datamap(shop).connection.url == "sqlite:///shop.sqlite3"

    def test_bad_erase_action_and_category(self, shop: dict[str, Any]) -> None:
        fields = shop["entities"]["customers"]["fields"]
        fields["email"]["erase"] = "scramble"
        fields["phone"]["category"] = "phone"
        fields["full_name"]["erase"] = {"pseudonym": "erased-{name}"}

        issues = issues_of(shop)

        assert "{set: <value>}" in issues["entities.customers.fields.email.erase"]
        assert "'contact'" in issues["entities.customers.fields.phone.category"]
        assert "{id}" in issues["entities.customers.fields.full_name.erase"]

    def test_unknown_key_lists_the_allowed_ones(self, shop: dict[str, Any]) -> None:
        shop["entities"]["orders"]["relation"] = []

        message = issues_of(shop)["entities.orders.relation"]

        assert "relations" in message

    def test_undeclared_columns_in_sections_and_preconditions(self, shop: dict[str, Any]) -> None:
        shop["sections"][2]["fields"] = ["status", "coupon_code"]
        shop["sections"][1]["order_by"] = "-moved_in_at"
        shop["preconditions"][0]["where"] = {"state": "pending"}
        shop["subject"]["display_fields"]["name"] = "nickname"

        issues = issues_of(shop)

        assert "coupon_code" in issues["sections[2].fields[1]"]
        assert "moved_in_at" in issues["sections[1].order_by"]
        assert "state" in issues["preconditions[0].where.state"]
        assert "nickname" in issues["subject.display_fields.name"]

    def test_non_exported_field_in_a_section_is_refused(self, shop: dict[str, Any]) -> None:
        shop["sections"][0]["fields"].append("erased_at")

        assert "export: false" in issues_of(shop)["sections[0].fields[9]"]

    def test_ownership_cycle_is_refused_with_the_fix(self, shop: dict[str, Any]) -> None:
        shop["entities"]["customers"]["relations"] = [{"to": "orders", "via": "referred_by_id"}]

        issues = issues_of(shop)

        (path, message), = issues.items()
        assert path.startswith("entities.")
        assert "cycle" in message
        assert "references" in message

    def test_entity_no_scope_reaches_is_refused(self, shop: dict[str, Any]) -> None:
        shop["entities"]["order_items"]["tenant_column"] = None
        shop["entities"]["order_items"]["relations"] = []

        assert "no scope reaches" in issues_of(shop)["entities.order_items"]

    def test_per_tenant_connection_with_a_tenant_column_is_refused(
        self, shop: dict[str, Any]
    ) -> None:
        shop["connection"] = {"per_tenant": {"url_env_template": "SHOP_DB_{tenant}"}}

        assert "per tenant" in issues_of(shop)[""]

    def test_check_file_reports_human_lines(self, tmp_path: Path,
                                            shop: dict[str, Any]) -> None:
        shop["entities"]["orders"]["relations"][0]["to"] = "clients"
        path = tmp_path / "shop.yaml"
        path.write_text(yaml.safe_dump(shop, sort_keys=False))
        broken = tmp_path / "broken.yaml"
        broken.write_text("name: [unclosed\n")

        lines = check_datamap_file(path)

        assert lines[0] == (f"{path}: entities.orders.relations[0].to: unknown entity or scope "
                         "'clients'; expected one of: customers, addresses, orders, "
                            "order_items, support_tickets")
        assert "not valid YAML at line" in check_datamap_file(broken)[0]
        assert check_datamap_file(SHARED_DATAMAP) == []


class TestConnectionUrl:
    def test_url_comes_from_the_named_variable(self) -> None:
        shared = load_datamap(SHARED_DATAMAP)
        per_tenant = load_datamap(PER_TENANT_DATAMAP)
        env = {"SHOP_DATABASE_URL": "sqlite:///a.db", "SHOP_DB_7": "sqlite:///seven.db"}

        assert resolve_connection_url(shared, environ=env) == "sqlite:///a.db"
        assert resolve_connection_url(per_tenant, "7", environ=env) == "sqlite:///seven.db"
        with pytest.raises(DataMapError, match="SHOP_DB_8 is not set"):
            resolve_connection_url(per_tenant, "8", environ=env)


class TestCategories:
    def test_gdpr_categories_and_declared_custom_ones_load(self, shop: dict[str, Any]) -> None:
        shop["categories"] = {"loyalty": {"description": "tier and points"}}
        fields = shop["entities"]["customers"]["fields"]
        fields["birth_date"] = {"category": "health", "erase": None}
        fields["marketing_opt_in"] = {"category": "loyalty", "erase": {"set": False}}
        shop["entities"]["orders"]["fields"]["total_cents"] = {"category": "financial"}

        datamap = parse_datamap(shop)

        assert datamap.is_special("health")
        assert datamap.is_special("criminal")
        assert not datamap.is_special("loyalty")
        assert datamap.special_categories_of("customers") == ["health"]

    def test_an_undeclared_category_names_its_path(self, shop: dict[str, Any]) -> None:
        shop["entities"]["customers"]["fields"]["status"]["category"] = "loyalty"

        issue = issues_of(shop)["entities.customers.fields.status.category"]

        assert "unknown category 'loyalty'" in issue
        assert "declare it under `categories:`" in issue

    def test_a_special_category_kept_or_without_erase_action_is_an_error(
            self, shop: dict[str, Any]) -> None:
        fields = shop["entities"]["customers"]["fields"]
        fields["birth_date"] = {"category": "health"}
        fields["status"] = {"category": "religious_belief", "erase": "keep"}
        fields["phone"] = {"category": "criminal", "erase": "hash"}

        issues = issues_of(shop)

        assert "special category" in issues["entities.customers.fields.birth_date.erase"]
        assert "not keep" in issues["entities.customers.fields.status.erase"]
        assert "entities.customers.fields.phone.erase" not in issues
        assert len(issues) == 2

    def test_a_custom_category_may_be_special_and_may_not_shadow_a_builtin(
            self, shop: dict[str, Any]) -> None:
        shop["categories"] = {"union_dues": {"description": "dues", "special": True},
                              "health": {"description": "again"}}
        shop["entities"]["customers"]["fields"]["status"]["category"] = "union_dues"

        issues = issues_of(shop)

        assert "'health' is a built-in category" in issues["categories"]
        del shop["categories"]["health"]
        shop["entities"]["customers"]["fields"]["status"]["erase"] = "keep"
        assert "special category" in issues_of(shop)["entities.customers.fields.status.erase"]
