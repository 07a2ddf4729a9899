"""axe-core (vendored: tests/vendor/axe-core) in Chromium on the national, station, turnout,
staff entry and integrity pages: no serious or critical violation. Screenshots of the
national, station and staff entry pages in az and ru on a 390 px phone (tests/artifacts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from secki.elections.models import Election
from tests.browser.conftest import ARTIFACTS
from tests.personas import make_personas
from tests.portal.conftest import load

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}


@pytest.fixture(autouse=True)
def quick_integrity(settings: Any) -> None:
    settings.SECKI_INTEGRITY_BACKGROUND = False
    settings.SECKI_INTEGRITY_REPLICATES = 50
    settings.SECKI_INTEGRITY_FIT_BOOTSTRAP = 2
    settings.SECKI_INTEGRITY_DIGIT_BOOTSTRAP = 50


def session(live_server: Any, user: Any | None, language: str = "en") -> list[dict[str, Any]]:
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    if user is not None:
        client = Client()
        client.force_login(user)  # second factor included (tests/conftest.py)
        value = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookies.append(
            {"name": settings.SESSION_COOKIE_NAME, "value": value, "url": live_server.url}
        )
    return cookies


def serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations of the page as it is now."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.id} (${v.impact}): ` + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return list(found)


def test_axe_finds_no_serious_violation_and_phones_show_az_and_ru(
    live_server: Any, browser: Any, tmp_path: Path
) -> None:
    election: Election = load(tmp_path / "bundle", simulated=True)
    people = make_personas(election)
    base, slug = live_server.url, election.slug
    pages = [
        (None, f"/e/{slug}/", "#reporting", "national"),
        (None, f"/e/{slug}/s/1-1/", "#protocol-lines", "station"),
        (None, f"/e/{slug}/turnout/", "svg.chart", "turnout"),
        ("st11", f"/staff/e/{slug}/protocol/", "form", "staff-entry"),
        ("cec", f"/integrity/e/{slug}/", "h1", "integrity"),
    ]
    problems: dict[str, list[str]] = {}
    for who, path, landmark, name in pages:
        user = people[who].user if who else None
        for language in ("en", "az", "ru"):
            # axe's own script is injected by the test: the site's policy would refuse it
            context = browser.new_context(bypass_csp=True, **PHONE)
            context.add_cookies(session(live_server, user, language))
            page = context.new_page()
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (path, language)
            page.locator(landmark).first.wait_for()
            assert page.locator("html").get_attribute("lang") == language
            if name in ("national", "station", "staff-entry") and language != "en":
                page.screenshot(
                    path=str(ARTIFACTS / f"phone-{name}-{language}.png"), full_page=True
                )
            found = serious(page)
            if found:
                problems[f"{name} [{language}]"] = found
            context.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
