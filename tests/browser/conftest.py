"""Headless Chromium (the Debian package) driven by Playwright against pytest-django's live
server. Playwright cannot download browsers here, so the system Chromium is used; without it
the tests skip with the reason, unless ``SECKI_REQUIRE_BROWSER=1`` (CI), when they fail.
Screenshots go to ``tests/artifacts/`` (git-ignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from secki.portal import http
from secki.results import tabulate
from tests.portal.conftest import admin  # noqa: F401 (the superuser fixture)

CHROMIUM = os.environ.get("SECKI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("SECKI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SECKI_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setattr(http, "ROW_SECONDS", 0.0)  # every request sees the latest ledger head
    settings.SECKI_SNAPSHOT_AUTO = False
    http.pages.clear()
    tabulate._cache.clear()
    yield
    http.pages.clear()
    tabulate._cache.clear()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    # Playwright's sync API keeps an event loop in this thread; the tests still call the ORM
    # between browser steps (to accept a protocol while a page is open), which is safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # ORM calls made while Playwright's loop runs get their own connection (asgiref's
            # context-local storage): close it here, or PostgreSQL cannot drop the test database
            connections.close_all()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
