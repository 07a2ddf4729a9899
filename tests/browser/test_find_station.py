"""Find my station on a 390 px phone: the search box is in the layout's header above the
tables, one query leads to the station's page, nothing scrolls sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from secki.elections.models import Station
from tests.browser.conftest import shot
from tests.portal.conftest import load

pytestmark = pytest.mark.django_db(transaction=True)


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_find_my_station_on_a_phone(live_server: Any, browser: Any, tmp_path: Path) -> None:
    election = load(tmp_path / "bundle", simulated=True)
    Station.objects.filter(election=election, code="2-2").update(address="Şəki, Bakı küçəsi 5")
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(f"{live_server.url}/e/{election.slug}/turnout/")
    box = page.get_by_role("searchbox", name="Find my station")
    expect()(box).to_be_visible()
    # within the first screen: no scrolling through the tables to reach it
    top = box.bounding_box()
    assert top is not None and top["y"] + top["height"] <= 844
    box.fill("baki kucesi")
    box.press("Enter")
    expect()(page.locator("h1")).to_have_text("Find my station")
    expect()(page.locator("#search-summary")).to_contain_text("1 station matches")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "phone-find-station")
    page.locator("#search-results").get_by_role("link").first.click()
    expect()(page.locator("h1")).to_contain_text("Station 2")
    expect()(page.locator("h1")).to_contain_text("2-2")
    # the same box on the station page; a code goes straight to the top of the list
    page.get_by_role("searchbox", name="Find my station").fill("1-1")
    page.get_by_role("button", name="Search").click()
    first = page.locator("#search-results li").first
    expect()(first).to_contain_text("1-1")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
