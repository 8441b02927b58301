"""Which control-DB commits wait for the disk.

On PostgreSQL a COMMIT returns once its write-ahead log is flushed to disk: a few milliseconds
each. What a worker writes to pick a job up and keep it — the queue's claim, the job's lease
and start, a lease renewal — may be lost in a crash of the database server without harm: the
job is picked up again, and a job's work is idempotent (an erasure re-applied changes nothing,
an export is packaged anew). Those transactions commit without waiting for the flush
(`synchronous_commit = off`; a server crash can lose the last fraction of a second of them and
never corrupts anything). A job's creation, approval and outcome, and the audit events that
record them, keep waiting. On SQLite (WAL, `synchronous=NORMAL`) commits never wait for a
sync anyway.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, transaction


def commit_without_waiting(using: str = DEFAULT_DB_ALIAS) -> None:
    """Called inside a transaction: its COMMIT returns before the WAL reaches the disk
    (PostgreSQL; elsewhere, or outside a transaction, nothing)."""
    connection = transaction.get_connection(using)
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
