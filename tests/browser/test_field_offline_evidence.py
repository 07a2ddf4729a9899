"""An incident with a photo reported from a phone with no connection, in Chromium on a 390 px
phone: the incident form opens from the service worker's cache, the report and its photo (a
Blob) wait in the browser's queue (IndexedDB) and nothing reaches the server; back online, they
go as one multipart form with the item's Idempotency-Key and arrive once, with the photo's
SHA-256; the same item sent again (a phone that lost the answer) is a replay, not a second
incident. See test_field_offline.py for how the worker's own requests are cut off."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from secki.observers import field
from secki.observers.models import Incident, IncidentEvidence
from tests.browser.conftest import shot
from tests.browser.observer_setup import accredited_observer
from tests.browser.test_field_offline import WAIT, chromium, fits  # noqa: F401 (the fixture)
from tests.observers.conftest import PNG

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_incident_with_a_photo_sent_offline_arrives_once(
    live_server: Any,
    chromium: Any,  # noqa: F811
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election, rep, _aysel = accredited_observer(tmp_path, unit="1")
    field.assign(election, actor=rep, accreditation="OBS-000001", station="1-1")
    occurred = (dt.datetime.now(election.tz) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")

    base = live_server.url
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, service_workers="allow"
    )
    context.set_default_timeout(WAIT)
    page = context.new_page()
    page.goto(f"{base}/staff/login/")
    page.fill("#id_username", "aysel")
    page.fill("#id_password", "pw-aysel")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{base}/staff/field/{election.slug}/incident/")
    sync_api.expect(page.locator("#queue")).to_have_attribute("data-ready", "1", timeout=WAIT)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT)

    def worker_offline(route: Any) -> None:
        if route.request.service_worker is not None:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    context.set_offline(True)
    context.route("**/*", worker_offline)
    page.reload()  # from the worker's cache
    sync_api.expect(page.locator("#incident-form")).to_be_visible(timeout=WAIT)
    assert page.evaluate("navigator.onLine") is False
    page.fill("#station", "1-1")
    page.select_option("#category", "ballot_stuffing")
    page.fill("#occurred_at", occurred)
    page.fill("#description", "A man put a stack of ballots into the box.")
    page.set_input_files(
        "#evidence", files=[{"name": "box.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.locator("#incident-form button[type=submit]").click()
    queue = page.locator("#queue")
    sync_api.expect(queue).to_have_attribute("data-waiting", "1", timeout=WAIT)
    assert Incident.objects.count() == 0
    assert fits(page)
    shot(page, "observers-phone-incident-queued")
    # the queued item holds the photo itself, and is kept (for a resend) by the page
    kept = page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("secki-field", 1);
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const get = open.result.transaction("queue").objectStore("queue").getAll();
                get.onsuccess = () => {
                    window.keptItem = get.result[0];
                    const f = get.result[0].files[0];
                    resolve([get.result.length, f.name, f.blob.size, f.blob instanceof Blob]);
                };
            };
        })"""
    )
    assert kept == [1, "box.png", len(PNG), True]

    context.unroute("**/*", worker_offline)
    context.set_offline(False)  # the "online" event sends the queue
    sync_api.expect(queue).to_have_attribute("data-waiting", "0", timeout=WAIT)
    sync_api.expect(queue).to_have_attribute("data-sent", "1", timeout=WAIT)
    row = Incident.objects.get()
    assert (row.station.code, row.category) == ("1-1", "ballot_stuffing")
    evidence = IncidentEvidence.objects.get()
    assert evidence.incident_id == row.pk
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest()
    assert evidence.content_type == "image/png" and evidence.size == len(PNG)

    # the same item queued again (the answer was lost): sent with its key, it is a replay
    page.evaluate(
        """() => new Promise((resolve, reject) => {
            const item = window.keptItem;
            const open = indexedDB.open("secki-field", 1);
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const tx = open.result.transaction("queue", "readwrite");
                tx.objectStore("queue").put(item);
                tx.oncomplete = () => resolve(true);
            };
        })"""
    )
    page.reload()
    sync_api.expect(queue).to_have_attribute("data-sent", "1", timeout=WAIT)
    sync_api.expect(queue).to_have_attribute("data-waiting", "0", timeout=WAIT)
    assert Incident.objects.count() == 1 and IncidentEvidence.objects.count() == 1
    context.close()
