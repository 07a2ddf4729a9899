"""Shared test setup.

Every test that uses the database gets the ``database`` marker automatically, so that
``make test`` can run exactly those again on a throwaway PostgreSQL server
(``pytest -m database`` under ``python -m secki.devtools.pgserver``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

DB_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
    "admin_client",
    "admin_user",
    "django_user_model",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = os.environ.get("SECKI_SLOW") == "1"
    skip_slow = pytest.mark.skip(reason="slow test: set SECKI_SLOW=1 to run it")
    for item in items:
        uses_db = item.get_closest_marker("django_db") is not None or bool(
            DB_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        if uses_db:
            item.add_marker(pytest.mark.database)
        if item.get_closest_marker("slow") and not run_slow:
            item.add_marker(skip_slow)


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"secki database backend: {engine}"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data (or $SECKI_DATA_DIR); tests needing it skip with a reason when absent."""
    env = os.environ.get("SECKI_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real election data not found at {path} (set SECKI_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests create many users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _test_logins_pass_the_second_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Client.force_login`` and ``Client.login`` stand for a complete log-in: the session of
    a user who needs a second factor (secki.accounts.twofactor.required) is also marked
    verified by the user's authenticator (a confirmed one is made if the user has none), as
    the log-in's code step does. The log-in pages themselves are tested through their forms
    (tests/security)."""
    from django.test import Client

    original = Client._login

    def _login(self: Client, user: Any, backend: str | None = None) -> None:
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from secki.accounts import twofactor

        original(self, user, backend)
        if not twofactor.required(user):
            return
        device = twofactor.totp_device(user) or TOTPDevice.objects.create(
            user=user, name="test authenticator", confirmed=True
        )
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    monkeypatch.setattr(Client, "_login", _login)


@pytest.fixture(autouse=True)
def _fresh_figure_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with empty per-process caches of figures and pages.

    They are keyed by the ledger head and the election's row, which a rolled-back test reuses
    (the same sequence numbers, and on SQLite the same ids), so a test could otherwise be
    answered with the figures a previous test cached (a results page showing another test's
    totals when the tests run in another order)."""
    from secki.observers import compare
    from secki.opendata import published
    from secki.portal import http
    from secki.results import anomalies, tabulate, turnout

    # without a publisher the web process publishes on demand: in tests at every ledger move
    # (the tests of the published state drive a Publisher step by step instead)
    monkeypatch.setattr(published, "ON_DEMAND_SECONDS", 0.0)
    http.pages.clear()  # and the election rows it reads, and the published states
    for cache in (tabulate._cache, turnout._cache, anomalies._cache, compare._cache):
        cache.clear()
