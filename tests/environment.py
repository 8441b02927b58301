"""Loaded first (`-p tests.environment` in pyproject): every test run gets its own data folder
unless PRIVACYOPS_DATA_DIR is set, before Django reads its settings."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PRIVACYOPS_DATA_DIR", tempfile.mkdtemp(prefix="privacyops-test-"))
