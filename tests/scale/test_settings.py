"""The scale profile is URLs in the environment; each boot runs in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from privacyops.intake.ratelimit import SUBMISSIONS_PER_WINDOW, submission_slot_take

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
artifacts = storages["default"]
print(json.dumps({
    "tasks": settings.TASKS["default"]["BACKEND"],
    "rq_url": settings.RQ_QUEUES["default"]["URL"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION"),
    "storage": type(artifacts).__name__,
    "bucket": getattr(artifacts, "bucket_name", None),
    "endpoint": getattr(artifacts, "endpoint_url", None),
    "proxy_ssl_header": getattr(settings, "SECURE_PROXY_SSL_HEADER", None),
}))
"""


def _boot(tmp_path, code: str = SHOW_SETTINGS, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRIVACYOPS_")}
    env.update({"PRIVACYOPS_DATA_DIR": str(tmp_path / "data"),
                "DJANGO_SETTINGS_MODULE": "privacyops.settings", **variables})
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def _settings(tmp_path, **variables: str) -> dict[str, object]:
    booted = _boot(tmp_path, **variables)
    assert booted.returncode == 0, booted.stderr
    return dict(json.loads(booted.stdout))


def _refused(tmp_path, **variables: str) -> str:
    booted = _boot(tmp_path, **variables)
    assert booted.returncode != 0, booted.stdout
    assert "ImproperlyConfigured" in booted.stderr
    return booted.stderr.strip().splitlines()[-1]


class TestTasksBackendSwitch:
    def test_default_is_the_database_queue_and_cache(self, tmp_path):
        shown = _settings(tmp_path)
        assert shown["tasks"] == "django_tasks_db.DatabaseBackend"
        assert shown["cache"] == "django.core.cache.backends.db.DatabaseCache"
        assert shown["storage"] == "FileSystemStorage"

    def test_rq_puts_queue_and_rate_limit_cache_on_the_same_redis(self, tmp_path):
        url = "redis://redis.invalid:6379/3"
        shown = _settings(tmp_path, PRIVACYOPS_TASKS_BACKEND="rq", PRIVACYOPS_REDIS_URL=url)
        assert shown["tasks"] == "django_tasks_rq.RQBackend"
        assert shown["rq_url"] == url
        assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"
        assert shown["cache_location"] == url

    def test_rq_without_a_redis_url_fails_at_boot_naming_the_variable(self, tmp_path):
        sentence = _refused(tmp_path, PRIVACYOPS_TASKS_BACKEND="rq")
        assert "PRIVACYOPS_TASKS_BACKEND=rq needs PRIVACYOPS_REDIS_URL" in sentence

    def test_an_unknown_backend_fails_at_boot(self, tmp_path):
        sentence = _refused(tmp_path, PRIVACYOPS_TASKS_BACKEND="celery")
        assert "PRIVACYOPS_TASKS_BACKEND must be db, rq or immediate, got 'celery'" in sentence

    def test_rq_passes_django_checks(self, tmp_path):
        booted = _boot(tmp_path, "import django; from django.core.management import "
                       "call_command; django.setup(); call_command('check')",
                       PRIVACYOPS_TASKS_BACKEND="rq",
                       PRIVACYOPS_REDIS_URL="redis://redis.invalid:6379/0")
        assert booted.returncode == 0, booted.stderr
        assert "no issues" in booted.stdout


class TestProductionSecrets:
    def test_boot_without_secret_key_names_the_variable(self, tmp_path):
        sentence = _refused(tmp_path, PRIVACYOPS_ENV="production",
                            PRIVACYOPS_ARTIFACT_KEY="an-artifact-secret-for-tests")
        assert "PRIVACYOPS_SECRET_KEY is not set. Set it to a long random value" in sentence

    def test_boot_without_artifact_key_names_the_variable(self, tmp_path):
        sentence = _refused(tmp_path, PRIVACYOPS_ENV="production",
                            PRIVACYOPS_SECRET_KEY="a-secret-key-for-tests")
        assert "PRIVACYOPS_ARTIFACT_KEY is not set" in sentence

    def test_boot_with_both_secrets_succeeds(self, tmp_path):
        shown = _settings(tmp_path, PRIVACYOPS_ENV="production",
                          PRIVACYOPS_SECRET_KEY="a-secret-key-for-tests",
                          PRIVACYOPS_ARTIFACT_KEY="an-artifact-secret-for-tests")
        assert shown["tasks"] == "django_tasks_db.DatabaseBackend"
        assert not (tmp_path / "data" / "secret.key").exists()


S3 = {"PRIVACYOPS_S3_BUCKET": "exports", "PRIVACYOPS_S3_ENDPOINT_URL": "http://s3.invalid:9000",
      "PRIVACYOPS_S3_REGION": "eu-central-1"}


class TestS3Settings:
    def test_bucket_with_keys_stores_artifacts_on_s3(self, tmp_path):
        shown = _settings(tmp_path, **S3, PRIVACYOPS_S3_ACCESS_KEY_ID="key-id",
                          PRIVACYOPS_S3_SECRET_ACCESS_KEY="key-secret")
        assert shown["storage"] == "S3Storage"
        assert shown["bucket"] == "exports"
        assert shown["endpoint"] == "http://s3.invalid:9000"

    @pytest.mark.parametrize("missing", ["PRIVACYOPS_S3_ACCESS_KEY_ID",
                                         "PRIVACYOPS_S3_SECRET_ACCESS_KEY"])
    def test_bucket_without_a_key_fails_at_boot_naming_it(self, tmp_path, missing):
        keys = {"PRIVACYOPS_S3_ACCESS_KEY_ID": "key-id",
                "PRIVACYOPS_S3_SECRET_ACCESS_KEY": "key-secret"}
        del keys[missing]
        sentence = _refused(tmp_path, **S3, **keys)
        assert sentence.endswith(f"{missing} is not set. PRIVACYOPS_S3_BUCKET keeps export "
                                 "artifacts on S3, which needs PRIVACYOPS_S3_ACCESS_KEY_ID and "
                                 "PRIVACYOPS_S3_SECRET_ACCESS_KEY in the environment.")


class TestBehindAProxy:
    def test_trusted_proxy_makes_https_requests_secure(self, tmp_path):
        assert _settings(tmp_path)["proxy_ssl_header"] is None
        shown = _settings(tmp_path, PRIVACYOPS_TRUSTED_PROXY_COUNT="1")
        assert shown["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]


TAKE_A_SLOT = """
import django
django.setup()
from privacyops.intake.ratelimit import submission_slot_take
print(submission_slot_take(address_hash="{address}"))
"""


class TestSharedRateLimit:
    def test_another_machine_sees_the_slots_taken_here(self, tmp_path, settings, redis_url):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": redis_url}}
        address = "a" * 64
        for _ in range(SUBMISSIONS_PER_WINDOW):
            assert submission_slot_take(address_hash=address) is None

        other = _boot(tmp_path, TAKE_A_SLOT.format(address=address),
                      PRIVACYOPS_REDIS_URL=redis_url)
        fresh = _boot(tmp_path, TAKE_A_SLOT.format(address="b" * 64),
                      PRIVACYOPS_REDIS_URL=redis_url)

        assert other.returncode == 0, other.stderr
        datetime.fromisoformat(other.stdout.strip())  # refused: the time the next slot frees
        assert fresh.stdout.strip() == "None", fresh.stderr
