"""A worker's bookkeeping commits without waiting for the disk; nothing else does.

On PostgreSQL the setting is read back from the server (`SHOW synchronous_commit`): off inside
a transaction that asked for it, on again in the next one, so a job's outcome recorded later
on the same connection still waits for its flush. On SQLite nothing is sent at all.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from privacyops.jobs.commits import commit_without_waiting


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_only_the_transaction_that_asks_commits_without_waiting() -> None:
    if connection.vendor != "postgresql":
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            commit_without_waiting()
        assert [q["sql"] for q in queries.captured_queries
                if "synchronous" in q["sql"].lower()] == []
        return
    with transaction.atomic():
        assert _synchronous_commit() == "on"
        commit_without_waiting()
        assert _synchronous_commit() == "off"
    with transaction.atomic():
        assert _synchronous_commit() == "on"
    commit_without_waiting()  # outside a transaction: a SET LOCAL would only warn; not sent
    assert _synchronous_commit() == "on"
