"""Settings come from the environment and fail loudly on bad values (STYLE.md habit 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secki.env import ImproperlyConfigured, env_bool, env_int, env_list, env_str

SETTINGS = Path(__file__).resolve().parents[1] / "src" / "secki" / "settings.py"


def test_helpers_read_values_and_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_STR_FILE", str(secret))
    assert env_int("X_INT", 1) == 42
    assert env_bool("X_BOOL", False) is True
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    assert env_str("X_STR", "default") == "s3cret"
    assert env_int("X_MISSING", 7) == 7


@pytest.mark.parametrize(
    ("name", "value", "call", "message"),
    [
        ("X_INT", "4.5", lambda: env_int("X_INT", 1), "X_INT='4.5' is not an integer"),
        ("X_INT", "-3", lambda: env_int("X_INT", 1, minimum=0), "X_INT=-3 is below the minimum 0"),
        ("X_BOOL", "maybe", lambda: env_bool("X_BOOL", True), "X_BOOL='maybe' is not a boolean"),
        ("X_STR_FILE", "/nonexistent/x", lambda: env_str("X_STR", ""), "X_STR_FILE="),
    ],
)
def test_bad_values_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, call: object, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(")):
        call()  # type: ignore[operator]


def test_every_secki_setting_is_documented() -> None:
    """Each SECKI_* variable the settings read appears in docs/configuration.md."""
    import re

    names = set(re.findall(r'env_\w+\("(SECKI_\w+|DATABASE_URL)"', SETTINGS.read_text()))
    doc = (SETTINGS.parents[2] / "docs" / "configuration.md").read_text()
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"not in docs/configuration.md: {missing}"


def start_refused(**env: str) -> str:
    """Import the settings in a fresh interpreter with ``env`` (and the suite's secret key,
    unless ``env`` names one); it must fail: its stderr."""
    key = {k: v for k, v in os.environ.items() if k.startswith("SECKI_SECRET_KEY")}
    result = subprocess.run(
        [sys.executable, "-c", "import secki.settings"],
        env={**key, **env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    return result.stderr


def test_a_bad_database_url_stops_the_start() -> None:
    assert "only postgres:// URLs are supported" in start_refused(DATABASE_URL="mysql://x")


def test_asynchronous_commit_is_refused() -> None:
    """An acknowledged write must be durable: Secki never runs with synchronous_commit off."""
    stderr = start_refused(
        DATABASE_URL="postgres://u@127.0.0.1:1/x", SECKI_SYNCHRONOUS_COMMIT="off"
    )
    assert "SECKI_SYNCHRONOUS_COMMIT='off'" in stderr


@pytest.mark.django_db
def test_every_commit_waits_for_its_flush() -> None:
    """PostgreSQL: Secki's connections commit synchronously even on a server whose default is
    off (the test server's is). SQLite: the WAL is synced at every commit."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
        else:
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 2  # FULL


def test_a_pooler_needs_a_known_mode_and_postgresql() -> None:
    stderr = start_refused(
        DATABASE_URL="postgres://u@127.0.0.1:1/x", SECKI_DATABASE_POOLER="pgpool"
    )
    assert "SECKI_DATABASE_POOLER='pgpool': use none, pgbouncer-session or" in stderr
    stderr = start_refused(SECKI_DATABASE_POOLER="pgbouncer-transaction")
    assert "SECKI_DATABASE_POOLER='pgbouncer-transaction' needs DATABASE_URL" in stderr


@pytest.mark.parametrize(
    ("pooler", "expected"),
    [
        # direct: the synchronous_commit option, rawsql's statements prepared
        ("none", [True, 5, False]),
        # PgBouncer refuses the options parameter in either mode
        ("pgbouncer-session", [False, 5, False]),
        # nothing may outlive a transaction on the server connection
        ("pgbouncer-transaction", [False, None, True]),
    ],
)
def test_what_the_pooler_setting_changes(pooler: str, expected: list[object]) -> None:
    code = (
        "import json; from secki import settings as s\n"
        "print(json.dumps([[('options' in d['OPTIONS'], d['OPTIONS']['prepare_threshold'],"
        " d.get('DISABLE_SERVER_SIDE_CURSORS', False)) for d in s.DATABASES.values()],"
        " s.SECKI_DATABASE_POOLER]))\n"
    )
    key = {k: v for k, v in os.environ.items() if k.startswith("SECKI_SECRET_KEY")}
    env = {
        **key,
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "postgres://u@127.0.0.1:1/x",
        "SECKI_REPLICA_URLS": "postgres://u@127.0.0.1:2/x",
        "SECKI_DATABASE_POOLER": pooler,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    databases, name = json.loads(result.stdout)
    assert name == pooler
    assert databases == [expected, expected]  # the primary and the replica alike
