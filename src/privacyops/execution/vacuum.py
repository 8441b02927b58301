"""VACUUM after an erasure on PostgreSQL, once the job's outcome is recorded.

An UPDATE or DELETE on PostgreSQL leaves the old row versions in the table's file until vacuum
prunes them. An ERASE or PURGE names the tables it changed in its result (``vacuumed``), and the
worker vacuums them right after the job is recorded Completed: the person's answer, the job page
and the API do not wait for it (VACUUM of a large table takes longer than the erasure itself).
A VACUUM that fails, or a worker that dies before it, only leaves the pruning to autovacuum.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from privacyops.execution.ledger import vacuum_after_erase

if TYPE_CHECKING:
    from privacyops.connectors.sql import SqlDatastore
    from privacyops.jobs.models import Job


def vacuum_planned(datastore: SqlDatastore, tables: Iterable[str]) -> list[str]:
    """The tables the worker will VACUUM once the job is recorded: the changed ones, on
    PostgreSQL, unless PRIVACYOPS_VACUUM_AFTER_ERASE is off."""
    if not settings.VACUUM_AFTER_ERASE or datastore.engine.dialect.name != "postgresql":
        return []
    return list(dict.fromkeys(tables))


def vacuum_after_job(job: Job, result: dict[str, Any]) -> list[str]:
    """VACUUM the tables a completed single-system ERASE or PURGE planned to."""
    from privacyops.execution.registry import datastore_for

    tables = result.get("vacuumed") or []
    if not tables:
        return []
    return vacuum_after_erase(datastore_for(job.tenant), tables)
