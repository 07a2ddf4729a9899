"""``/api/v1/docs`` in Chromium with every request to another host refused: Swagger UI comes
from the project's own static files (django-ninja ships them) and renders the operations,
the results responses with their typed schemas; no request to another host is attempted."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import shot
from tests.portal.conftest import load

pytestmark = pytest.mark.django_db(transaction=True)

LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_the_api_docs_render_with_outside_requests_blocked(
    live_server: Any, browser: Any, tmp_path: Path
) -> None:
    load(tmp_path / "bundle", simulated=True)
    context = browser.new_context()
    outside: list[str] = []

    def refuse(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
            return
        outside.append(route.request.url)
        route.abort()

    context.route("**/*", refuse)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{live_server.url}/api/v1/docs")
    results = page.locator('.opblock-summary-path[data-path="/api/v1/elections/{slug}/results"]')
    expect()(results).to_be_visible(timeout=20_000)
    assert page.locator(".opblock").count() > 20
    # the national results' answer is typed: its schema is shown with its fields
    results.click()
    answers = page.locator(".responses-wrapper").first
    expect()(answers).to_contain_text("stations_reported")
    expect()(answers).to_contain_text("outcome")
    shot(page, "api-docs")
    assert outside == [] and failed == []
    context.close()
