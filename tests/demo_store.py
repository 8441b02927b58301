"""A real demo datastore (SQLite file) with its data map and two tenants, for execution tests."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from privacyops.demo.generate import DemoWorkspace, generate_demo_datastore
from privacyops.execution.demo import write_demo_datamap
from privacyops.tenancy.models import Tenant
from tests import factories


@dataclass
class DemoStore:
    path: Path
    tenant: Tenant
    other_tenant: Tenant

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, params).fetchall()

    def erasable_person(self, offset: int = 0) -> int:
        rows = self.query(
            "SELECT p.id FROM people p WHERE p.workspace_id = ? AND p.role = 'member' "
            "AND p.erased_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id "
            "AND h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s "
            "WHERE s.person_id = p.id AND s.revoked_at IS NULL) ORDER BY p.id",
            int(factories.tenant_key(self.tenant)),
        )
        return rows[offset][0]


# Generated once per test process (and day: rows are anchored to the start of the UTC day);
# each test gets a copy of the file, byte for byte what generating it again would write.
_TEMPLATES: dict[str, tuple[Path, tuple[DemoWorkspace, ...]]] = {}


def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[DemoWorkspace, ...]]:
    day = datetime.now(UTC).date().isoformat()
    if day not in _TEMPLATES:
        path = tmp_path_factory.mktemp("demo-store-template") / "demo.sqlite3"
        summary = generate_demo_datastore(path, people=150, workspaces=2, progress=False)
        _TEMPLATES[day] = (path, summary.workspaces)
    return _TEMPLATES[day]


@pytest.fixture
def demo_store(tmp_path, tmp_path_factory, settings, transactional_db) -> DemoStore:
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    path = tmp_path / "demo.sqlite3"
    template, workspaces = _demo_template(tmp_path_factory)
    shutil.copyfile(template, path)
    write_demo_datamap(path)
    tenants = [
        factories.tenant_create(slug=ws.slug, name=ws.name, datastore_key=str(ws.id),
                                datamap_name="demo")
        for ws in workspaces
    ]
    return DemoStore(path, tenants[0], tenants[1])
