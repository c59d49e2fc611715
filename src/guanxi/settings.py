"""Guanxi settings, read from environment variables.

Every value has a safe default so that `guanxi demo` works on a fresh machine:
an SQLite database and a secret key kept in the user's data directory.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import platformdirs
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable; fail loudly on anything unclear."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("GUANXI_DATA_DIR") or platformdirs.user_data_dir("guanxi"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = os.environ.get("GUANXI_SECRET_KEY")
    if key:
        return key
    # Generated once and kept in the data directory, readable by the owner only.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("GUANXI_DEBUG", False)
ALLOWED_HOSTS = env_list("GUANXI_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
# Behind the bank's TLS-terminating proxy by default; `guanxi demo` turns it off for plain localhost.
HTTPS = env_bool("GUANXI_HTTPS", not DEBUG)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "huey.contrib.djhuey",
    "axes",
    "csp",
    "guanxi.core",
    "guanxi.customers",
    "guanxi.relationships",
    "guanxi.segmentation",
    "guanxi.credit",
    "guanxi.engagement",
    "guanxi.site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "guanxi.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "guanxi.core.middleware.RequestContextMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "guanxi.urls"
WSGI_APPLICATION = "guanxi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "guanxi.core.navigation.navigation",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("GUANXI_DATABASE_URL")
    if not url:
        url = f"sqlite:///{DATA_DIR / 'guanxi.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=0)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            # WAL lets readers run while the importer writes; IMMEDIATE avoids
            # "database is locked" on lock upgrades between concurrent writers.
            # A 64 MiB page cache (SQLite's default is 2 MiB) and memory-mapped reads: at a million
            # customers the name-token index alone is hundreds of MiB, and every insert into it
            # re-reads pages from the OS without them (measured with a 256 MiB cache: the tokens of
            # 600,000 customers went in in 45 s instead of 58 s).
            # 16 KiB pages for a new database (an existing one keeps its page size): a bulk import
            # rewrites fewer, fuller pages per commit (the commits of a 1,000,000-row import took
            # 5.8-6.4 s instead of 8.9-9.2 s with SQLite's default 4 KiB pages).
            "init_command": "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                            "PRAGMA busy_timeout=20000; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;",
            "transaction_mode": "IMMEDIATE",
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock an account/IP pair out after 5 failed sign-ins for 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Idle sessions expire after 30 minutes; every request renews the clock.
SESSION_COOKIE_AGE = int(os.environ.get("GUANXI_SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The reverse proxy whose X-Forwarded-Proto / X-Forwarded-For headers are believed.
TRUSTED_PROXY = os.environ.get("GUANXI_TRUSTED_PROXY", "127.0.0.1")
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("GUANXI_STATIC_ROOT") or DATA_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve app static files straight from the package as well, so no build step is needed.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("GUANXI_LOG_LEVEL", "WARNING")},
}

# A registration import of at least this many rows that brings at least as many new customers as the
# customer table holds drops the table's secondary indexes and builds them again at its end (`core.bulkload`).
IMPORT_DEFER_INDEXES_MIN_ROWS = int(os.environ.get("GUANXI_IMPORT_DEFER_INDEXES_MIN_ROWS", "50000"))

# The task queue (imports, batch jobs, nightly schedules): embedded SQLite storage by default,
# Redis when several worker machines share the work.
REDIS_URL = os.environ.get("GUANXI_REDIS_URL", "")
_consumer = {"workers": int(os.environ.get("GUANXI_WORKERS", "2")), "worker_type": "thread"}
# Installations (or test runs) sharing one Redis keep apart by queue name.
_queue_name = os.environ.get("GUANXI_QUEUE_NAME", "guanxi")
if REDIS_URL:
    HUEY = {"huey_class": "huey.RedisHuey", "name": _queue_name, "url": REDIS_URL, "immediate": False,
            "consumer": _consumer}
else:
    HUEY = {"huey_class": "huey.SqliteHuey", "name": _queue_name, "filename": str(DATA_DIR / "jobs.sqlite3"),
            "immediate": False, "consumer": _consumer}
# When the nightly jobs run (huey crontab "minute hour day month weekday", in UTC: Beijing is UTC+8).
# GUANXI_SCHEDULE_<JOB> overrides one, e.g. GUANXI_SCHEDULE_CARE_PLANS_RUN="0 1 * * *".
JOB_SCHEDULES = {
    "care_plans_run": "0 1 * * *",  # 09:00 in Beijing: greetings arrive in the morning
    "followups_generate": "0 18 * * *",  # 02:00
    "segments_recompute": "30 18 * * *",  # 02:30
}
JOB_SCHEDULES = {job: os.environ.get(f"GUANXI_SCHEDULE_{job.upper()}", cron) for job, cron in JOB_SCHEDULES.items()}

# Messages to customers. Links in emails (unsubscribe) point at GUANXI_BASE_URL.
BASE_URL = os.environ.get("GUANXI_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = os.environ.get("GUANXI_EMAIL_FROM", "noreply@localhost")
if os.environ.get("GUANXI_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["GUANXI_EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("GUANXI_EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("GUANXI_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("GUANXI_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("GUANXI_EMAIL_TLS", False)
    EMAIL_USE_SSL = env_bool("GUANXI_EMAIL_SSL", False)
    EMAIL_TIMEOUT = 30
else:  # development: every email is a file under the data directory
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "outbox" / "email"
# SMS gateway: "file" (development: DATA_DIR/outbox/sms.jsonl), "console", "http" (GUANXI_SMS_URL), or a dotted path.
SMS_BACKEND = os.environ.get("GUANXI_SMS_BACKEND", "file")
SMS_FILE_PATH = DATA_DIR / "outbox" / "sms.jsonl"
SMS_HTTP_URL = os.environ.get("GUANXI_SMS_URL", "")
SMS_HTTP_TOKEN = os.environ.get("GUANXI_SMS_TOKEN", "")
# The shared secret the gateway sends with customers' replies (TD / 退订); no secret, no replies taken.
SMS_INBOUND_TOKEN = os.environ.get("GUANXI_SMS_INBOUND_TOKEN", "")
# Sending rate per channel (messages per second), so that a run never floods a gateway.
MESSAGE_RATES = {"sms": float(os.environ.get("GUANXI_SMS_PER_SECOND", "20")),
                 "email": float(os.environ.get("GUANXI_EMAIL_PER_SECOND", "10"))}

UPLOAD_DIR = DATA_DIR / "uploads"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# API page size bounds.
API_DEFAULT_LIMIT = 50
API_MAX_LIMIT = 500
