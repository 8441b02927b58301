"""The PostgreSQL-only modules of this folder are collected only when the control DB is PostgreSQL.

They are not skipped on SQLite: they are not collected at all, so a SQLite run reports no
skips, and a PostgreSQL run always runs them (select them alone with `-m postgres`).
"""

from __future__ import annotations

import pytest
from django.conf import settings

POSTGRES_ONLY_MODULES = ["test_concurrency_postgres.py"]

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    collect_ignore = POSTGRES_ONLY_MODULES


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 is deliberately slow; these tests create many accounts and never log in."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
