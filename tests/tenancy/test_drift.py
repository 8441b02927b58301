"""`privacyops system test` runs the live check; drift is kept, audited once, and shown.

The datastore is written here with SQLAlchemy Core on SQLite, PostgreSQL and MariaDB; each
test changes the map or the database the way a person would (a typo in the map, a column the
application added later) and looks at what an operator sees: the command's output, the audit
log, the badges of Platform → Tenants and the overview.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text, create_engine
from sqlalchemy import text as sql

from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import audit_verify
from privacyops.jobs.management.commands.worker import drift_check_daily
from privacyops.tenancy.models import System
from tests import factories
from tests.connectors.conftest import database_url, new_database

__all__ = ["database_url", "new_database"]

PHONE = "+33 1 23 45 67 89"
MAP: dict[str, Any] = {
    "version": 1,
    "name": "shop",
    "connection": {"url_env": "DRIFT_SHOP_URL"},
    "tenant_column": "shop_id",
    "subject": {"entity": "customers", "identity_fields": ["email"]},
    "scopes": {"tenant": "shops"},
    "entities": {
        "shops": {"table": "shops", "primary_key": "id",
                  "fields": {"name": {"category": "other"}}},
        "customers": {"table": "customers", "primary_key": "id", "fields": {
            "email": {"category": "contact",
                      "erase": {"pseudonym": "erased-{id}@shop.invalid"}},
            "billing_address": {"category": "location", "erase": None},
        }},
    },
}


def _build(url: str) -> None:
    metadata = MetaData()
    Table("shops", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("name", String(100), nullable=False))
    Table("customers", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("shop_id", Integer, ForeignKey("shops.id"), nullable=False, index=True),
          Column("email", String(255), nullable=False), Column("billing_address", Text))
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sql("INSERT INTO shops (id, name) VALUES (1, 'Shop')"))
        conn.execute(sql("INSERT INTO customers (id, shop_id, email) VALUES "
                         "(1, 1, 'ana@example.com'), (2, 1, 'ben@example.com')"))
    engine.dispose()


def _alter(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sql(statement))
    engine.dispose()


def _install(tmp_path: Path, settings: Any, data: dict[str, Any]) -> None:
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    Path(settings.DATAMAP_DIR).mkdir(parents=True, exist_ok=True)
    (Path(settings.DATAMAP_DIR) / "shop.yaml").write_text(yaml.safe_dump(data))


@pytest.fixture
def shop(tenant, database_url, tmp_path, settings, monkeypatch) -> System:
    """The tenant's `shop` system on a fresh datastore that matches its map exactly."""
    _build(database_url)
    monkeypatch.setenv("DRIFT_SHOP_URL", database_url)
    _install(tmp_path, settings, MAP)
    call_command("system", "add", "--tenant", tenant.slug, "--name", "shop", "--datamap",
                 "shop", "--key", "1")
    return System.objects.get(name="shop")


def _system_test(capsys: pytest.CaptureFixture[str], *, fails: bool = False) -> str:
    capsys.readouterr()
    if fails:
        with pytest.raises(CommandError, match="has a problem"):
            call_command("system", "test", "shop")
    else:
        call_command("system", "test", "shop")
    return capsys.readouterr().out


def _drift_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="system.drift_detected").order_by("seq"))


@pytest.mark.django_db
class TestSystemTestRunsTheLiveCheck:
    def test_a_matching_map_passes_with_no_drift(self, shop, capsys):
        out = _system_test(capsys)

        assert "ok    schema: 2 tables and every column the map names exist" in out
        assert "ok    drift: every column of the mapped tables is in the data map" in out
        assert "ok    subjects: 2 customers rows for tenant key 1" in out
        shop.refresh_from_db()
        assert shop.drift_checked_at is not None
        assert shop.drift_keys == []
        assert _drift_events() == []

    def test_a_misspelt_column_fails_with_its_path(self, shop, tmp_path, settings, capsys):
        data = json.loads(json.dumps(MAP))
        fields = data["entities"]["customers"]["fields"]
        fields["billing_adress"] = fields.pop("billing_address")
        _install(tmp_path, settings, data)

        out = _system_test(capsys, fails=True)

        assert "FAIL  schema: 1 problem between the data map and the database" in out
        assert ("entities.customers.fields.billing_adress: table 'customers' has no column "
                "'billing_adress'; did you mean 'billing_address'?") in out
        assert "(database: customers.billing_adress)" in out
        assert "subjects:" not in out

    def test_a_column_added_after_the_map_is_drift_audited_once(self, shop, database_url,
                                                                 capsys):
        _alter(database_url, "ALTER TABLE customers ADD mobile_phone VARCHAR(40)",
               "UPDATE customers SET mobile_phone = '+33 1 23 45 67 89'")

        first = _system_test(capsys)
        again = _system_test(capsys)

        assert "WARN  drift: 1 unmapped object looks personal" in first
        assert "customers.mobile_phone: not in the data map; looks personal" in first
        assert "New drift recorded (audited): customers.mobile_phone" in first
        assert "WARN  drift:" in again
        assert "New drift recorded" not in again
        events = _drift_events()
        assert len(events) == 1
        assert events[0].tenant_id == shop.tenant_id
        assert events[0].target_id == str(shop.pk)
        assert events[0].metadata["new"] == [{"table": "customers", "column": "mobile_phone"}]
        stored = json.dumps([e.metadata for e in AuditEvent.objects.all()])
        assert PHONE not in stored
        assert "example.com" not in stored
        shop.refresh_from_db()
        assert shop.drift_keys == ["customers.mobile_phone"]
        assert PHONE not in json.dumps(shop.drift_unmapped)

    def test_new_drift_beside_known_drift_is_audited_alone(self, shop, database_url, capsys):
        url = database_url
        _alter(url, "ALTER TABLE customers ADD mobile_phone VARCHAR(40)")
        _system_test(capsys)
        _alter(url, "ALTER TABLE customers ADD passport_number VARCHAR(20)")

        out = _system_test(capsys)

        assert "New drift recorded (audited): customers.passport_number" in out
        events = _drift_events()
        assert [e.metadata["new"] for e in events] == [
            [{"table": "customers", "column": "mobile_phone"}],
            [{"table": "customers", "column": "passport_number"}],
        ]
        assert events[1].metadata["unmapped"] == ["customers.mobile_phone",
                                                  "customers.passport_number"]
        assert audit_verify().ok

    def test_mapping_the_column_clears_the_drift(self, shop, database_url, tmp_path, settings,
                                                 capsys):
        _alter(database_url, "ALTER TABLE customers ADD mobile_phone VARCHAR(40)")
        _system_test(capsys)
        data = json.loads(json.dumps(MAP))
        data["entities"]["customers"]["fields"]["mobile_phone"] = {"category": "contact",
                                                                   "erase": None}
        _install(tmp_path, settings, data)

        out = _system_test(capsys)

        assert "ok    drift: every column of the mapped tables is in the data map" in out
        shop.refresh_from_db()
        assert shop.drift_keys == []
        assert len(_drift_events()) == 1


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
class TestBadges:
    @pytest.fixture
    def drifted(self, shop, database_url, capsys) -> System:
        _alter(database_url, "ALTER TABLE customers ADD mobile_phone VARCHAR(40)")
        _system_test(capsys)
        shop.refresh_from_db()
        return shop

    def test_staff_see_the_badge_the_list_and_the_overview_notice(self, drifted, staff):
        client = _client(staff)

        listing = client.get("/platform/tenants/").content.decode()
        page = client.get(f"/platform/tenants/{drifted.tenant_id}/").content.decode()
        overview = client.get("/platform/privacy/").content.decode()

        assert "Schema drift: 1" in listing
        assert f'id="drift-{drifted.pk}"' in page
        assert "<code>customers.mobile_phone</code>: not in the data map" in page
        assert "its name suggests" in page
        assert "1 system has unmapped personal-looking columns" in overview

    def test_the_api_lists_the_drift_keys(self, drifted, staff):
        from tests.api.conftest import api_as

        listed = api_as(staff).get(f"/tenants/{drifted.tenant_id}/systems").json()

        assert listed[0]["drift_keys"] == ["customers.mobile_phone"]
        assert listed[0]["drift_checked_at"] is not None

    def test_no_drift_no_badge(self, shop, staff, capsys):
        _system_test(capsys)
        client = _client(staff)

        assert "Schema drift" not in client.get("/platform/tenants/").content.decode()
        assert "Schema drift" not in client.get("/platform/privacy/").content.decode()

    def test_the_tenants_own_admin_sees_it_another_tenants_admin_does_not(
            self, drifted, other_tenant):
        own = factories.user_create(tenant=drifted.tenant, role="admin")
        other = factories.user_create(tenant=other_tenant, role="admin")

        own_overview = _client(own).get("/platform/privacy/").content.decode()
        other_client = _client(other)
        other_listing = other_client.get("/platform/tenants/").content.decode()
        other_overview = other_client.get("/platform/privacy/").content.decode()

        assert "1 system has unmapped personal-looking columns" in own_overview
        assert "Schema drift" not in other_listing
        assert "mobile_phone" not in other_listing
        assert "Schema drift" not in other_overview
        assert other_client.get(f"/platform/tenants/{drifted.tenant_id}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_worker_records_drift_on_its_daily_pass(shop, database_url):
    _alter(database_url, "ALTER TABLE customers ADD mobile_phone VARCHAR(40)")
    stop = threading.Event()
    worker = threading.Thread(target=drift_check_daily, args=(stop,),
                              kwargs={"first_after": 0.01, "every": 3600.0}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while not AuditEvent.objects.filter(action="system.drift_detected").exists() \
            and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    worker.join(timeout=60)

    shop.refresh_from_db()
    assert shop.drift_keys == ["customers.mobile_phone"]
    assert shop.drift_checked_at is not None
    event = AuditEvent.objects.get(action="system.drift_detected")
    assert event.actor_type == "system"
