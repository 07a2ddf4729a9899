"""The strict Content-Security-Policy in Chromium (issue 12): the main pages raise no
violation and still work (live updates, the entry form's live checks), with the policy the
site sends (script-src 'self', style-src 'self': no inline script or style anywhere).

Violations are caught two ways: the page's ``securitypolicyviolation`` events (recorded by a
script Playwright adds before the page's own) and Chromium's console messages. The first test
proves the net catches an inline style, so that a clean page means a clean page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from secki.elections.models import Election
from tests.browser import conftest as browser_setup
from tests.browser.test_portal import paused_clock, poll_interval
from tests.portal.conftest import load, submit
from tests.staff.conftest import Personas, form_values, load_election

pytestmark = pytest.mark.django_db(transaction=True)

# fixtures: headless Chromium (skipped without it unless SECKI_REQUIRE_BROWSER=1), and each
# test's own var directory with fresh page caches (autouse)
browser = browser_setup.browser
_isolated = browser_setup._isolated

RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(
    event.effectiveDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber + " " + (event.sample || "")
  );
});
"""


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


class Watched:
    """A browser page whose CSP violations are collected, page after page."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        self.seen: list[str] = []
        page.add_init_script(RECORDER)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def visit(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, (url, policy)
        assert "unsafe-inline" not in policy
        self.page.wait_for_load_state("networkidle")
        self.seen.append(url)
        return response

    def violations(self) -> list[str]:
        recorded = self.page.evaluate("window.__cspViolations || []")
        return [*recorded, *self.console]

    def assert_clean(self) -> None:
        found = self.violations()
        assert not found, f"CSP violations after {self.seen}: {found}"


def session_cookie(live_server: Any, user: Any) -> dict[str, Any]:
    """A logged-in session (second factor included, tests/conftest.py) as a browser cookie."""
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"name": settings.SESSION_COOKIE_NAME, "value": value, "url": live_server.url}


@pytest.fixture(autouse=True)
def quick_integrity(settings: Any) -> None:
    """The integrity page computes in its request, with few replicates (tests/integrity)."""
    settings.SECKI_INTEGRITY_BACKGROUND = False
    settings.SECKI_INTEGRITY_REPLICATES = 200
    settings.SECKI_INTEGRITY_FIT_BOOTSTRAP = 4
    settings.SECKI_INTEGRITY_DIGIT_BOOTSTRAP = 200


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load(tmp_path / "bundle", simulated=True)


@pytest.fixture
def waiting(tmp_path: Path) -> Election:
    return load(tmp_path / "waiting", protocols=False, slug="waitland-2024", simulated=True)


def test_the_net_catches_an_inline_style(
    live_server: Any, browser: Any, election: Election
) -> None:
    watched = Watched(browser.new_page())
    watched.visit(f"{live_server.url}/e/{election.slug}/")
    watched.assert_clean()
    watched.page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')"
    )
    watched.page.wait_for_function("window.__cspViolations.length > 0")
    assert any("style-src" in v for v in watched.violations())


def test_public_pages_raise_no_violation_and_update_live(
    live_server: Any, browser: Any, election: Election, waiting: Election, admin: Any
) -> None:
    base, slug = live_server.url, election.slug
    watched = Watched(browser.new_page())
    pages = [
        ("/", "h1"),
        (f"/e/{slug}/", "#reporting"),
        (f"/e/{slug}/u/1/", "#stations"),
        (f"/e/{slug}/s/1-1/", "#protocol-lines"),
        (f"/e/{slug}/map/", "svg.map"),
        (f"/e/{slug}/turnout/", "svg.chart"),
        (f"/e/{slug}/webcams/", "h1"),
        ("/data/", "h1"),
        (f"/data/{slug}/", "h1"),
        ("/api/v1/docs", "#swagger-ui"),
    ]
    for path, landmark in pages:
        watched.visit(base + path)
        expect()(watched.page.locator(landmark).first).to_be_visible()
        watched.assert_clean()
    # the map's legend and the results table's bars are SVG, not inline styles
    watched.visit(f"{base}/e/{slug}/map/")
    assert watched.page.locator(".legend svg.swatch rect[fill]").count() > 0
    browser_setup.shot(watched.page, "csp-map")
    watched.visit(f"{base}/e/{slug}/")
    bars = watched.page.locator("svg.bar rect")
    shares = [float(bars.nth(i).get_attribute("width") or 0) for i in range(bars.count())]
    assert len(shares) == 3 and 99 < sum(shares) < 101, shares
    widths = [bars.nth(i).bounding_box()["width"] for i in range(bars.count())]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0  # longest bar first
    browser_setup.shot(watched.page, "csp-national")
    watched.assert_clean()

    # live updates: a protocol accepted while the page is open appears without a reload
    watched.page.close()
    live = Watched(browser.new_page())
    paused_clock(live.page)
    live.visit(f"{base}/e/{waiting.slug}/s/1-1/")
    lines = live.page.locator("#protocol-lines")
    expect()(lines).to_be_hidden()
    submit(waiting, "1-1", admin)
    live.page.clock.run_for(poll_interval(live.page))
    expect()(lines).to_be_visible(timeout=20_000)
    expect()(live.page.locator("#live-status")).to_contain_text("Updated at")
    live.assert_clean()


def test_official_pages_raise_no_violation_and_the_live_checks_work(
    live_server: Any, browser: Any, tmp_path: Path, admin: Any
) -> None:
    election = load_election(tmp_path / "staff")
    personas = Personas(election)
    base, slug = live_server.url, election.slug

    anonymous = Watched(browser.new_page())
    anonymous.visit(f"{base}/staff/login/")
    expect()(anonymous.page.locator("#id_username")).to_be_visible()
    anonymous.assert_clean()

    context = browser.new_context()
    context.add_cookies([session_cookie(live_server, personas["op11"])])
    operator = Watched(context.new_page())
    operator.visit(f"{base}/staff/")
    operator.assert_clean()
    operator.visit(f"{base}/staff/turnout/{slug}/station/1-1/")
    expect()(operator.page.locator("#registered")).to_be_visible()
    operator.assert_clean()
    # the entry form: running totals and the control relations checked live by the API
    operator.visit(f"{base}/staff/e/{slug}/protocol/")
    for code, value in form_values("1-1").items():
        if code != "L17" and value:
            operator.page.fill(f"#f-{code}", value)
    expect()(operator.page.locator("#cand-total")).to_have_text("680")
    expect()(operator.page.locator("#sum-verdict")).to_have_text("✓ equal")
    expect()(operator.page.locator("#live-checks")).to_contain_text("Every hard check passes.")
    operator.assert_clean()
    context.close()

    context = browser.new_context()
    context.add_cookies([session_cookie(live_server, admin)])
    chair = Watched(context.new_page())
    for path, landmark in [
        ("/staff/", "h1"),
        (f"/staff/e/{slug}/stations/", "h1"),
        (f"/staff/e/{slug}/stations/1-1/", "h1"),
        (f"/staff/turnout/{slug}/", "h1"),
        (f"/staff/turnout/{slug}/missing/", "h1"),
        (f"/staff/turnout/{slug}/anomalies/", "h1"),
        (f"/staff/e/{slug}/reconcile/", "h1"),
        ("/staff/tokens/", "h1"),
        ("/staff/audit/", "h1"),
        ("/staff/two-factor/", "h1"),
        (f"/integrity/e/{slug}/", "#caveat"),
        (f"/integrity/e/{slug}/risk/", "h1"),
        (f"/integrity/e/{slug}/pvt/", "h1"),
        ("/admin/", "#content"),
        ("/admin/elections/election/", "#content"),
    ]:
        chair.visit(base + path)
        expect()(chair.page.locator(landmark).first).to_be_visible()
        chair.assert_clean()
    context.close()


@pytest.fixture
def admin(db: None) -> Iterator[Any]:
    from django.contrib.auth import get_user_model

    yield get_user_model().objects.create_superuser("cec-chair", password="pw-cec-chair")
