"""Loaded first (`-p tests.environment` in pyproject), before Django reads its settings.

Every test run gets its own data folder unless PRIVACYOPS_DATA_DIR is set. Under pytest-xdist
each worker (gw0, gw1, …) gets a folder of its own inside it: the SQLite control database,
artifacts, generated keys, the job doorbell's sockets and the data maps all live there, and
two workers must never share them. `privacyops` processes a test starts inherit the variable,
so they share their worker's folder, as processes of one deployment do.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("PRIVACYOPS_DATA_DIR", tempfile.mkdtemp(prefix="privacyops-test-"))

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and Path(os.environ["PRIVACYOPS_DATA_DIR"]).name != _worker:
    _folder = Path(os.environ["PRIVACYOPS_DATA_DIR"]) / _worker
    _folder.mkdir(parents=True, exist_ok=True)
    os.environ["PRIVACYOPS_DATA_DIR"] = str(_folder)
