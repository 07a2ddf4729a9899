"""Django system checks for Secki's configuration, with stable ids (docs/configuration.md).

``secki manage check`` (and every ``migrate``) runs the first group; ``secki manage check
--deploy`` adds those that only matter on a production server. Errors stop management commands;
the settings themselves already refuse to start without a secret key.

========== ===================================================================================
secki.E001 the secret key is the fixed development key that earlier versions of Secki shipped
secki.E002 the secret key is shorter than 50 characters or has fewer than 5 different ones
           (outside development)
secki.E003 ``SECKI_DEBUG`` is on while the site answers to names other than the local ones
secki.E004 no Content-Security-Policy: its middleware or its policy is missing
secki.E005 the Content-Security-Policy lets scripts run inline, from ``eval`` or from anywhere
secki.W001 the media directory (scans of paper protocols) cannot be written
secki.W002 (deploy) ``SECKI_DEVELOPMENT`` is on
secki.W003 (deploy) ``SECKI_HTTPS`` is off
secki.W004 (deploy) ``SECKI_HTTPS`` is on but no ``SECKI_PROXY_SSL_HEADER`` names the proxy's
           scheme header
secki.W005 (deploy) ``SECKI_ALLOWED_HOSTS`` accepts any host name (``*``)
secki.W006 (deploy) ``SECKI_ALLOWED_HOSTS`` lists only local names
secki.W007 (deploy) the embedded SQLite database instead of PostgreSQL
secki.W008 (deploy) no private key for the transparency log (``SECKI_LOG_KEY_FILE``)
secki.W009 (deploy) no witness policy (``SECKI_WITNESS_POLICY``): checkpoints without
           cosignatures
========== ===================================================================================

Registered by :class:`secki.elections.apps.ElectionsConfig` (the lowest of Secki's apps).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

#: the key that Secki used when none was set, before issue 12: public, so never acceptable
RETIRED_DEVELOPMENT_KEY = "secki-insecure-development-key"
KEY_MIN_LENGTH = 50
KEY_MIN_CHARACTERS = 5
LOCAL_HOSTS = frozenset({"localhost", ".localhost", "127.0.0.1", "[::1]", "::1", "testserver"})
CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"
#: script sources that defeat the policy: inline code, eval, any host, any https: host, data:
UNSAFE_SCRIPT_SOURCES = frozenset(
    {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:", "data:"}
)


def database_engine() -> str:
    return str(settings.DATABASES["default"]["ENGINE"])


def _development() -> bool:
    return bool(getattr(settings, "SECKI_DEVELOPMENT", False))


@register(Tags.security)
def secret_key(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    key = str(getattr(settings, "SECRET_KEY", "") or "")
    if key == RETIRED_DEVELOPMENT_KEY:
        return [
            Error(
                "The secret key is the development key that earlier versions of Secki used "
                "when none was set: it is public, so anyone can forge sessions and tokens.",
                hint="Set SECKI_SECRET_KEY (or SECKI_SECRET_KEY_FILE) to 50 or more random "
                "characters.",
                id="secki.E001",
            )
        ]
    if not _development() and (len(key) < KEY_MIN_LENGTH or len(set(key)) < KEY_MIN_CHARACTERS):
        return [
            Error(
                f"The secret key has {len(key)} characters ({len(set(key))} different): it "
                f"needs at least {KEY_MIN_LENGTH}, and {KEY_MIN_CHARACTERS} different ones.",
                hint="Set SECKI_SECRET_KEY (or SECKI_SECRET_KEY_FILE) to the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                id="secki.E002",
            )
        ]
    return []


def _public_hosts(hosts: Iterable[str]) -> list[str]:
    return [host for host in hosts if host.lower() not in LOCAL_HOSTS]


@register(Tags.security)
def debug_in_public(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.DEBUG:
        return []
    public = _public_hosts(settings.ALLOWED_HOSTS)
    if not public:
        return []
    return [
        Error(
            f"SECKI_DEBUG is on while the site answers to {', '.join(public)}: debug pages show "
            "settings, source code and SQL to anyone who can cause an error.",
            hint="Unset SECKI_DEBUG, or keep SECKI_ALLOWED_HOSTS to local names.",
            id="secki.E003",
        )
    ]


def _sources(directives: dict[str, Any], name: str) -> list[str] | None:
    value = directives.get(name)
    if value is None:
        return None
    if isinstance(value, str | bool):
        return [str(value)]
    return [str(item) for item in value]


@register(Tags.security)
def content_security_policy(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    installed = False
    for path in settings.MIDDLEWARE:
        try:
            middleware = import_string(path)
        except ImportError:
            continue
        csp_middleware = import_string(CSP_MIDDLEWARE)
        if isinstance(middleware, type) and issubclass(middleware, csp_middleware):
            installed = True
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    directives = policy.get("DIRECTIVES") if isinstance(policy, dict) else None
    if not installed or not isinstance(directives, dict) or not directives:
        return [
            Error(
                "No Content-Security-Policy is sent: "
                + (
                    "no middleware in MIDDLEWARE sends it (secki.contentpolicy's, a "
                    f"{CSP_MIDDLEWARE})."
                    if not installed
                    else "CONTENT_SECURITY_POLICY has no DIRECTIVES."
                ),
                hint="Keep the middleware and the policy of secki/settings.py.",
                id="secki.E004",
            )
        ]
    problems: list[str] = []
    script = _sources(directives, "script-src")
    if script is None:
        script = _sources(directives, "default-src")
    if script is None:
        problems.append("neither script-src nor default-src is set")
    for name, sources in (
        ("script-src", script),
        ("script-src-elem", _sources(directives, "script-src-elem")),
        ("script-src-attr", _sources(directives, "script-src-attr")),
    ):
        unsafe = sorted(UNSAFE_SCRIPT_SOURCES.intersection(sources or []))
        if unsafe:
            problems.append(f"{name} allows {' '.join(unsafe)}")
    if not problems:
        return []
    return [
        Error(
            "The Content-Security-Policy does not stop injected scripts: "
            + "; ".join(problems)
            + ".",
            hint="Scripts come from the site's static files only: script-src 'self'.",
            id="secki.E005",
        )
    ]


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


@register(Tags.files)
def media_writable(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    media = Path(settings.MEDIA_ROOT)
    existing = _nearest_existing(media)
    if not existing.is_dir():
        problem = f"{existing} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable by this user"
    else:
        return []
    return [
        Warning(
            f"Scans of paper protocols cannot be stored in {media}: {problem}.",
            hint="Set SECKI_MEDIA_DIR to a directory this server may write.",
            id="secki.W001",
        )
    ]


@register(Tags.security, deploy=True)
def production(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if _development():
        found.append(
            Warning(
                "SECKI_DEVELOPMENT is on: a missing secret key is replaced by one generated "
                "into the var directory.",
                hint="Unset SECKI_DEVELOPMENT in production and set SECKI_SECRET_KEY_FILE.",
                id="secki.W002",
            )
        )
    if not getattr(settings, "SECKI_HTTPS", False):
        found.append(
            Warning(
                "SECKI_HTTPS is off: no redirect to HTTPS, cookies without Secure, no HSTS.",
                hint="Serve the site over HTTPS and set SECKI_HTTPS=1 (docs/configuration.md, "
                "Production).",
                id="secki.W003",
            )
        )
    elif settings.SECURE_PROXY_SSL_HEADER is None:
        found.append(
            Warning(
                "SECKI_HTTPS is on but SECKI_PROXY_SSL_HEADER is not set: Granian serves plain "
                "HTTP, so behind a TLS-terminating proxy every request looks insecure and is "
                "redirected to HTTPS again, forever.",
                hint="Set SECKI_PROXY_SSL_HEADER to the header in which the proxy passes the "
                "scheme (X-Forwarded-Proto), and make the proxy overwrite it.",
                id="secki.W004",
            )
        )
    hosts = list(settings.ALLOWED_HOSTS)
    if "*" in hosts:
        found.append(
            Warning(
                "SECKI_ALLOWED_HOSTS accepts any host name: links built from a request (the "
                "scans' URLs in the API) can then point to a host an attacker chose.",
                hint="List the site's own names in SECKI_ALLOWED_HOSTS.",
                id="secki.W005",
            )
        )
    elif not _public_hosts(hosts):
        found.append(
            Warning(
                "SECKI_ALLOWED_HOSTS lists only local names: the site answers 400 under its "
                "public name.",
                hint="Set SECKI_ALLOWED_HOSTS to the site's public names (results.example.org).",
                id="secki.W006",
            )
        )
    if database_engine() == "django.db.backends.sqlite3":
        found.append(
            Warning(
                "The embedded SQLite database is for the demo and development.",
                hint="Set DATABASE_URL=postgres://… (docs/configuration.md, Production).",
                id="secki.W007",
            )
        )
    return found


@register(Tags.security, deploy=True)
def transparency_log(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    """The log's key and witness policy are configured (not read here: the key file is for the
    publisher's eyes only, and the web server's user need not be able to read it)."""
    if _development():
        return []  # a key is generated into the var directory; no witnesses needed
    found: list[CheckMessage] = []
    if not getattr(settings, "SECKI_LOG_KEY_FILE", ""):
        found.append(
            Warning(
                "No private key for the transparency log: `secki publish` cannot sign "
                "checkpoints, so nothing of the log is published.",
                hint="Run `secki log keygen --name <SECKI_LOG_NAME> --out FILE` once, keep the "
                "file for the publisher's user only, and set SECKI_LOG_KEY_FILE=FILE.",
                id="secki.W008",
            )
        )
    if not getattr(settings, "SECKI_WITNESS_POLICY", ""):
        found.append(
            Warning(
                "No witness policy: the log's checkpoints are published without "
                "cosignatures, so nobody can tell whether everyone is shown the same log.",
                hint="Set SECKI_WITNESS_POLICY to a policy file naming independent witnesses "
                "and a quorum (docs/configuration.md, Transparency log).",
                id="secki.W009",
            )
        )
    return found
