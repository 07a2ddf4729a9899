"""Production settings that fail closed (issue 12): no default secret key, the HTTPS settings
from the environment, CSP and HSTS on the responses, ``check --deploy`` clean with the
documented production environment, and Secki's system checks (secki.E001 …), each tested.

The production environment is read from docs/configuration.md's "Production" section, so the
documentation and this test cannot drift apart."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import CheckMessage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from secki import checks
from secki.env import generated_secret
from tests.factories import run_secki
from tests.test_settings import start_refused

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"
GOOD_KEY = "k3y-" + "0123456789abcdefghij" * 3


def documented_production_env() -> dict[str, str]:
    """The variables of docs/configuration.md's Production block (``NAME=value  # comment``)."""
    section = DOCS.read_text().split("## Production", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    env = {}
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, value = line.split("=", 1)
            env[name] = value
    return env


def bare_env(**extra: str) -> dict[str, str]:
    """A minimal environment: no SECKI_* variable of the caller's (nor the suite's key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKI_", "DATABASE_URL"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return {**env, **extra}


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """The documented production environment, with its secret file and var directory here."""
    env = documented_production_env()
    key = tmp_path / "secret_key"
    key.write_text(GOOD_KEY + "\n")
    env["SECKI_SECRET_KEY_FILE"] = str(key)
    env["SECKI_VAR_DIR"] = str(tmp_path / "var")
    return bare_env(**env)


# -- the documented production environment -----------------------------------------------------


def test_the_documented_production_environment_is_complete() -> None:
    env = documented_production_env()
    assert env["SECKI_HTTPS"] == "1"
    assert env["SECKI_PROXY_SSL_HEADER"] == "X-Forwarded-Proto"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "SECKI_SECRET_KEY_FILE" in env and "SECKI_ALLOWED_HOSTS" in env
    assert not {"SECKI_DEBUG", "SECKI_DEVELOPMENT"} & set(env)


def test_check_deploy_is_clean_with_the_production_environment(
    production: dict[str, str],
) -> None:
    done = run_secki(production, "manage", "check", "--deploy", check=False)
    print(done.stdout, done.stderr)
    assert done.returncode == 0
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNING" not in done.stdout + done.stderr


def test_check_deploy_without_https_names_what_is_missing(production: dict[str, str]) -> None:
    """The same without SECKI_HTTPS: Django's own warnings of the issue, and Secki's W003."""
    production.pop("SECKI_HTTPS")
    done = run_secki(production, "manage", "check", "--deploy", check=False)
    output = done.stdout + done.stderr
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"(security.{warning})" in output
    assert "(secki.W003) SECKI_HTTPS is off" in output


PROBE = """
import json
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="results.example.org")
answers = {}
for name, headers in {"https": {"HTTP_X_FORWARDED_PROTO": "https"}, "http": {}}.items():
    response = client.get("/api/v1/openapi.json", **headers)
    answers[name] = {"status": response.status_code, "headers": dict(response.headers)}
answers["settings"] = {
    name: getattr(settings, name)
    for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
                 "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "X_FRAME_OPTIONS")
}
print("PROBE" + json.dumps(answers))
"""


def test_production_responses_carry_csp_and_hsts(production: dict[str, str]) -> None:
    """In a fresh interpreter with the production environment: over HTTPS (as the proxy says)
    the answer has HSTS and the strict CSP; plain HTTP is redirected to HTTPS."""
    done = run_secki(production, "manage", "shell", "-c", PROBE)
    answers = json.loads(done.stdout.split("PROBE", 1)[1])
    secure = answers["https"]
    assert secure["status"] == 200
    headers = secure["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    policy = {
        part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split("; ")
    }
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert "upgrade-insecure-requests" in policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    plain = answers["http"]
    assert plain["status"] == 301
    assert plain["headers"]["Location"] == "https://results.example.org/api/v1/openapi.json"
    assert answers["settings"] == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "X_FRAME_OPTIONS": "DENY",
    }


@pytest.mark.django_db
def test_cookies_are_secure_and_http_only_over_https(settings: Any) -> None:
    """What SECKI_HTTPS=1 sets (see the probe above), on a real log-in behind the proxy."""
    from django.contrib.auth import get_user_model

    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    get_user_model().objects.create_user("reader", password="pw-reader-long")
    client = Client(HTTP_X_FORWARDED_PROTO="https")
    form = client.get("/staff/login/")
    assert form.status_code == 200
    assert form.cookies["csrftoken"]["secure"] is True
    token = form.cookies["csrftoken"].value
    answer = client.post(
        "/staff/login/",
        {"username": "reader", "password": "pw-reader-long", "csrfmiddlewaretoken": token},
    )
    assert answer.status_code == 302
    session = answer.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] is True and session["httponly"] is True
    assert Client().get("/staff/login/").status_code == 301  # plain HTTP: to HTTPS


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SECKI_PROXY_SSL_HEADER", "X Forwarded Proto", "is not a header name"),
        ("SECKI_CSRF_TRUSTED_ORIGINS", "cec.example.org", "is not an origin"),
        ("SECKI_HSTS_SECONDS", "-1", "below the minimum 0"),
        ("SECKI_HTTPS", "sure", "is not a boolean"),
    ],
)
def test_bad_https_settings_stop_the_start(variable: str, value: str, message: str) -> None:
    stderr = start_refused(**{variable: value})
    assert variable in stderr and message in stderr


# -- no default secret ------------------------------------------------------------------------


def test_without_a_key_nothing_starts(tmp_path: Path) -> None:
    env = bare_env(SECKI_VAR_DIR=str(tmp_path / "var"))
    for command in (("manage", "check"), ("serve", "--port", "1")):
        done = run_secki(env, *command, check=False)
        assert done.returncode == 1, done
        assert done.stderr.startswith("secki: SECKI_SECRET_KEY (or SECKI_SECRET_KEY_FILE) must be")
        assert "SECKI_DEVELOPMENT=1" in done.stderr and "Traceback" not in done.stderr
    # debug mode is no development switch
    done = run_secki({**env, "SECKI_DEBUG": "1"}, "manage", "check", check=False)
    assert done.returncode == 1 and "SECKI_SECRET_KEY" in done.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_development_generates_one_key_and_keeps_it(tmp_path: Path) -> None:
    env = bare_env(SECKI_VAR_DIR=str(tmp_path / "var"), SECKI_DEVELOPMENT="1")
    show = "from django.conf import settings; print('KEY=' + settings.SECRET_KEY)"
    first = run_secki(env, "manage", "shell", "-c", show).stdout.split("KEY=", 1)[1].strip()
    again = run_secki(env, "manage", "shell", "-c", show).stdout.split("KEY=", 1)[1].strip()
    path = tmp_path / "var" / "secret_key"
    assert first == again == path.read_text().strip()
    assert len(first) >= checks.KEY_MIN_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # another var directory, another key
    other = bare_env(SECKI_VAR_DIR=str(tmp_path / "other"), SECKI_DEVELOPMENT="1")
    third = run_secki(other, "manage", "shell", "-c", show).stdout.split("KEY=", 1)[1].strip()
    assert third != first


def test_processes_starting_at_once_share_the_generated_key(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"
    start = threading.Barrier(16)

    def read() -> str:
        start.wait()
        return generated_secret(path)

    with ThreadPoolExecutor(16) as pool:
        keys = list(pool.map(lambda _: read(), range(16)))
    assert len(set(keys)) == 1 and keys[0] == path.read_text().strip()
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]  # no leftovers


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    from secki.env import ImproperlyConfigured

    path = tmp_path / "secret_key"
    path.write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="is empty: delete it"):
        generated_secret(path)


def test_the_retired_requirement_switch_is_gone() -> None:
    settings_source = (ROOT / "src" / "secki" / "settings.py").read_text()
    assert "SECKI_REQUIRE_SECRET" not in settings_source
    assert checks.RETIRED_DEVELOPMENT_KEY not in settings_source


# -- system checks, one id at a time ------------------------------------------------------------


def ids(messages: list[CheckMessage]) -> list[str]:
    return [m.id or "" for m in messages]


@pytest.fixture
def sound(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Settings that pass every check, deploy ones included; each test breaks one thing."""
    settings.SECRET_KEY = GOOD_KEY
    settings.SECKI_DEVELOPMENT = False
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["results.example.org"]
    settings.SECKI_HTTPS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SECKI_LOG_KEY_FILE = str(tmp_path / "log_key")
    settings.SECKI_WITNESS_POLICY = str(tmp_path / "witnesses.txt")
    monkeypatch.setattr(checks, "database_engine", lambda: "django.db.backends.postgresql")
    yield settings


def all_checks() -> list[CheckMessage]:
    return [
        *checks.secret_key(None),
        *checks.debug_in_public(None),
        *checks.content_security_policy(None),
        *checks.media_writable(None),
        *checks.production(None),
        *checks.transparency_log(None),
    ]


def test_sound_settings_pass_every_check(sound: Any) -> None:
    assert all_checks() == []


BROKEN: list[tuple[str, dict[str, Any], str]] = [
    ("secki.E001", {"SECRET_KEY": checks.RETIRED_DEVELOPMENT_KEY}, "development key"),
    ("secki.E001", {"SECRET_KEY": checks.RETIRED_DEVELOPMENT_KEY, "SECKI_DEVELOPMENT": True}, ""),
    ("secki.E002", {"SECRET_KEY": "x" * 30}, "has 30 characters (1 different)"),
    ("secki.E002", {"SECRET_KEY": "ab" * 40}, "has 80 characters (2 different)"),
    ("secki.E003", {"DEBUG": True}, "SECKI_DEBUG is on while the site answers to results"),
    (
        "secki.E004",
        {"MIDDLEWARE": ["django.middleware.security.SecurityMiddleware"]},
        "no middleware in MIDDLEWARE sends it",
    ),
    ("secki.E004", {"CONTENT_SECURITY_POLICY": {}}, "has no DIRECTIVES"),
    (
        "secki.E005",
        {"CONTENT_SECURITY_POLICY": {"DIRECTIVES": {"script-src": ["'self'", "'unsafe-inline'"]}}},
        "script-src allows 'unsafe-inline'",
    ),
    (
        "secki.E005",
        {"CONTENT_SECURITY_POLICY": {"DIRECTIVES": {"default-src": ["*"]}}},
        "script-src allows *",
    ),
    (
        "secki.E005",
        {"CONTENT_SECURITY_POLICY": {"DIRECTIVES": {"img-src": ["'self'"]}}},
        "neither script-src nor default-src is set",
    ),
    ("secki.W002", {"SECKI_DEVELOPMENT": True}, "SECKI_DEVELOPMENT is on"),
    ("secki.W003", {"SECKI_HTTPS": False}, "SECKI_HTTPS is off"),
    ("secki.W004", {"SECURE_PROXY_SSL_HEADER": None}, "redirected to HTTPS again, forever"),
    ("secki.W005", {"ALLOWED_HOSTS": ["*"]}, "accepts any host name"),
    ("secki.W006", {"ALLOWED_HOSTS": ["localhost", "127.0.0.1"]}, "lists only local names"),
    ("secki.W008", {"SECKI_LOG_KEY_FILE": ""}, "No private key for the transparency log"),
    ("secki.W009", {"SECKI_WITNESS_POLICY": ""}, "published without cosignatures"),
]


@pytest.mark.parametrize(
    ("expected", "changes", "words"),
    BROKEN,
    ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)],
)
def test_each_check_finds_its_misconfiguration(
    sound: Any, expected: str, changes: dict[str, Any], words: str
) -> None:
    for name, value in changes.items():
        setattr(sound, name, value)
    found = [m for m in all_checks() if m.id == expected]
    assert len(found) == 1, ids(all_checks())
    assert words in found[0].msg
    level = "E" if expected.startswith("secki.E") else "W"
    assert found[0].is_serious() == (level == "E")
    others = set(ids(all_checks())) - {expected, "secki.W002"}
    assert not others, others  # one misconfiguration, one message (and W002 with its switch)


def test_a_short_key_is_accepted_in_development(sound: Any) -> None:
    sound.SECRET_KEY = "dev"
    sound.SECKI_DEVELOPMENT = True
    assert "secki.E002" not in ids(all_checks())


def test_development_needs_no_log_key_nor_witnesses(sound: Any) -> None:
    """A development log signs with a key generated into the var directory, uncosigned."""
    sound.SECKI_LOG_KEY_FILE = sound.SECKI_WITNESS_POLICY = ""
    sound.SECKI_DEVELOPMENT = True
    assert ids(all_checks()) == ["secki.W002"]


def test_debug_on_loopback_is_fine(sound: Any) -> None:
    sound.DEBUG = True
    sound.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
    assert "secki.E003" not in ids(all_checks())


def test_media_directory_that_cannot_be_written(sound: Any, tmp_path: Path) -> None:
    """W001 (the tests run as root, for whom every directory is writable: a file in the way)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    sound.MEDIA_ROOT = str(blocker / "media")
    found = [m for m in all_checks() if m.id == "secki.W001"]
    assert len(found) == 1 and f"{blocker} is not a directory" in found[0].msg
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        sound.MEDIA_ROOT = str(locked / "media")
        assert "is not writable" in next(m.msg for m in all_checks() if m.id == "secki.W001")


def test_sqlite_in_production(sound: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "database_engine", lambda: "django.db.backends.sqlite3")
    assert ids(all_checks()) == ["secki.W007"]
    monkeypatch.undo()
    engine = checks.database_engine()  # the real one: the test database's
    assert engine.rsplit(".", 1)[1] in {"sqlite3", "postgresql"}


def test_the_checks_are_registered_and_stop_commands(sound: Any) -> None:
    """Through Django's own runner: an error stops ``check`` (and so migrate and serve);
    deploy checks run only with --deploy."""
    sound.SECRET_KEY = checks.RETIRED_DEVELOPMENT_KEY
    with pytest.raises(SystemCheckError, match=re.escape("(secki.E001)")):
        call_command("check")
    sound.SECRET_KEY = GOOD_KEY
    sound.SECKI_HTTPS = False
    call_command("check")  # W003 is a deploy check: silent here
    with pytest.raises(SystemCheckError, match=re.escape("(secki.W003)")):
        call_command("check", deploy=True, fail_level="WARNING")


def test_secki_serve_refuses_a_configuration_the_checks_refuse(tmp_path: Path) -> None:
    env = bare_env(
        SECKI_VAR_DIR=str(tmp_path / "var"),
        SECKI_SECRET_KEY=checks.RETIRED_DEVELOPMENT_KEY,
    )
    done = run_secki(env, "serve", "--port", "1", check=False)
    assert done.returncode == 1 and "(secki.E001)" in done.stderr


@pytest.mark.django_db
def test_the_policy_header_follows_the_setting(settings: Any) -> None:
    """secki.contentpolicy builds the header once, and again when the setting changes."""
    first = Client().get("/staff/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in first and "style-src 'self'" in first
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert Client().get("/staff/login/")["Content-Security-Policy"] == "default-src 'none'"
    settings.CONTENT_SECURITY_POLICY = {}
    assert "Content-Security-Policy" not in Client().get("/staff/login/")
