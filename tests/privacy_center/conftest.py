import pytest
from django.core.cache import cache

from tests.workspace.demo_store import acme, demo_store, demo_template, globex, people

__all__ = ["acme", "demo_store", "demo_template", "globex", "people"]


@pytest.fixture(autouse=True)
def _empty_rate_limits():
    # The code limits live in the cache, which the test database flush does not empty.
    cache.clear()
    yield
    cache.clear()
