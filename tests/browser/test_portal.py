"""The public portal in a real browser: drill down to a station's protocol, a protocol
accepted while the page is open appears without reloading, language switch, the bulk CSV
download matches the database, keyboard and phone use."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import pytest

from secki.elections.models import Election
from secki.opendata import snapshots
from tests.browser.conftest import shot
from tests.portal.conftest import load, submit
from tests.portal.test_opendata import assert_bulk_matches_database, read_gz_csv

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load(tmp_path / "bundle", simulated=True)


@pytest.fixture
def waiting(tmp_path: Path) -> Election:
    return load(tmp_path / "waiting", protocols=False, slug="waitland-2024", simulated=True)


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_drill_down_from_national_page_to_a_stations_protocol(
    live_server: Any, browser: Any, election: Election
) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.url}/")  # one election: the home page opens it
    expect()(page.locator("h1")).to_have_text("Testland presidential election")
    expect()(page.locator(".simulated")).to_contain_text("Simulated data")
    expect()(page.locator("#reporting")).to_contain_text("4 / 4")
    shot(page, "portal-1-national")
    page.locator("#constituencies").get_by_role("link", name="1. North").click()
    expect()(page.locator("h1")).to_have_text("North")
    shot(page, "portal-2-constituency")
    page.locator("#stations").get_by_role("link", name="1. Station 1").click()
    expect()(page.locator("h1")).to_contain_text("Station 1")
    lines = page.locator("#protocol-lines")
    expect()(lines.locator('tr[data-line="L1"] td').nth(1)).to_have_text("1,000")
    expect()(lines.locator('tr[data-line="L14"] td').nth(1)).to_have_text("680")
    expect()(lines.locator('tr[data-line="C1"] td').nth(1)).to_have_text("500")
    expect()(page.locator("#checks")).to_contain_text("AZ-6")
    shot(page, "portal-3-station")
    crumbs = page.locator("nav.crumbs")
    expect()(crumbs).to_contain_text("Testland")
    expect()(crumbs).to_contain_text("North")


def test_protocol_accepted_while_the_page_is_open_appears_without_reload(
    live_server: Any, browser: Any, waiting: Election, admin: Any
) -> None:
    page = browser.new_page()
    paused_clock(page)
    page.goto(f"{live_server.url}/e/{waiting.slug}/s/1-1/")
    expect()(page.locator("#protocol-status")).to_contain_text("No protocol has been received")
    page.evaluate("window.__sameDocument = true")
    shot(page, "live-1-before")

    submit(waiting, "1-1", admin)  # accepted (and published) through the real action

    lines = page.locator("#protocol-lines")
    expect()(lines).to_be_hidden()
    page.clock.run_for(poll_interval(page))
    expect()(lines).to_be_visible(timeout=20_000)
    expect()(lines.locator('tr[data-line="C2"] td').nth(1)).to_have_text("120")
    expect()(page.locator("#protocol-status")).to_contain_text("Protocol counted (version 1)")
    expect()(page.locator("#live-status")).to_contain_text("Updated at")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    shot(page, "live-2-after")

    national = browser.new_page()
    paused_clock(national)
    national.goto(f"{live_server.url}/e/{waiting.slug}/")
    expect()(national.locator("#reporting")).to_contain_text("1 / 4")
    submit(waiting, "2-1", admin)
    national.clock.run_for(poll_interval(national))
    expect()(national.locator("#reporting")).to_contain_text("2 / 4", timeout=20_000)


def paused_clock(page: Any) -> None:
    """Run the page's timers on Playwright's clock, paused: the page polls its live part
    (live.js) only when the test moves the clock past the polling interval, at once instead
    of after waiting for it in real time, and never earlier."""
    start = dt.datetime(2024, 2, 7, 20, 0, tzinfo=dt.UTC)
    page.clock.install(time=start)
    # Installed, the clock runs on in real time until it is paused; pausing can only move it
    # forward, so pause an hour later (at once: no page is loaded yet, no timer is due) rather
    # than at ``start``, which a busy machine had already passed ("fast-forward to the past").
    page.clock.pause_at(start + dt.timedelta(hours=1))


def poll_interval(page: Any) -> int:
    """Milliseconds between two polls of the page's live part (live.js)."""
    every = page.locator("[data-live-url]").get_attribute("data-every")
    return int(every or 5000)


def test_language_switch(live_server: Any, browser: Any, election: Election) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.url}/e/{election.slug}/")
    expect()(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Русский").click()
    expect()(page.locator("html")).to_have_attribute("lang", "ru")
    expect()(page.locator("#candidates-heading")).to_have_text("Итоги по стране")
    expect()(page.locator("#national tbody tr").first.locator("td").nth(1)).to_have_text(
        "1\u00a0330"
    )
    expect()(page.locator(".simulated")).to_contain_text("Смоделированные данные")
    shot(page, "language-ru")
    page.get_by_role("link", name="Azərbaycanca").click()
    expect()(page.locator("html")).to_have_attribute("lang", "az")
    expect()(page.locator("#candidates-heading")).to_have_text("Ölkə üzrə nəticələr")
    page.get_by_role("navigation", name="Seçki").get_by_role("link", name="Fəallıq").click()
    expect()(page.locator("h1")).to_contain_text("Fəallıq")
    shot(page, "language-az-turnout")
    page.get_by_role("link", name="English").click()
    expect()(page.locator("html")).to_have_attribute("lang", "en")


def test_bulk_csv_download_matches_the_database(
    live_server: Any, browser: Any, election: Election
) -> None:
    release = snapshots.make_release(election)
    page = browser.new_page(accept_downloads=True)
    page.goto(f"{live_server.url}/data/{election.slug}/")
    expect()(page.locator("#licence")).to_contain_text("CC BY 4.0")
    expect()(page.locator("#release-version")).to_contain_text(release.name)
    shot(page, "opendata-download-page")
    with page.expect_download() as info:
        page.locator('a[data-file="stations.csv.gz"]').click()
    download = info.value
    assert download.suggested_filename == f"{election.slug}-{release.name}-stations.csv.gz"
    raw = Path(download.path()).read_bytes()
    assert raw == (release / "stations.csv.gz").read_bytes()
    rows = read_gz_csv(raw)
    assert len(rows) == 4 and gzip.decompress(raw).startswith(b"station,unit,unit_name,")
    assert_bulk_matches_database(election, rows)


def test_keyboard_and_phone(live_server: Any, browser: Any, election: Election) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(f"{live_server.url}/e/{election.slug}/")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect()(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect()(page.locator("main")).to_be_focused()
    # tables scroll inside their boxes; the page itself does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "phone-national")
    page.goto(f"{live_server.url}/e/{election.slug}/map/")
    first = page.locator("svg.map a").first
    first.focus()
    expect()(first).to_be_focused()
    page.keyboard.press("Enter")
    expect()(page.locator("h1")).to_have_text("North")
    shot(page, "phone-constituency")
