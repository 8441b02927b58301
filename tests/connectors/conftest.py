"""Real datastores for connector tests: a SQLite file and a fresh PostgreSQL database each."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, event, select, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "PRIVACYOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MYSQL_URL = os.environ.get(
    "PRIVACYOPS_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
HASH_KEY = b"tenant-hash-key-for-tests"

NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
def new_database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[NewDatabase]:
    """A factory of empty databases on the parametrised backend, all dropped afterwards."""
    created: list[str] = []
    admin: Engine | None = None
    server_url = MYSQL_URL if request.param == "mysql" else POSTGRES_URL

    def make() -> str:
        nonlocal admin
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'datastore-{len(created)}.sqlite3'}"
            created.append(url)
            return url
        if admin is None:
            admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        name = f"privacyops_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        created.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in created:
                force = " WITH (FORCE)" if request.param == "postgresql" else ""
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


@pytest.fixture
def database_url(new_database: NewDatabase) -> str:
    return new_database()


def table_checksums(url: str) -> dict[str, dict[Any, str]]:
    """Per table, per primary key, a sha256 of the row's values (to prove rows untouched)."""
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    result: dict[str, dict[Any, str]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            pk = next(iter(table.primary_key.columns))
            result[table.name] = {
                row._mapping[pk.name]: hashlib.sha256(repr(tuple(row)).encode()).hexdigest()
                for row in conn.execute(select(table))
            }
    engine.dispose()
    return result


def fetch_rows(url: str, table_name: str) -> dict[Any, dict[str, Any]]:
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine, only=[table_name])
    table = metadata.tables[table_name]
    pk = next(iter(table.primary_key.columns))
    with engine.connect() as conn:
        rows = {row._mapping[pk.name]: dict(row._mapping) for row in conn.execute(select(table))}
    engine.dispose()
    return rows


class StatementCounter:
    """Counts the SQL statements an engine sends (``before_cursor_execute``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE"):
            self.statements.append(statement)

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)
