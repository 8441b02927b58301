"""A setting that needs an optional extra which is not installed stops `privacyops` with a
sentence naming the extra. The extra is made missing for real: a folder first on the import
path holds packages of the same names whose import fails, as on an install without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCALE_MODULES = ("boto3", "redis", "django_tasks_rq", "django_rq", "storages", "psycopg")


def _without(tmp_path: Path, modules: tuple[str, ...]) -> Path:
    shim = tmp_path / "shim"
    for module in modules:
        package = shim / module
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(
            f'raise ImportError("No module named {module!r} (shimmed away by the test)")\n'
        )
    return shim


def _privacyops(tmp_path: Path, *args: str, shim: Path | None, **env: str
                ) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(("PRIVACYOPS_S3_", "PRIVACYOPS_REDIS", "PRIVACYOPS_TASKS",
                                   "PRIVACYOPS_DATABASE_URL"))}
    base["PRIVACYOPS_DATA_DIR"] = str(tmp_path / "data")
    if shim is not None:
        base["PYTHONPATH"] = os.pathsep.join(
            [str(shim), *filter(None, [base.get("PYTHONPATH", "")])]
        )
    return subprocess.run([sys.executable, "-m", "privacyops.cli", *args],
                          env={**base, **env}, capture_output=True, text=True, timeout=120,
                          check=False)


S3 = {"PRIVACYOPS_S3_BUCKET": "exports", "PRIVACYOPS_S3_ACCESS_KEY_ID": "test-key",
      "PRIVACYOPS_S3_SECRET_ACCESS_KEY": "test-secret"}
RQ = {"PRIVACYOPS_TASKS_BACKEND": "rq", "PRIVACYOPS_REDIS_URL": "redis://127.0.0.1:6379/15"}


class TestScaleExtra:
    @pytest.mark.parametrize(("settings_", "setting_name"), [
        (S3, "PRIVACYOPS_S3_BUCKET"),
        (RQ, "PRIVACYOPS_TASKS_BACKEND=rq"),
        ({"PRIVACYOPS_REDIS_URL": "redis://127.0.0.1:6379/15"}, "PRIVACYOPS_REDIS_URL"),
    ])
    def test_a_setting_that_needs_it_names_the_extra(self, tmp_path, settings_, setting_name):
        shim = _without(tmp_path, SCALE_MODULES)
        result = _privacyops(tmp_path, "manage", "check", shim=shim, **settings_)
        assert result.returncode != 0
        assert setting_name in result.stderr
        assert "pip install 'privacyops[scale]'" in result.stderr

    def test_a_postgresql_control_db_names_the_postgresql_extra(self, tmp_path):
        shim = _without(tmp_path, ("psycopg",))
        result = _privacyops(tmp_path, "manage", "check", shim=shim,
                             PRIVACYOPS_DATABASE_URL="postgresql://privacyops@db.invalid/po")
        assert result.returncode != 0
        assert "PostgreSQL PRIVACYOPS_DATABASE_URL" in result.stderr
        assert "pip install 'privacyops[postgresql]'" in result.stderr

    def test_the_embedded_default_runs_without_any_extra(self, tmp_path):
        shim = _without(tmp_path, (*SCALE_MODULES, "pymysql", "faker", "tqdm"))
        result = _privacyops(tmp_path, "manage", "check", shim=shim)
        assert result.returncode == 0, result.stderr
        assert "no issues" in result.stdout

    def test_with_the_extra_installed_the_same_settings_pass(self, tmp_path):
        result = _privacyops(tmp_path, "manage", "check", shim=None, **S3, **RQ)
        assert result.returncode == 0, result.stderr


class TestDemoExtra:
    def test_demo_names_its_extra_when_faker_is_missing(self, tmp_path):
        shim = _without(tmp_path, ("faker",))
        result = _privacyops(tmp_path, "demo", "--people", "5", "--no-progress", shim=shim)
        assert result.returncode != 0
        assert "pip install 'privacyops[demo]'" in result.stderr
