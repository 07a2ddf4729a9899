"""Observers' pages in Chromium on a 390 px phone: the observer logs in, records a protocol
copy on the phone form (a wrong number first: the field is named, nothing stored), and the
badge, the public registry, the badge check and the copies table fit the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from secki.observers import actions
from secki.observers.models import ProtocolCopy
from tests.browser.conftest import shot
from tests.browser.observer_setup import accredited_observer
from tests.factories import PROTOCOLS

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.django_db(transaction=True)


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_observer_on_a_phone(live_server: Any, browser: Any, tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election, _rep, _aysel = accredited_observer(tmp_path)
    base = live_server.url
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(f"{base}/staff/login/")
    page.fill("#id_username", "aysel")
    page.fill("#id_password", "pw-aysel")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.goto(f"{base}/staff/observers/{election.slug}/copy/")
    assert fits(page)
    shot(page, "observers-phone-copy-form")
    # the copy of station 1-2 as the small bundle's protocol has it, but C1 higher by 7
    header = ["station", *election.protocol_schema().columns(election.candidate_count())]
    row = dict(zip(header, [str(v) if v is not None else "" for v in PROTOCOLS[1]], strict=False))
    page.fill("#station", "1-2")
    for code, _r in actions.copy_lines(election):
        page.fill(f"#f-{code}", row.get(code, ""))
    page.fill("#f-C1", "many")
    page.locator("#copy-form button[type=submit]").click()
    sync_api.expect(page.locator("#error")).to_have_attribute("data-field", "C1")
    assert ProtocolCopy.objects.count() == 0
    page.fill("#f-C1", str(int(row["C1"]) + 7))
    page.locator("#copy-form button[type=submit]").click()
    sync_api.expect(page.locator(".msg.success")).to_contain_text("1-2")
    assert ProtocolCopy.objects.get().values["C1"] == int(row["C1"]) + 7

    page.goto(f"{base}/staff/observers/{election.slug}/accreditations/OBS-000001/badge/")
    sync_api.expect(page.locator("#badge svg")).to_be_visible()
    assert fits(page)
    shot(page, "observers-phone-badge")
    page.goto(f"{base}/e/{election.slug}/observers/")
    sync_api.expect(page.locator("#organisations")).to_contain_text("Fair Count")
    assert fits(page)
    shot(page, "observers-phone-registry")
    page.goto(f"{base}/e/{election.slug}/observers/check/OBS-000001/")
    sync_api.expect(page.locator("#verdict")).to_have_attribute("data-state", "valid")
    assert fits(page)
    shot(page, "observers-phone-badge-check")
    page.goto(f"{base}/e/{election.slug}/observers/copies/")
    station = page.locator('tr[data-station="1-2"]')
    sync_api.expect(station).to_have_attribute("data-mark", "differs")
    sync_api.expect(station.locator('[data-line="C1"]')).to_contain_text("= -7")
    assert fits(page)
    shot(page, "observers-phone-copies")
    page.goto(f"{base}/e/{election.slug}/s/1-2/")
    sync_api.expect(page.locator("#observer-copies")).to_have_attribute("data-mark", "differs")
