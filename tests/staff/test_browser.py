"""The entry form in a real browser: running totals as the operator types, the live check
through the JSON API, the commission-act field appearing when AZ-2 fails, and submitting.

Needs Playwright and a Chromium (``SECKI_CHROMIUM`` or /usr/bin/chromium); skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from secki.elections.models import Election
from secki.protocols.models import Protocol
from tests.staff.conftest import Personas, form_values

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("SECKI_CHROMIUM") or shutil.which("chromium") or ""

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM, reason="no Chromium found (set SECKI_CHROMIUM)"),
]


def log_in(page: Any, base: str, name: str, app: Callable[[], str]) -> None:
    page.goto(f"{base}/staff/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", f"pw-{name}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/staff/login/code/")
    page.fill("#id_code", app())
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/staff/")


def test_typing_shows_totals_and_checks_then_submits(
    live_server: Any, election: Election, personas: Personas
) -> None:
    base = live_server.url
    slug = election.slug
    values = form_values("1-1")
    app = personas.authenticator("op11")  # read before the browser: no ORM inside it
    # Playwright's sync API runs an event loop in this thread: no ORM calls until it is closed
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        log_in(page, base, "op11", app)
        page.goto(f"{base}/staff/e/{slug}/protocol/")
        for code, value in values.items():
            if code.startswith("C") or code == "L17" or not value:
                continue
            page.fill(f"#f-{code}", value)
        page.fill("#f-C1", "500")
        page.fill("#f-C2", "120")
        page.fill("#f-C3", "61")
        sync_api.expect(page.locator("#cand-total")).to_have_text("681")
        sync_api.expect(page.locator("#valid-total")).to_have_text("680")
        sync_api.expect(page.locator("#sum-verdict")).to_have_text("✗ differ by 1")
        checks = page.locator("#live-checks")
        sync_api.expect(checks).to_contain_text("✗ AZ-6 (hard)")
        sync_api.expect(checks).to_contain_text("A hard check fails")
        submit = page.locator("button:has-text('Submit protocol')")
        sync_api.expect(submit).to_be_disabled()  # blocked while a hard check fails

        page.fill("#f-C3", "60")
        sync_api.expect(page.locator("#sum-verdict")).to_have_text("✓ equal")
        sync_api.expect(checks).to_contain_text("Every hard check passes.")
        assert page.locator("#act-box").is_hidden()
        sync_api.expect(submit).to_be_enabled()

        # more ballots in the mobile boxes than issued for mobile voting: the act is asked for
        page.fill("#f-L6", "10")
        page.fill("#f-L5", "690")
        sync_api.expect(checks).to_contain_text("✗ AZ-2 (hard)")
        sync_api.expect(page.locator("#act-box")).to_be_visible()
        sync_api.expect(submit).to_be_enabled()  # an act can accept AZ-2
        page.fill("#f-act", "PEC act No. 3")
        page.click("button:has-text('Submit protocol')")
        page.wait_for_url(f"{base}/staff/e/{slug}/stations/1-1/")
        message = page.locator(".msg.success").inner_text()
        browser.close()
    assert message == "Station 1-1: protocol published (version 1)."
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.decision_ref == "PEC act No. 3"
    assert dict(protocol.values.values_list("code", "value"))["L6"] == 10


def test_a_csrf_failure_keeps_the_typed_values(
    live_server: Any, election: Election, personas: Personas
) -> None:
    """The session ends while the operator types (cookies gone: an expired log-in): the
    submission is refused on a page in the site's layout that offers to log in again, and
    after logging in the form has the typed values back."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    base = live_server.url
    slug = election.slug
    form = f"{base}/staff/e/{slug}/protocol/"
    app = personas.authenticator("op11")
    backup = StaticDevice.objects.create(user=personas["op11"], name="backup", confirmed=True)
    StaticToken.objects.create(device=backup, token="keepme42x")  # the second log-in's code
    typed = {"L1": "1000", "L2": "1020", "L5": "675"}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        page = context.new_page()
        log_in(page, base, "op11", app)
        page.goto(form)
        for code, value in typed.items():
            page.fill(f"#f-{code}", value)
        context.clear_cookies()  # the session and its CSRF cookie are gone
        page.click("button:has-text('Submit protocol')")
        sync_api.expect(page.locator("h1")).to_have_text("Not saved: please log in again")
        sync_api.expect(page.locator("#kept-note")).to_be_visible()
        assert page.locator("nav a[href='/verify/'], footer a[href='/verify/']").count() >= 1
        page.click("#log-in-again")
        page.fill("#id_username", "op11")
        page.fill("#id_password", "pw-op11")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/staff/login/code/")
        page.fill("#id_code", "keepme42x")
        page.click("button:has-text('Log in')")
        page.wait_for_url(form)
        sync_api.expect(page.locator("#restored-note")).to_be_visible()
        kept = {code: page.input_value(f"#f-{code}") for code in typed}
        untouched = page.input_value("#f-L13")
        browser.close()
    assert kept == typed
    assert untouched == ""
    assert not Protocol.objects.filter(election=election).exists()


def english_ui() -> set[str]:
    """The English catalogue's sentences and labels (msgids of two words or more whose
    translations differ from them): none may show on an az or ru page."""
    from pathlib import Path

    from tests.test_translations import LOCALE, entries

    out: set[str] = set()
    for language in ("az", "ru"):
        for _context, msgid, msgstr, _fuzzy in entries(
            LOCALE / language / "LC_MESSAGES" / "django.po"
        ):
            if "%" in msgid or "<" in msgid or "{" in msgid or msgstr == msgid:
                continue
            if len(msgid.split()) >= 2:
                out.add(msgid.replace('\\"', '"'))
    assert out and Path(LOCALE).exists()
    return out


@pytest.mark.parametrize("language", ["az", "ru"])
def test_the_entry_form_and_login_page_have_no_english_ui_text(
    live_server: Any, election: Election, personas: Personas, language: str
) -> None:
    from django.conf import settings

    base = live_server.url
    app = personas.authenticator("op11")
    english = english_ui()
    cookie = {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([cookie])
        page = context.new_page()
        page.goto(f"{base}/staff/login/")
        login_text = page.inner_text("body")
        page.fill("#id_username", "op11")
        page.fill("#id_password", "pw-op11")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/staff/login/code/")
        page.fill("#id_code", app())
        page.click("form[action='/staff/login/code/'] button[type=submit]")
        page.wait_for_url(f"{base}/staff/")
        page.goto(f"{base}/staff/e/{election.slug}/protocol/")
        form_text = (
            page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
        )
        browser.close()
    for name, text in (("login", login_text), ("entry form", form_text)):
        found = sorted(m for m in english if m in text)
        assert found == [], (language, name, found)


@pytest.mark.parametrize("language", ["az", "ru", "en"])
def test_the_staff_pages_have_no_english_ui_text(
    live_server: Any, election: Election, personas: Personas, language: str
) -> None:
    """The CEC administrator's pages in az and ru: the dashboard, turnout entry, the integrity
    page, the election's settings, the API tokens and the protocol entry form show no sentence
    or label of the English catalogue (the page's whole text, navigation and footer included).
    In en, as a control, the same check finds English on every page."""
    from django.conf import settings

    base = live_server.url
    slug = election.slug
    app = personas.authenticator("admin")
    english = english_ui()
    pages = {
        "dashboard": "/staff/",
        "turnout entry": f"/staff/turnout/{slug}/station/1-1/",
        "turnout by unit": f"/staff/turnout/{slug}/",
        "integrity": f"/integrity/e/{slug}/",
        "settings": f"/staff/e/{slug}/settings/",
        "tokens": "/staff/tokens/",
        "protocol entry": f"/staff/e/{slug}/protocol/",
        "stations": f"/staff/e/{slug}/stations/",
    }
    cookie = {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}
    texts: dict[str, str] = {}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([cookie])
        page = context.new_page()
        page.goto(f"{base}/staff/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "pw-admin")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/staff/login/code/")
        page.fill("#id_code", app())
        page.click("form[action='/staff/login/code/'] button[type=submit]")
        page.wait_for_url(f"{base}/staff/")
        for name, path in pages.items():
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (name, path)
            if name == "integrity":  # it reloads itself until its first analysis is ready
                page.wait_for_selector("#status:not([data-status='computing'])")
            assert page.locator("html").get_attribute("lang") == language, name
            texts[name] = page.inner_text("body")
        browser.close()
    for name, text in texts.items():
        found = sorted(m for m in english if m in text)
        if language == "en":  # the check sees English where there is English
            assert found, name
        else:
            assert found == [], (language, name, found)
