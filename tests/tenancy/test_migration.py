"""The data migration that turns each tenant's data map and key into its first system."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.tenancy.clinic import DATAMAP

BEFORE = [("tenancy", "0001_initial")]
AFTER = [("tenancy", "0002_systems_from_tenant_datastore")]


@pytest.mark.django_db(transaction=True)
def test_each_tenant_with_a_data_map_gets_a_first_system(settings, tmp_path):
    settings.DATAMAP_DIR = str(tmp_path)
    (tmp_path / "clinic.yaml").write_text(DATAMAP.read_text())
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        old_tenant = old.get_model("tenancy", "Tenant")
        old_tenant.objects.create(slug="nord", name="Nord", datamap_name="clinic",
                                 datastore_key="1", approval_required_types=["ERASE"])
        old_tenant.objects.create(slug="sud", name="Sud", datamap_name="clinic",
                                 datastore_key="2", approval_required_types=["ERASE"])
        old_tenant.objects.create(slug="empty", name="Empty", approval_required_types=[])

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        system_model = new.get_model("tenancy", "System")
        rows = sorted(system_model.objects.values_list(
            "tenant__slug", "name", "connector_type", "datamap_name", "connection_ref",
            "datastore_key"))
        assert rows == [("nord", "clinic", "sql", "clinic", "CLINIC_DATABASE_URL", "1"),
                        ("sud", "clinic", "sql", "clinic", "CLINIC_DATABASE_URL", "2")]
        assert new.get_model("tenancy", "Tenant").objects.filter(is_active=True).count() == 3

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)  # and back: the first system's map and key return
        back = executor.loader.project_state(BEFORE).apps
        keys = dict(back.get_model("tenancy", "Tenant").objects.values_list("slug",
                                                                            "datastore_key"))
        assert keys == {"nord": "1", "sud": "2", "empty": ""}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
