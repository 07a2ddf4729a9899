"""Issue 12: two-factor log-in in a real browser (headless Chromium, 390 px wide).

A station operator's first log-in sets up the authenticator: the test reads the key from
the page and computes the codes itself (RFC 6238 with hmac, not django-otp's code), as the
operator's phone would. Then a later log-in with a code, one with a recovery code, and the
same recovery code refused the second time. No page may break the Content-Security-Policy.

Needs Playwright and a Chromium (``SECKI_CHROMIUM`` or /usr/bin/chromium); skipped otherwise
(failed with ``SECKI_REQUIRE_BROWSER=1``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from secki.accounts.models import AuditRecord
from secki.elections.models import Election
from tests.staff.conftest import Personas, load_election

CHROMIUM = os.environ.get("SECKI_CHROMIUM") or shutil.which("chromium") or ""
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sync_api() -> Any:
    if not CHROMIUM:
        if os.environ.get("SECKI_REQUIRE_BROWSER") == "1":
            pytest.fail("SECKI_REQUIRE_BROWSER=1 but no Chromium (set SECKI_CHROMIUM)")
        pytest.skip("no Chromium found (set SECKI_CHROMIUM)")
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load_election(tmp_path / "bundle")


@pytest.fixture
def personas(election: Election) -> Personas:
    return Personas(election)


def totp(secret: str, step: int) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s) for the base32 key shown on the page."""
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def now_step() -> int:
    return int(time.time()) // 30


def test_enrol_then_log_in_with_a_code_and_with_a_recovery_code(
    live_server: Any, personas: Personas, sync_api: Any
) -> None:
    base = live_server.url
    violations: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        expect = sync_api.expect

        def password() -> None:
            page.goto(f"{base}/staff/login/?next=/staff/")
            page.fill("#id_username", "op11")
            page.fill("#id_password", "pw-op11")
            page.click("button:has-text('Log in')")

        def log_out() -> None:
            page.click("button:has-text('Log out')")
            page.wait_for_url(f"{base}/staff/login/")

        # first log-in: enrolment
        password()
        page.wait_for_url(f"{base}/staff/login/enrol/")
        qr = page.locator("#qr svg")
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box is not None and 100 < box["width"] <= 390 and box["height"] > 100
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "two-factor-enrol-390.png"), full_page=True)
        secret = page.locator("#secret").inner_text()
        enrolled_at = now_step()
        page.fill("#id_code", totp(secret, enrolled_at))
        page.click("button:has-text('Confirm and log in')")
        page.wait_for_url(f"{base}/staff/login/recovery-codes/")
        codes = [c.replace(" ", "") for c in page.locator("#recovery-codes code").all_inner_texts()]
        assert len(codes) == 10 and len(set(codes)) == 10
        page.click("a:has-text('Continue')")
        page.wait_for_url(f"{base}/staff/")
        expect(page.locator(".staff-nav")).to_contain_text("op11")
        log_out()

        # a later log-in: the password, then the app's code (a later time step than the one
        # used to enrol: each step's code works once)
        password()
        page.wait_for_url(f"{base}/staff/login/code/")
        page.fill("#id_code", totp(secret, max(now_step(), enrolled_at + 1)))
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{base}/staff/")
        log_out()

        # phone lost: a recovery code, once
        password()
        page.wait_for_url(f"{base}/staff/login/code/")
        page.fill("#id_code", codes[0])
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{base}/staff/")
        expect(page.locator(".msg")).to_contain_text("Recovery codes left: 9")
        log_out()

        password()
        page.wait_for_url(f"{base}/staff/login/code/")
        page.fill("#id_code", codes[0])
        page.click("button:has-text('Log in')")
        expect(page.locator(".problem")).to_contain_text("This code was not accepted")
        assert page.url == f"{base}/staff/login/code/"
        page.goto(f"{base}/staff/")
        page.wait_for_url(f"{base}/staff/login/?next=/staff/")  # not logged in
        browser.close()

    assert violations == []
    user = personas["op11"]
    assert TOTPDevice.objects.get(user=user).confirmed
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(codes[1:])
    trail = [
        (r.action, (r.after or {}).get("method") or (r.after or {}).get("reason"))
        for r in AuditRecord.objects.filter(target="op11").order_by("at", "id")
    ]
    assert trail == [
        ("2fa.enrolled", None),
        ("login", "totp"),
        ("logout", None),
        ("login", "totp"),
        ("logout", None),
        ("login", "recovery_code"),
        ("logout", None),
        ("2fa.failed", "wrong_code"),
    ]
