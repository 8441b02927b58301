"""Shared fixtures. The control DB is a real SQLite file or a real PostgreSQL database."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PRIVACYOPS_DATA_DIR", tempfile.mkdtemp(prefix="privacyops-test-"))

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
