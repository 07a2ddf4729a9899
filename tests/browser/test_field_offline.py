"""The observer's phone forms with no connection, in Chromium on a 390 px phone: the service
worker keeps the checklist page (it opens again offline), a checklist submitted offline waits
in the browser's queue (IndexedDB) and nothing reaches the server; back online, the queue is
sent with its Idempotency-Key and the submission arrives exactly once, also when the page sends
its queue again.

Playwright's offline mode does not cover a service worker's own requests unless its
experimental service-worker network events are on; with them, the test also aborts every
request the worker makes while offline, so the page can only come from the worker's cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from secki.observers import field
from secki.observers.models import ChecklistSubmission
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _unavailable, shot
from tests.browser.observer_setup import accredited_observer

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.django_db(transaction=True)

#: how long a step may take on a busy machine (the worker's install, the cache, the queue)
WAIT = 120_000


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Chromium with Playwright's service-worker network events (read when the driver starts)."""
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setenv("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_a_checklist_sent_offline_arrives_once(
    live_server: Any, chromium: Any, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election, rep, _aysel = accredited_observer(tmp_path, unit="1")
    field.install_checklists(election, actor=None)
    field.assign(election, actor=rep, accreditation="OBS-000001", station="1-1")

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
    form_url = f"{base}/staff/field/{election.slug}/checklists/opening/"
    page.goto(form_url)
    # the worker is registered and the phone pages are in its cache
    sync_api.expect(page.locator("#queue")).to_have_attribute("data-ready", "1", timeout=WAIT)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT)
    assert fits(page)
    shot(page, "observers-phone-checklist")

    def worker_offline(route: Any) -> None:
        if route.request.service_worker is not None:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    context.set_offline(True)
    context.route("**/*", worker_offline)
    page.reload()  # from the worker's cache: the network is gone
    sync_api.expect(page.locator("#checklist-form")).to_be_visible(timeout=WAIT)
    assert page.evaluate("navigator.onLine") is False
    page.fill("#station", "1-1")
    page.fill("#f-Q1", "07:50")
    page.fill("#f-Q2", "4")
    page.check("input[name=Q3][value=no]")
    page.check("input[name=Q4][value=yes]")
    page.check("input[name=Q5][value=yes]")
    page.locator("#checklist-form button[type=submit]").click()
    sync_api.expect(page.locator("#queue")).to_have_attribute("data-waiting", "1", timeout=WAIT)
    assert ChecklistSubmission.objects.count() == 0
    shot(page, "observers-phone-checklist-queued")

    context.unroute("**/*", worker_offline)
    context.set_offline(False)  # the "online" event sends the queue
    sync_api.expect(page.locator("#queue")).to_have_attribute("data-waiting", "0", timeout=WAIT)
    sync_api.expect(page.locator("#queue")).to_have_attribute("data-sent", "1", timeout=WAIT)
    row = ChecklistSubmission.objects.get()
    assert (row.station.code, row.form.code, row.flags) == ("1-1", "opening", ["empty_box"])

    # the same item sent again (a phone that lost the answer): the key makes it a replay
    replay = page.evaluate(
        """async () => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const body = {form: "opening", station: "1-1",
                answers: {Q1: "07:50", Q2: "4", Q3: "no", Q4: "yes", Q5: "yes"}};
            const send = () => fetch(document.getElementById("field").dataset.api
                + "/checklist-answers", {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "Idempotency-Key": "same-key",
                "X-CSRFToken": token}, body: JSON.stringify(body)});
            const first = await send();
            const second = await send();
            return [first.status, second.status, second.headers.get("Idempotent-Replayed")];
        }"""
    )
    assert replay == [201, 201, "true"]
    assert ChecklistSubmission.objects.count() == 2  # the page's item once, the replayed once
    page.reload()
    sync_api.expect(page.locator("#queue")).to_have_attribute("data-waiting", "0", timeout=WAIT)
    assert ChecklistSubmission.objects.count() == 2
    # the other phone pages fit a 390 px screen too
    for path in ("", "incident/"):
        page.goto(f"{base}/staff/field/{election.slug}/{path}")
        assert fits(page), path
    shot(page, "observers-phone-incident")
    page.goto(f"{base}/e/{election.slug}/observers/coverage/")
    sync_api.expect(page.locator("#coverage-stations")).to_be_visible(timeout=WAIT)
    assert fits(page)
    shot(page, "observers-coverage")
    context.close()

    # the coordinator's pages on a phone
    coordinator = chromium.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    coordinator.set_default_timeout(WAIT)
    coordinator.goto(f"{base}/staff/login/")
    coordinator.fill("#id_username", "rep")
    coordinator.fill("#id_password", "pw-rep")
    coordinator.locator("form button[type=submit], form input[type=submit]").first.click()
    coordinator.wait_for_url(lambda url: "/login" not in url)
    for path in ("deploy/", "incidents/"):
        coordinator.goto(f"{base}/staff/field/{election.slug}/{path}")
        assert fits(coordinator), path
