"""The observers' dashboard with its checklist and incident summaries on a 390 px phone, in
Russian: the page fits the screen (the wide tables scroll inside their box) and shows the
coordinator's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from secki.observers import field
from tests.browser.conftest import shot
from tests.browser.observer_setup import accredited_observer
from tests.browser.test_field_offline import WAIT, chromium, fits  # noqa: F401 (the fixture)
from tests.observers.test_field import OCCURRED, OPENING

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dashboard_summaries_fit_a_phone(
    live_server: Any,
    chromium: Any,  # noqa: F811
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election, _rep, aysel = accredited_observer(tmp_path, unit="1")
    field.install_checklists(election, actor=None)
    for station in ("1-1", "1-2"):
        field.submit_checklist(
            election, actor=aysel, station=station, form="opening", answers={**OPENING, "Q3": "no"}
        )
    for category in ("ballot_stuffing", "intimidation", "observer_obstructed"):
        field.report_incident(
            election,
            actor=aysel,
            station="1-1",
            category=category,
            occurred_at=OCCURRED,
            description="seen",
        )

    page = chromium.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU")
    page.set_default_timeout(WAIT)
    page.goto(f"{live_server.url}/staff/login/")
    page.fill("#id_username", "rep")
    page.fill("#id_password", "pw-rep")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server.url}/staff/observers/{election.slug}/dashboard/")
    opening = page.locator('[data-checklist="opening"] tbody tr[data-unit="1"]')
    sync_api.expect(opening.locator('[data-figure="submissions"]')).to_have_text("2")
    sync_api.expect(opening.locator('[data-question="Q3"]')).to_have_text("2")
    sync_api.expect(page.locator("#incident-summary tbody tr")).to_have_count(3)
    assert "Инциденты по статусу и категории" in page.content()
    assert fits(page)
    shot(page, "observers-dashboard-summaries")
    page.close()
