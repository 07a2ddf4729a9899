"""Django settings, all read from the environment (see secki.env and docs/architecture.md).

``DATABASE_URL`` unset → the embedded SQLite file ``$SECKI_VAR_DIR/secki.sqlite3`` in WAL mode
(``SECKI_VAR_DIR`` defaults to ./var).
``DATABASE_URL=postgres://user:pass@host:port/name`` → PostgreSQL through psycopg 3.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF

from secki.env import ImproperlyConfigured, env_bool, env_int, env_list, env_str, generated_secret

# Lets admin classes be subscripted at run time (admin.ModelAdmin[Election]) for mypy --strict.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(env_str("SECKI_VAR_DIR", str(Path.cwd() / "var")))

DEBUG = env_bool("SECKI_DEBUG", False)
# Local development and the demo, never production: Secki may then start without a secret key
# and uses a random one generated once into $SECKI_VAR_DIR/secret_key (`secki demo` sets it).
SECKI_DEVELOPMENT = env_bool("SECKI_DEVELOPMENT", False)
# Fail closed: there is no default key; without one (and outside development) nothing starts.
SECRET_KEY = env_str("SECKI_SECRET_KEY", "")
if not SECRET_KEY:
    if not SECKI_DEVELOPMENT:
        raise ImproperlyConfigured(
            "SECKI_SECRET_KEY (or SECKI_SECRET_KEY_FILE) must be set: Django's secret key, 50 "
            "or more random characters (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'). For local development or the demo set "
            "SECKI_DEVELOPMENT=1 instead (a random key is then kept in "
            "$SECKI_VAR_DIR/secret_key); see docs/configuration.md"
        )
    SECRET_KEY = generated_secret(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("SECKI_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # django-ninja's API docs from its own static files (without it they load from a CDN,
    # with an inline script, which the Content-Security-Policy refuses)
    "ninja",
    "secki.elections",
    "secki.accounts",
    "secki.ledger",
    "secki.protocols",
    "secki.turnout",
    "secki.results",
    "secki.portal",
    "secki.api",
    "secki.staff",
    "secki.opendata",
    "secki.integrity",
    "secki.observers",
    "secki.audits",
    # Log-in lockout and two-factor log-in (secki.accounts.twofactor).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

# axes first: it refuses a locked-out user name before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "staff:dashboard"
LOCALE_PATHS = [BASE_DIR / "locale"]

MIDDLEWARE = [
    # First: HEAD answered as GET without the body; brotli or gzip by Accept-Encoding.
    "secki.compression.CompressionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "secki.contentpolicy.ContentSecurityPolicyMiddleware",
    # WhiteNoise, sending collectstatic's .br/.gz of a static file (secki.compression).
    "secki.compression.StaticFiles",
    # 503 + Retry-After while the database is unreachable.
    "secki.unavailable.DatabaseUnavailable",
    # Anonymous GET/HEAD of public pages read from the streaming replicas, if any.
    "secki.replicas.ReadFromReplicas",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # 404/400 for a NUL character in the path or the query, before any view (translated).
    "secki.textguard.RefuseNulBytes",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # django-otp's middleware; a session that still owes its second factor is anonymous.
    "secki.accounts.twofactor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out log-in into the 429 page (secki.staff.signin.locked_out).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "secki.urls"
WSGI_APPLICATION = "secki.wsgi.application"

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
            ],
            # ``local``: registry names in the visitor's language, on every page
            "builtins": ["secki.portal.templatetags.names"],
        },
    },
]

_database_url = env_str("DATABASE_URL", "")
SECKI_DATABASE_POOLER = env_str("SECKI_DATABASE_POOLER", "none")
if SECKI_DATABASE_POOLER not in {"none", "pgbouncer-session", "pgbouncer-transaction"}:
    raise ImproperlyConfigured(
        f"SECKI_DATABASE_POOLER={SECKI_DATABASE_POOLER!r}: use none, pgbouncer-session or "
        "pgbouncer-transaction"
    )
if _database_url:
    if not _database_url.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured(
            f"DATABASE_URL={_database_url!r}: only postgres:// URLs are supported "
            "(leave it unset for the embedded SQLite database)"
        )
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    # An answer means the fact is durable: every commit waits for its WAL flush, whatever the
    # server's own default (``local``, or ``remote_write``/``remote_apply`` with synchronous
    # standbys, are also durable; ``off`` is refused).
    _synchronous_commit = env_str("SECKI_SYNCHRONOUS_COMMIT", "on")
    if _synchronous_commit not in {"on", "local", "remote_write", "remote_apply"}:
        raise ImproperlyConfigured(
            f"SECKI_SYNCHRONOUS_COMMIT={_synchronous_commit!r}: use on, local, remote_write "
            "or remote_apply (an acknowledged write must be durable)"
        )
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c synchronous_commit={_synchronous_commit}"
    )
    SECKI_SYNCHRONOUS_COMMIT = _synchronous_commit
    DATABASES["default"]["TEST"] = {"NAME": env_str("SECKI_TEST_DATABASE", "test_secki")}
    # Standbys the primary's connection falls back to, taking the one that accepts writes
    # (after a failover, the promoted standby) without a restart (secki.replicas).
    _failover = env_list("SECKI_DATABASE_FAILOVER_HOSTS", [])
    if _failover:
        _hosts = [str(DATABASES["default"].get("HOST") or "localhost")]
        _ports = [str(DATABASES["default"].get("PORT") or 5432)]
        for _address in _failover:
            _host, _, _port = _address.rpartition(":")
            if not _host or not _port.isdigit():
                raise ImproperlyConfigured(
                    f"SECKI_DATABASE_FAILOVER_HOSTS: {_address!r} is not host:port"
                )
            _hosts.append(_host)
            _ports.append(_port)
        DATABASES["default"]["HOST"] = ",".join(_hosts)
        DATABASES["default"]["PORT"] = ",".join(_ports)
        DATABASES["default"]["OPTIONS"]["target_session_attrs"] = "read-write"
    # Streaming replicas for the public reads (secki.replicas): replica1, replica2 …
    for _number, _url in enumerate(env_list("SECKI_REPLICA_URLS", []), start=1):
        if not _url.startswith(("postgres://", "postgresql://")):
            raise ImproperlyConfigured(f"SECKI_REPLICA_URLS: {_url!r} is not a postgres:// URL")
        DATABASES[f"replica{_number}"] = {
            **dj_database_url.parse(_url, conn_max_age=60),
            "OPTIONS": {"options": "-c default_transaction_read_only=on"},
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"MIRROR": "default"},
        }
    # PgBouncer between Secki and PostgreSQL (docs/operations.md, "Connection pooling"). It
    # refuses the ``options`` startup parameter, so the server's own settings apply (its
    # synchronous_commit is checked by /readyz; a standby is read-only by itself). In
    # transaction mode consecutive transactions of one connection may run on different server
    # connections: nothing may outlive a transaction on the server, so no prepared statements
    # (Django's and secki.rawsql's) and QuerySet.iterator() fetches in chunks on the client.
    for _database in DATABASES.values():
        # Django's backend with a health check that sends no statement while the server has
        # said nothing (secki.postgres.base)
        _database["ENGINE"] = "secki.postgres"
        _options = _database.setdefault("OPTIONS", {})
        if SECKI_DATABASE_POOLER != "none":
            _options.pop("options", None)
        if SECKI_DATABASE_POOLER == "pgbouncer-transaction":
            _options["prepare_threshold"] = None
            _database["DISABLE_SERVER_SIDE_CURSORS"] = True
        else:
            # Django passes prepare_threshold=None, with which psycopg ignores even an explicit
            # ``prepare=True``: secki.rawsql's hot-path statements are prepared only with a
            # threshold (psycopg's default). Django's own statements bind on the client and are
            # never prepared whatever it is.
            _options["prepare_threshold"] = 5
else:
    if SECKI_DATABASE_POOLER != "none":
        raise ImproperlyConfigured(
            f"SECKI_DATABASE_POOLER={SECKI_DATABASE_POOLER!r} needs DATABASE_URL: a pooler "
            "stands in front of PostgreSQL, not of the embedded SQLite file"
        )
    _sqlite_path = Path(env_str("SECKI_SQLITE_PATH", str(VAR_DIR / "secki.sqlite3")))
    _sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_sqlite_path),
            "OPTIONS": {
                # WAL lets the web server read while the importer or the replay writes;
                # synchronous=FULL syncs the WAL at every commit, so an answer means the fact
                # survives a power cut, not only a crash of the process.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
            # Keep each server thread's connection (opening one and running the PRAGMAs cost
            # more than a cached page's whole request).
            "CONN_MAX_AGE": 60,
            # A file, not shared-cache memory, so that tests with threads behave like the
            # real server (one file per test process).
            "TEST": {
                "NAME": str(Path(tempfile.gettempdir()) / f"secki-test-{os.getpid()}.sqlite3")
            },
        }
    }

# A kept connection is checked before its first use in a request and replaced when the server
# has gone away meanwhile (restarted, crashed): requests work again as soon as it is back.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DATABASE_ROUTERS = ["secki.replicas.Router"]
# A replica further behind than this (seconds of replay) is skipped: its public reads go to
# another replica or to the primary.
SECKI_REPLICA_MAX_LAG = float(env_str("SECKI_REPLICA_MAX_LAG", "5"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("az", "Azərbaycan"), ("ru", "Русский")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Uploaded files (scans of paper protocols) go to Django's default storage under MEDIA_ROOT;
# they are served through secki.portal.views.scan_file (access rules, ETag = SHA-256), never
# directly, so no MEDIA_URL is needed.
MEDIA_ROOT = Path(env_str("SECKI_MEDIA_DIR", str(VAR_DIR / "media")))
# Largest scan accepted, in bytes (PDF, PNG or JPEG of a paper protocol).
SECKI_SCAN_MAX_BYTES = env_int("SECKI_SCAN_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
# Largest video an observer may attach to an incident (MP4, QuickTime or WebM), in bytes.
SECKI_INCIDENT_VIDEO_MAX_BYTES = env_int(
    "SECKI_INCIDENT_VIDEO_MAX_BYTES", 100 * 1024 * 1024, minimum=1
)
# Base URL put before the site's paths in open-data files (scans.csv), e.g.
# https://results.example.org; empty: site-relative paths.
SECKI_PUBLIC_URL = env_str("SECKI_PUBLIC_URL", "").rstrip("/")
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# The demo and tests serve app static files without a collectstatic step.
WHITENOISE_USE_FINDERS = True
# collectstatic writes a .br and a .gz beside every static file worth compressing, once.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "secki.compression.CompressedStatic"},
}

LOG_LEVEL = env_str("SECKI_LOG_LEVEL", "INFO")
# Logs go to standard error, one JSON object per line with the request's id (secki.observability)
# or, with SECKI_LOG_FORMAT=text, as plain lines.
LOG_FORMAT = env_str("SECKI_LOG_FORMAT", "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"SECKI_LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "secki.observability.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "secki.observability.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
# /metrics (Prometheus): with a token, only for "Authorization: Bearer <token>"; without one,
# only for requests from this machine (a scraper beside the server; the shipped nginx
# configuration does not pass /metrics on).
SECKI_METRICS_TOKEN = env_str("SECKI_METRICS_TOKEN", "")

# Import batch size for bulk inserts.
SECKI_BULK_BATCH = env_int("SECKI_BULK_BATCH", 2000, minimum=1)

# Group commit (secki.groupcommit): concurrent API writes of one worker share a transaction.
# Off, each runs in its own (for comparison: bench/bench_protocols.py).
SECKI_GROUP_COMMIT = env_bool("SECKI_GROUP_COMMIT", True)

# Public results snapshots (secki.opendata): regenerate after every change, and cut a
# permanent versioned release at most every SECKI_RELEASE_EVERY seconds.
SECKI_SNAPSHOT_AUTO = env_bool("SECKI_SNAPSHOT_AUTO", True)
SECKI_RELEASE_EVERY = env_int("SECKI_RELEASE_EVERY", 600, minimum=1)
# Station pages the publisher marked stale are rendered again in the background by every
# worker of this server (secki.opendata.refresh); the intake server, which serves only the
# writes, turns it off so that its CPU goes to them (deploy/systemd/secki-intake.service).
SECKI_PAGE_REFRESH = env_bool("SECKI_PAGE_REFRESH", True)
# Static hosting the publisher copies the open data and the log's files to, as they change
# (secki.opendata.mirror): file:///srv/static, s3://bucket/prefix; an S3-compatible endpoint
# other than AWS (credentials from the AWS_* variables).
SECKI_MIRROR_URLS = env_list("SECKI_MIRROR_URLS", [])
for _mirror in SECKI_MIRROR_URLS:
    if not _mirror.startswith(("file:///", "s3://")):
        raise ImproperlyConfigured(
            f"SECKI_MIRROR_URLS: {_mirror!r}: use file:///absolute/path or s3://bucket/prefix"
        )
SECKI_S3_ENDPOINT_URL = env_str("SECKI_S3_ENDPOINT_URL", "")

# The public transparency log (secki.opendata.transparency, spec/transparency.md), published as
# static files under $SECKI_VAR_DIR/log/ and served at /log/: the log's name (its key's name;
# each election's log has the origin <name>/<slug>), the file holding its private key (read by
# the publisher only, never stored in the database; `secki log keygen` writes one; in
# development a key is generated into $SECKI_VAR_DIR/log_key), and the witness policy file
# (witness keys, their URLs and the quorum; empty: no witnesses, a development log).
_public_host = re.sub(r"^https?://", "", SECKI_PUBLIC_URL)
SECKI_LOG_NAME = env_str("SECKI_LOG_NAME", f"{_public_host or 'localhost'}/log")
if (
    not re.fullmatch(r"[^\s+]+", SECKI_LOG_NAME)
    or not SECKI_LOG_NAME.isprintable()
    or SECKI_LOG_NAME.endswith("/")
):
    raise ImproperlyConfigured(
        f"SECKI_LOG_NAME={SECKI_LOG_NAME!r} is not a log name: no spaces or '+', no trailing "
        "'/' (e.g. results.example.org/log)"
    )
SECKI_LOG_KEY_FILE = env_str("SECKI_LOG_KEY_FILE", "")
SECKI_WITNESS_POLICY = env_str("SECKI_WITNESS_POLICY", "")

# Live election forensics (secki.integrity): explicit seed, Monte-Carlo sizes, and whether the
# analysis runs in a background thread (pages show the last result meanwhile).
SECKI_INTEGRITY_SEED = env_int("SECKI_INTEGRITY_SEED", 1)
SECKI_INTEGRITY_REPLICATES = env_int("SECKI_INTEGRITY_REPLICATES", 1000, minimum=10)
SECKI_INTEGRITY_FIT_BOOTSTRAP = env_int("SECKI_INTEGRITY_FIT_BOOTSTRAP", 50, minimum=0)
SECKI_INTEGRITY_DIGIT_BOOTSTRAP = env_int("SECKI_INTEGRITY_DIGIT_BOOTSTRAP", 1000, minimum=0)
SECKI_INTEGRITY_BACKGROUND = env_bool("SECKI_INTEGRITY_BACKGROUND", True)

# HTTPS, cookies and Content-Security-Policy (issue 12)
# Production runs with SECKI_HTTPS=1 (docs/configuration.md, "Production"): plain HTTP is
# redirected to HTTPS, cookies carry Secure, and browsers are told to use HTTPS only for
# SECKI_HSTS_SECONDS. Granian speaks plain HTTP, so the TLS-terminating proxy in front names
# the header that carries the original scheme (SECKI_PROXY_SSL_HEADER=X-Forwarded-Proto; the
# proxy must set it on every request, overwriting what a client sent).
SECKI_HTTPS = env_bool("SECKI_HTTPS", False)
SECURE_SSL_REDIRECT = SECKI_HTTPS
SESSION_COOKIE_SECURE = SECKI_HTTPS
CSRF_COOKIE_SECURE = SECKI_HTTPS
# a refused form in the site's layout, keeping what was typed (secki.staff.signin)
CSRF_FAILURE_VIEW = "secki.staff.signin.csrf_failure"
SECURE_HSTS_SECONDS = env_int("SECKI_HSTS_SECONDS", 31_536_000 if SECKI_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECKI_HSTS_INCLUDE_SUBDOMAINS", SECKI_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECKI_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER: tuple[str, str] | None = None
_proxy_ssl_header = env_str("SECKI_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    if not re.fullmatch(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", _proxy_ssl_header):
        raise ImproperlyConfigured(
            f"SECKI_PROXY_SSL_HEADER={_proxy_ssl_header!r} is not a header name "
            "(e.g. X-Forwarded-Proto)"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# Other origins whose forms may post here (scheme and host, e.g. https://cec.example.org).
CSRF_TRUSTED_ORIGINS = env_list("SECKI_CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not re.fullmatch(r"https?://[^/\s]+", _origin):
        raise ImproperlyConfigured(
            f"SECKI_CSRF_TRUSTED_ORIGINS: {_origin!r} is not an origin "
            "(scheme and host, e.g. https://cec.example.org)"
        )
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts, styles and everything else only from the site itself: no inline script or style
# anywhere (the pages' styles are static files; the SVG charts and maps colour with
# presentation attributes), no plugins, no <base>, no framing, forms post to the site only.
# data: images are allowed (images cannot run code). Scans carry their own stricter policy
# (secki.portal.views.scan_file: sandbox, default-src 'none').
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "upgrade-insecure-requests": SECKI_HTTPS,
    }
}

# Log-in: lockout and two-factor (issue 12)
# After SECKI_LOGIN_FAILURES wrong passwords or codes for one user name from one address, that
# name is locked out from that address for SECKI_LOGIN_COOLOFF_MINUTES (even the right
# password is refused; tries meanwhile do not extend it). User name + address: officials
# behind one NAT do not lock each other out, and nobody elsewhere can lock an official out.
AXES_FAILURE_LIMIT = env_int("SECKI_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("SECKI_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "secki.staff.signin.locked_out"
AXES_SENSITIVE_PARAMETERS = ["password", "code"]
# No "AXES: BEGIN …" banner on stderr at every start (commands read their own output).
AXES_VERBOSE = False
# Behind a proxy (nginx), the header in which it passes the client's address on every request,
# overwriting the client's own (nginx: proxy_set_header X-Real-IP $remote_addr): lockouts and
# audit records then count the client, not the proxy.
SECKI_CLIENT_IP_HEADER = env_str("SECKI_CLIENT_IP_HEADER", "")
AXES_CLIENT_IP_CALLABLE = "secki.accounts.audit.client_ip"
# Two-factor log-in for every role that can change results, superusers and staff
# (secki.accounts.twofactor); 0 lifts the requirement (the demo does).
SECKI_REQUIRE_2FA = env_bool("SECKI_REQUIRE_2FA", True)
OTP_TOTP_ISSUER = "Secki"
