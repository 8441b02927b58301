from __future__ import annotations

import pytest

from tests.audit.chain_tools import append_concurrently, assert_one_valid_chain


@pytest.mark.django_db(transaction=True)
class TestConcurrentAppends:
    def test_threads_appending_at_once_leave_one_valid_chain(self):
        # On SQLite the IMMEDIATE write transactions serialise the four threads.
        append_concurrently(threads=4, per_thread=25)
        assert_one_valid_chain(threads=4, per_thread=25)
