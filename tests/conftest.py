"""Shared fixtures. The control DB is a real SQLite file or a real PostgreSQL database.

The data folder (PRIVACYOPS_DATA_DIR) is chosen by tests/environment.py, loaded first.
"""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def staff(db):
    return factories.user_create(email="staff@example.com", is_staff=True)


@pytest.fixture
def other_staff(db):
    return factories.user_create(email="approver@example.com", is_staff=True)


@pytest.fixture
def tenant(db):
    return factories.tenant_create(slug="acme", name="Acme Corp")


@pytest.fixture
def other_tenant(db):
    return factories.tenant_create(slug="globex", name="Globex")
