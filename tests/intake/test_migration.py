"""The data migration from the intake statuses to the request lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

INTAKE_SCHEMA = ("intake", "0002_privacy_requests")
AFTER = [("intake", "0003_privacy_requests_data")]


@pytest.mark.django_db(transaction=True)
def test_old_statuses_map_onto_the_lifecycle():
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    # Jobs just before the migration that points jobs at requests; every other app at its
    # latest migration, so its models are current.
    job_request = next(key for key, node in graph.node_map.items()
                       if key[0] == "jobs" and any(p.key == INTAKE_SCHEMA for p in node.parents))
    jobs_before = [p.key for p in graph.node_map[job_request].parents if p.key[0] == "jobs"]
    others = [node for node in graph.leaf_nodes() if node[0] not in {"intake", "jobs"}]
    before = [("intake", "0001_initial"), *jobs_before, *others]
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        tenant = old.get_model("tenancy", "Tenant").objects.create(slug="acme", name="Acme")
        job_model, request_model = old.get_model("jobs", "Job"), old.get_model("intake",
                                                                               "IntakeRequest")
        done = job_model.objects.create(tenant=tenant, job_type="EXPORT", target_type="subject",
                                        target_id="1", status="Completed")
        running = job_model.objects.create(tenant=tenant, job_type="ERASE",
                                           target_type="subject", target_id="2",
                                           status="Approved")
        now = timezone.now()

        def old_request(token: str, status: str, **extra):
            return request_model.objects.create(
                tenant=tenant, email="Ada@Example.com", request_type="access", ip_hash="x",
                deadline_at=now + timedelta(days=30), original_deadline_at=now,
                verification_token_hash=token, verification_expires_at=now, status=status,
                **extra).pk

        ids = {
            "unverified": old_request("a", "open"),
            "verified": old_request("b", "open", verified_at=now),
            "done": old_request("c", "fulfilled", verified_at=now, job=done),
            "running": old_request("d", "fulfilled", verified_at=now, job=running),
            "closed": old_request("e", "closed", verified_at=now),
            "rejected": old_request("f", "rejected"),
        }

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        requests = new.get_model("intake", "IntakeRequest").objects
        statuses = {name: requests.get(pk=pk).status for name, pk in ids.items()}
        assert statuses == {"unverified": "received", "verified": "verified",
                            "done": "completed", "running": "in_progress",
                            "closed": "completed", "rejected": "rejected"}
        jobs = new.get_model("jobs", "Job").objects
        assert jobs.get(pk=done.pk).request_id == ids["done"]
        assert jobs.get(pk=running.pk).request_id == ids["running"]
        hashes = set(requests.values_list("identity_hash", flat=True))
        assert len(hashes) == 1 and len(hashes.pop()) == 64  # noqa: PT018 (one identity)
        events = new.get_model("intake", "RequestEvent").objects
        assert events.filter(kind="received").count() == 6
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
