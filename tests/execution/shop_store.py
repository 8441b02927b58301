"""The shop datastore on SQLite or a real PostgreSQL database, with a backup and a restore.

The backup is a copy made outside PrivacyOps (the file, or ``CREATE DATABASE … TEMPLATE``),
as an operator's backup tool would make it; the restore puts the copy back in place.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.models import Tenant, User
from tests import factories
from tests.connectors.conftest import table_checksums
from tests.fixtures.shop.builder import SHARED_DATAMAP, build_shop

POSTGRES_URL = os.environ.get(
    "PRIVACYOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


# One oracle for "these rows are untouched": the connector tests' row checksums.
row_checksums = table_checksums


@dataclass
class ShopStore:
    backend: str
    url: str
    tenant: Tenant
    requester: User
    approver: User
    path: Path | None = None
    _admin_url: str = ""
    _names: list[str] = field(default_factory=list)

    def backup(self) -> None:
        if self.path is not None:
            shutil.copyfile(self.path, self.path.with_suffix(".backup"))
            return
        live = make_url(self.url).database
        with create_engine(self._admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"CREATE DATABASE {live}_backup TEMPLATE {live}"))
        self._names.append(f"{live}_backup")

    def restore(self) -> None:
        if self.path is not None:
            shutil.copyfile(self.path.with_suffix(".backup"), self.path)
            return
        live = make_url(self.url).database
        with create_engine(self._admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"DROP DATABASE {live} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {live} TEMPLATE {live}_backup"))

    def run(self, job_type: str, target_id: str, target_type: str = "subject") -> Job:
        from privacyops.execution.runner import run_job_now

        job = job_create(tenant_id=self.tenant.pk, job_type=job_type, target_type=target_type,
                         target_id=target_id, reason="test",
                         actor=factories.actor(self.requester))
        if job.status == JobStatus.PENDING:
            job_approve(job_id=job.pk, actor=factories.actor(self.approver))
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        return job

    def file_bytes(self) -> bytes:
        assert self.path is not None
        return self.path.read_bytes()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shop_store(request: pytest.FixtureRequest, tmp_path: Path, settings: Any,
               monkeypatch: pytest.MonkeyPatch, transactional_db: Any) -> Iterator[ShopStore]:
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    Path(settings.DATAMAP_DIR).mkdir()
    shutil.copyfile(SHARED_DATAMAP, Path(settings.DATAMAP_DIR) / "shop.yaml")
    path: Path | None = None
    names: list[str] = []
    admin_url = POSTGRES_URL
    if request.param == "sqlite":
        path = tmp_path / "shop.sqlite3"
        url = f"sqlite:///{path}"
    else:
        name = f"privacyops_ledger_{uuid.uuid4().hex[:10]}"
        with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        names.append(name)
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    build_shop(engine, customers_per_shop=5)
    engine.dispose()
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    tenant = factories.tenant_create(slug="shop-one", name="Shop One", datastore_key="1",
                                     datamap_name="shop")
    factories.tenant_create(slug="shop-two", name="Shop Two", datastore_key="2",
                            datamap_name="shop")
    store = ShopStore(request.param, url, tenant,
                      factories.user_create(email="requester@example.com", is_staff=True),
                      factories.user_create(email="approver@example.com", is_staff=True),
                      path=path, _admin_url=admin_url, _names=names)
    yield store
    if request.param == "postgresql":
        from privacyops.execution import registry

        for key in [k for k in registry._engines if k[1] == url]:
            registry._engines.pop(key).close()
        with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            for name in store._names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
