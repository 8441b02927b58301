"""Collected only on PostgreSQL (see conftest.py): real row locks, eight connections at once."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.audit.chain_tools import append_concurrently, assert_one_valid_chain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class TestConcurrentAppendsOnPostgres:
    def test_eight_threads_of_twenty_five_leave_one_chain_of_200(self):
        assert connection.vendor == "postgresql"
        append_concurrently(threads=8, per_thread=25)
        assert_one_valid_chain(threads=8, per_thread=25)
