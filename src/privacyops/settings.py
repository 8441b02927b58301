"""The one settings module; every value comes from an environment variable (see config.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url

from privacyops.config import (
    TASKS_BACKENDS,
    artifact_storage,
    data_dir,
    env,
    env_bool,
    env_int,
    is_production,
    redis_url,
    require_extra,
    secret,
    tasks_backend,
    vacuum_mode,
)

DATA_DIR = data_dir()
TASKS_BACKEND = tasks_backend()
SECRET_KEY = secret("PRIVACYOPS_SECRET_KEY", "secret.key")
DEBUG = env_bool("PRIVACYOPS_DEBUG") and not is_production()
ALLOWED_HOSTS = [h for h in env("PRIVACYOPS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
BASE_URL = env("PRIVACYOPS_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves Swagger UI from its own static files, not a CDN
    "django_tasks",
    "django_tasks_db",
    "privacyops.tenancy",
    "privacyops.audit",
    "privacyops.holds",
    "privacyops.jobs",
    "privacyops.execution",
    "privacyops.intake",
    "privacyops.privacy_center",
    "privacyops.workspace",
    "privacyops.retention",
    "privacyops.requests_mail",
    "privacyops.manual",
    "privacyops.web",
]
if TASKS_BACKEND == TASKS_BACKENDS["rq"]:
    # Only for the rq backend (the scale extra); django-rq has no tables, so switching
    # PRIVACYOPS_TASKS_BACKEND still needs no migration.
    INSTALLED_APPS.append("django_rq")

MIDDLEWARE = [
    "privacyops.logs.AccessLogRouteMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "privacyops.web.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "privacyops.web.language.PublicLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "privacyops.web.security.SessionIdleTimeoutMiddleware",
    "privacyops.web.timezones.UserTimezoneMiddleware",
    "privacyops.errors.DomainErrorMiddleware",
]

ROOT_URLCONF = "privacyops.urls"
WSGI_APPLICATION = "privacyops.wsgi.application"
AUTH_USER_MODEL = "tenancy.User"
AUTHENTICATION_BACKENDS = ["privacyops.tenancy.backends.EmailBackend"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"  # web.views.home sends each role to its page

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "privacyops.web.context.navigation",
            ],
        },
    },
]


def _database() -> dict[str, object]:
    url = env("PRIVACYOPS_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'control.sqlite3'}"
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.postgresql":
        require_extra("postgresql", ("psycopg",), "A PostgreSQL PRIVACYOPS_DATABASE_URL")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE: every write transaction takes the write lock at BEGIN, so claims and
        # chain appends serialise instead of failing with "database is locked" mid-way.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            # secure_delete: deleted and overwritten values (an erased request's email) are
            # zeroed in the file rather than left in free space.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                            "PRAGMA secure_delete=ON;",
        }
        # Tests use a real file too (a live server in another thread or process shares it).
        config["TEST"] = {"NAME": str(DATA_DIR / "test_control.sqlite3")}
        # Connections persist (conn_max_age above), as on PostgreSQL: closing the last
        # connection to a WAL database checkpoints it, which cost every request a file sync.
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# The public pages (intake form, privacy center) and the emails to data subjects are
# translated; staff pages stay English (web.language activates English there).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
LANGUAGE_COOKIE_NAME = "privacyops_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = is_production()
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # filled by `privacyops migrate` (collectstatic)
STORAGES = {
    "default": artifact_storage(DATA_DIR / "artifacts"),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = is_production()
CSRF_COOKIE_SECURE = is_production()
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if is_production():
    # Browsers remember for a year to use HTTPS only; Django sends it on HTTPS requests.
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PRIVACYOPS_HSTS_SUBDOMAINS")
# Signed-in accounts are signed out after this long without a request.
SESSION_IDLE_SECONDS = env_int("PRIVACYOPS_SESSION_IDLE_MINUTES", 30) * 60
# The interactive API docs show every operation; open them to anonymous visitors on purpose only.
API_DOCS_PUBLIC = env_bool("PRIVACYOPS_API_DOCS_PUBLIC")
if env_int("PRIVACYOPS_TRUSTED_PROXY_COUNT", 0) > 0:
    # The proxy terminates TLS; without this, CSRF's origin check refuses every HTTPS form.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

_email_host = env("PRIVACYOPS_EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if _email_host
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = _email_host or "localhost"
EMAIL_PORT = env_int("PRIVACYOPS_EMAIL_PORT", 25)
EMAIL_HOST_USER = env("PRIVACYOPS_EMAIL_USER")
EMAIL_HOST_PASSWORD = env("PRIVACYOPS_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("PRIVACYOPS_EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("PRIVACYOPS_FROM_EMAIL", "privacy@privacyops.invalid")

REDIS_URL = redis_url()
TASKS: dict[str, dict[str, object]] = {
    "default": {"BACKEND": TASKS_BACKEND, "QUEUES": ["default"]}
}
# Read by django-rq only when the rq backend is chosen. No RQ timeout: a job's liveness is
# its lease, renewed by heartbeat, as with the database backend.
RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": -1}}
RQ = {"JOB_CLASS": "django_tasks_rq.Job"}

DATAMAP_DIR = env("PRIVACYOPS_DATAMAP_DIR") or str(DATA_DIR / "datamaps")
JOB_LEASE_SECONDS = env_int("PRIVACYOPS_JOB_LEASE_SECONDS", 60)
JOB_MAX_ATTEMPTS = env_int("PRIVACYOPS_JOB_MAX_ATTEMPTS", 3)
PURGE_CHUNK_ROWS = env_int("PRIVACYOPS_PURGE_CHUNK_ROWS", 1000)
# Systems a multi-system job works on at once (one thread, and its own connections, each).
JOB_STEP_THREADS = env_int("PRIVACYOPS_JOB_STEP_THREADS", 4)
VACUUM_AFTER_ERASE = vacuum_mode()
DOWNLOAD_LINK_DAYS = env_int("PRIVACYOPS_DOWNLOAD_LINK_DAYS", 7)
# Manual systems: days an owner has to act on a step, and the largest file they may upload.
MANUAL_STEP_DAYS = env_int("PRIVACYOPS_MANUAL_STEP_DAYS", 14)
MANUAL_UPLOAD_MAX_MB = env_int("PRIVACYOPS_MANUAL_UPLOAD_MAX_MB", 100)
SIGNING_KEY_FILE = env("PRIVACYOPS_SIGNING_KEY_FILE") or str(DATA_DIR / "signing-ed25519.pem")
AUDIT_CHECKPOINT_EVERY = env_int("PRIVACYOPS_AUDIT_CHECKPOINT_EVERY", 1000)
TRUSTED_PROXY_COUNT = env_int("PRIVACYOPS_TRUSTED_PROXY_COUNT", 0)
# 32 bytes for AES-256-GCM, derived from a long random secret.
ARTIFACT_KEY = hashlib.sha256(secret("PRIVACYOPS_ARTIFACT_KEY", "artifact.key").encode()).digest()

# No token, signed link or identity value in any log line: request paths become route names
# and tracebacks lose their exception messages (privacyops/logs.py says why).
LOGGING_CONFIG = "privacyops.logs.configure"
_REDACTED = {"filters": ["request_path"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_path": {"()": "privacyops.logs.RequestPathRedaction"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("PRIVACYOPS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": _REDACTED,
        "django.security.csrf": _REDACTED,
        # runserver's own access lines (Django's default sends them to a handler of its own).
        "django.server": {**_REDACTED, "handlers": ["console"], "level": "INFO",
                          "propagate": False},
    },
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
              "LOCATION": "privacyops_cache"}
    )
}
# Password checks per account and client address per window; README promises 5.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW_SECONDS = 900
# Failed password checks per client address across all accounts per window.
LOGIN_IP_FAILURE_LIMIT = env_int("PRIVACYOPS_LOGIN_IP_LIMIT", 20)
