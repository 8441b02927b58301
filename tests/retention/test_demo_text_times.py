"""A retention rule on the demo datastore, whose times are ISO 8601 text (``...Z``)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine
import yaml
from django.conf import settings
from django.core.management import call_command

from privacyops.jobs.models import Job
from tests import factories
from tests.demo_store import demo_store

__all__ = ["demo_store"]


def test_rows_at_or_before_the_cut_go_text_times_compared_as_times(demo_store: Any) -> None:
    path = Path(settings.DATAMAP_DIR) / "demo.yaml"
    datamap = yaml.safe_load(path.read_text())
    datamap["entities"]["activity_log"]["retention"] = {"after": "30d", "from": "created_at"}
    path.write_text(yaml.safe_dump(datamap, sort_keys=False))
    key = int(factories.tenant_key(demo_store.tenant))
    times = [t for (t,) in demo_store.query(
        "SELECT created_at FROM activity_log WHERE workspace_id = ? ORDER BY created_at", key)]
    middle = times[len(times) // 2]
    cut = datetime.strptime(middle, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    at_or_before = sum(1 for t in times if t <= middle)
    assert 0 < at_or_before < len(times)

    with time_machine.travel(cut + timedelta(days=30), tick=False):
        call_command("retention", "run", "--tenant", demo_store.tenant.slug, stdout=io.StringIO())

    job = Job.objects.get(tenant=demo_store.tenant, target_type="retention")
    assert job.result["due"] == at_or_before
    assert job.result["rows_removed"] + job.result["held"] == at_or_before
    left = [t for (t,) in demo_store.query(
        "SELECT created_at FROM activity_log WHERE workspace_id = ?", key)]
    assert len(left) == len(times) - job.result["rows_removed"]
    other = demo_store.query("SELECT count(*) FROM activity_log WHERE workspace_id = ?",
                             int(factories.tenant_key(demo_store.other_tenant)))
    assert other[0][0] > 0
