"""Benchmark: time and peak RSS of generating the demo datastore.

    python bench/demo_generate.py --people 1000000

Prints a table and, as its last line, one JSON object: {"people", "seconds", "peak_rss_mb"}.
Target: peak RSS under 150 MB at any size (the generator works in bounded batches).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from privacyops.demo.generate import generate_demo_datastore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        summary = generate_demo_datastore(Path(folder) / "demo.sqlite3", people=args.people)
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"people {args.people:>10}  rows {sum(summary.counts.values()):>10}  "
          f"{seconds:8.1f} s  peak RSS {peak_mb:6.0f} MB")
    print(json.dumps({"people": args.people, "seconds": round(seconds, 2),
                      "peak_rss_mb": round(peak_mb, 1)}))


if __name__ == "__main__":
    main()
