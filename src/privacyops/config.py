"""Every setting PrivacyOps reads from the environment, in one place.

Each variable is documented here and listed in README.md. Embedded defaults are safe for a
single machine; a production deployment (``PRIVACYOPS_ENV=production``) must set its secrets
explicitly and fails at boot with a sentence naming the variable otherwise.
"""

from __future__ import annotations

import importlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    help: str


VARIABLES: tuple[Variable, ...] = (
    Variable("PRIVACYOPS_ENV", "development", "`development` or `production` (secrets required)."),
    Variable("PRIVACYOPS_DATA_DIR", "./data", "Folder of the embedded default: SQLite, artifacts, keys."),
    Variable("PRIVACYOPS_DATABASE_URL", "sqlite:///<data dir>/control.sqlite3",
             "Control DB URL; `postgres://user@host/db` for the scale profile (needs the "
             "`postgresql` extra, part of `scale`)."),
    Variable("PRIVACYOPS_SECRET_KEY", "generated into <data dir>/secret.key",
             "Django secret key (signing, sessions)."),
    Variable("PRIVACYOPS_ARTIFACT_KEY", "generated into <data dir>/artifact.key",
             "Long random secret from which the AES-256 key of export artifacts is derived."),
    Variable("PRIVACYOPS_SIGNING_KEY_FILE", "<data dir>/signing-ed25519.pem",
             "Ed25519 private key that signs audit checkpoints; created on first use. Keep it "
             "outside the control DB and back it up apart from it."),
    Variable("PRIVACYOPS_AUDIT_CHECKPOINT_EVERY", "1000",
             "Sign the audit chain head every N events (0: only on demand and at retention cuts)."),
    Variable("PRIVACYOPS_DEBUG", "0", "`1` shows Django debug pages (never in production)."),
    Variable("PRIVACYOPS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]", "Comma-separated host names."),
    Variable("PRIVACYOPS_BASE_URL", "http://127.0.0.1:8000", "Public URL used in emailed links."),
    Variable("PRIVACYOPS_EMAIL_HOST", "", "SMTP host; empty prints emails to the console."),
    Variable("PRIVACYOPS_EMAIL_PORT", "25", "SMTP port."),
    Variable("PRIVACYOPS_EMAIL_USER", "", "SMTP user."),
    Variable("PRIVACYOPS_EMAIL_PASSWORD", "", "SMTP password."),
    Variable("PRIVACYOPS_EMAIL_USE_TLS", "0", "`1` for STARTTLS."),
    Variable("PRIVACYOPS_FROM_EMAIL", "privacy@privacyops.invalid", "Sender of every email."),
    Variable("PRIVACYOPS_TASKS_BACKEND", "db",
             "`db` (django-tasks-db), `rq` (Redis, needs PRIVACYOPS_REDIS_URL and the `scale` "
             "extra) or `immediate`."),
    Variable("PRIVACYOPS_REDIS_URL", "",
             "Redis URL (`redis://host:6379/0`) for the `rq` queue, the cache and shared rate limits "
             "(needs the `scale` extra)."),
    Variable("PRIVACYOPS_S3_BUCKET", "",
             "Bucket for export artifacts on S3-compatible storage (needs the `scale` extra); empty "
             "keeps them in the data folder."),
    Variable("PRIVACYOPS_S3_ENDPOINT_URL", "",
             "Endpoint of a non-AWS S3 service (MinIO, Ceph, …); path-style addressing when set."),
    Variable("PRIVACYOPS_S3_ACCESS_KEY_ID", "", "S3 access key id; required with PRIVACYOPS_S3_BUCKET."),
    Variable("PRIVACYOPS_S3_SECRET_ACCESS_KEY", "",
             "S3 secret access key; required with PRIVACYOPS_S3_BUCKET."),
    Variable("PRIVACYOPS_S3_REGION", "", "S3 region (`eu-central-1`); empty uses the service's default."),
    Variable("PRIVACYOPS_DATAMAP_DIR", "<data dir>/datamaps", "Folder of the data-map YAML files."),
    Variable("PRIVACYOPS_JOB_LEASE_SECONDS", "60", "A worker's lease on a job; renewed by heartbeat."),
    Variable("PRIVACYOPS_JOB_MAX_ATTEMPTS", "3", "Attempts before a job ends Failed."),
    Variable("PRIVACYOPS_PURGE_CHUNK_ROWS", "1000", "Rows deleted per PURGE transaction."),
    Variable("PRIVACYOPS_VACUUM_AFTER_ERASE", "1",
             "After an ERASE or PURGE (and a ledger replay) on PostgreSQL: `1` VACUUMs the tables "
             "it changed, `full` rewrites them with VACUUM FULL (old bytes leave the files; an "
             "exclusive lock meanwhile), `0` leaves it to autovacuum."),
    Variable("PRIVACYOPS_DOWNLOAD_LINK_DAYS", "7", "Lifetime of a signed export download link."),
    Variable("PRIVACYOPS_TRUSTED_PROXY_COUNT", "0", "Reverse proxies in front (X-Forwarded-For)."),
    Variable("PRIVACYOPS_DEMO_PASSWORD", "", "Password of the demo accounts; generated if empty."),
    Variable("PRIVACYOPS_SESSION_IDLE_MINUTES", "30",
             "A signed-in account is signed out after this many minutes without a request."),
    Variable("PRIVACYOPS_LOGIN_IP_LIMIT", "20",
             "Failed sign-ins per client address across all accounts per 15 minutes."),
    Variable("PRIVACYOPS_API_DOCS_PUBLIC", "0",
             "`1` opens /api/v1/docs and the OpenAPI document to visitors who are not signed in."),
    Variable("PRIVACYOPS_HSTS_SUBDOMAINS", "0",
             "`1` adds includeSubDomains to HSTS (production); only if every subdomain is HTTPS."),
)


TASKS_BACKENDS = {
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name, "1" if default else "0").lower()
    return value in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None


def vacuum_mode() -> str:
    """PRIVACYOPS_VACUUM_AFTER_ERASE as ``""`` (off), ``"vacuum"`` or ``"full"``."""
    raw = env("PRIVACYOPS_VACUUM_AFTER_ERASE", "1").lower()
    modes = {"0": "", "off": "", "1": "vacuum", "on": "vacuum", "full": "full"}
    if raw not in modes:
        raise ImproperlyConfigured(
            f"PRIVACYOPS_VACUUM_AFTER_ERASE must be 1, full or 0, got {raw!r}.")
    return modes[raw]


def is_production() -> bool:
    return env("PRIVACYOPS_ENV", "development") == "production"


def data_dir() -> Path:
    path = Path(env("PRIVACYOPS_DATA_DIR", "./data")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret(name: str, file_name: str, *, generate: bool = True) -> str:
    """Read a secret from the environment, or from/into the data folder in development."""
    value = env(name)
    if value:
        return value
    if is_production():
        raise ImproperlyConfigured(
            f"{name} is not set. Set it to a long random value "
            f"(python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    path = data_dir() / file_name
    if path.exists():
        return path.read_text().strip()
    if not generate:
        return ""
    value = secrets.token_urlsafe(48)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def require_extra(extra: str, modules: tuple[str, ...], wanted_by: str) -> None:
    """Fail at boot with a sentence naming the optional extra a setting needs, if it is missing.

    The scale profile's libraries (RQ, Redis, boto3) are not in the default install; a setting
    that asks for them must say how to add them, not end in an ImportError deep in a request.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ImproperlyConfigured(
                f"{wanted_by} needs the optional `{extra}` extra, which is not installed "
                f"({module} cannot be imported: {error}). Install it with "
                f"pip install 'privacyops[{extra}]' in the same environment."
            ) from None


def tasks_backend() -> str:
    """The Django Tasks backend class chosen by PRIVACYOPS_TASKS_BACKEND."""
    name = env("PRIVACYOPS_TASKS_BACKEND", "db").lower() or "db"
    if name not in TASKS_BACKENDS:
        raise ImproperlyConfigured(
            f"PRIVACYOPS_TASKS_BACKEND must be db, rq or immediate, got {name!r}."
        )
    if name == "rq" and not env("PRIVACYOPS_REDIS_URL"):
        raise ImproperlyConfigured(
            "PRIVACYOPS_TASKS_BACKEND=rq needs PRIVACYOPS_REDIS_URL. Set it to the URL of the "
            "Redis server the web processes and workers share (redis://host:6379/0)."
        )
    if name == "rq":
        require_extra("scale", ("redis", "django_rq", "django_tasks_rq"),
                      "PRIVACYOPS_TASKS_BACKEND=rq")
    return TASKS_BACKENDS[name]


def redis_url() -> str:
    """PRIVACYOPS_REDIS_URL; the Redis cache needs the redis client of the scale extra."""
    url = env("PRIVACYOPS_REDIS_URL")
    if url:
        require_extra("scale", ("redis",), "PRIVACYOPS_REDIS_URL")
    return url


def _required_with_bucket(name: str) -> str:
    value = env(name)
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. PRIVACYOPS_S3_BUCKET keeps export artifacts on S3, which "
            f"needs PRIVACYOPS_S3_ACCESS_KEY_ID and PRIVACYOPS_S3_SECRET_ACCESS_KEY in the "
            "environment."
        )
    return value


def artifact_storage(local_folder: Path) -> dict[str, object]:
    """Django storage of export artifacts: S3-compatible when a bucket is set, else a folder.

    Artifacts are encrypted before they reach storage, and downloads stream through the
    application's signed link, so the bucket stays private (no ACL, no public URL).
    """
    bucket = env("PRIVACYOPS_S3_BUCKET")
    if not bucket:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(local_folder)},
        }
    require_extra("scale", ("boto3", "storages.backends.s3"), "PRIVACYOPS_S3_BUCKET")
    endpoint = env("PRIVACYOPS_S3_ENDPOINT_URL")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "access_key": _required_with_bucket("PRIVACYOPS_S3_ACCESS_KEY_ID"),
            "secret_key": _required_with_bucket("PRIVACYOPS_S3_SECRET_ACCESS_KEY"),
            "region_name": env("PRIVACYOPS_S3_REGION") or None,
            "endpoint_url": endpoint or None,
            "addressing_style": "path" if endpoint else None,
            "default_acl": None,
            "file_overwrite": True,
            # Downloads spill to a temporary file past 8 MiB instead of filling memory.
            "max_memory_size": 8 * 1024 * 1024,
        },
    }
