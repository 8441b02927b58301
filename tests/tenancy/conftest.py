from __future__ import annotations

import pytest

from privacyops.tenancy.models import Role
from tests import factories


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 is deliberately slow; these tests create many accounts and never log in."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def other_tenant(db):
    """Globex, with an admin of every kind: a selector that scopes by "some admin is here"
    instead of "this viewer is an admin here" then shows Globex to Acme's admins and fails."""
    globex = factories.tenant_create(slug="globex", name="Globex")
    for role in (Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN):
        factories.user_create(email=f"globex-{role}@example.com", tenant=globex, role=role)
    return globex
