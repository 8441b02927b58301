"""Real datastores on SQLite, PostgreSQL and MariaDB, shared with the connector tests."""

from tests.connectors.conftest import database_url, new_database

__all__ = ["database_url", "new_database"]
