"""Benchmark: peak memory of exporting ONE subject who has a million related rows.

    PYTHONPATH=src python bench/export_memory.py --rows 1000000

Builds a small demo datastore, gives one person `--rows` activity-log rows (plain inserts),
raises the activity section's limit to all rows, then runs the engine's streamed export
(export.json + one CSV per section + manifest, zipped) into a temporary folder. Prints a table
and, as its last line, {"rows", "seconds", "peak_rss_mb", "package_mb"}. Target: < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

import yaml

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import parse_datamap
from privacyops.demo.generate import generate_demo_datastore
from privacyops.execution.packaging import build_package

DATAMAP = Path(__file__).resolve().parents[1] / "src/privacyops/demo/datamap.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="privacyops-bench-") as tmp:
        folder = Path(tmp)
        store = folder / "demo.sqlite3"
        generate_demo_datastore(store, people=200, workspaces=1, progress=False)
        with sqlite3.connect(store) as conn:
            person, workspace = conn.execute(
                "SELECT id, workspace_id FROM people ORDER BY id LIMIT 1").fetchone()
            batch = 50_000
            for start in range(0, args.rows, batch):
                conn.executemany(
                    "INSERT INTO activity_log (workspace_id, actor_id, subject_id, action, "
                    "details, ip_address, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(workspace, person, None, "asset.viewed", f'{{"page": {n}}}',
                      f"198.51.100.{n % 250}", f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z")
                     for n in range(start, min(start + batch, args.rows))])
        document = yaml.safe_load(DATAMAP.read_text())
        document["connection"] = {"url": f"sqlite:///{store}"}
        for section in document["sections"]:
            section.pop("limit", None)  # every row, to stress the stream
        datamap = parse_datamap(document)
        started = time.perf_counter()
        with SqlDatastore(datamap, f"sqlite:///{store}", hash_key=b"bench") as datastore:
            work = folder / "package"
            work.mkdir()
            package = build_package(datastore.iter_export(Target("subject", str(person),
                                                                 str(workspace))),
                                    work, {"job_id": 1})
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = sum(package.sections.values())
    print(f"exported {rows:,} rows of one subject in {seconds:.1f} s; package "
          f"{package.size / 2**20:.1f} MB; peak RSS {peak:.0f} MB (target < 200 MB)")
    print(json.dumps({"rows": rows, "seconds": round(seconds, 1), "peak_rss_mb": round(peak, 1),
                      "package_mb": round(package.size / 2**20, 1)}))


if __name__ == "__main__":
    main()
