"""An audit board enters a round on a phone (390 px): both members enter a station's count
on the entry form and the second entry agrees; the public audit page and the report in az,
en and ru fit the phone too (screenshots in tests/artifacts/). The administrator assigns the
members to the round's constituencies on the phone first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from secki.audits import actions
from secki.audits.models import Task
from secki.simulator import SimulationConfig
from tests.audits.conftest import SEED, WITNESSES, Paper, make_boards
from tests.browser.conftest import shot
from tests.integrity.conftest import import_simulated

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = {"width": 390, "height": 844}


def cookie(live_server: Any, user: Any) -> dict[str, Any]:
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"name": settings.SESSION_COOKIE_NAME, "value": value, "url": live_server.url}


def fits(page: Any) -> bool:
    """Nothing wider than the phone (wide tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= 391"))


def test_board_enters_a_round_on_a_phone(live_server: Any, browser: Any, tmp_path: Path) -> None:
    imported = import_simulated(
        tmp_path / "bundle",
        SimulationConfig(
            stations=30,
            seed=3,
            candidates=2,
            shares=(0.62, 0.38),
            constituencies=2,
            slug="audit-phone",
        ),
    )
    cec = imported.people["cec"].user
    audit = actions.create_audit(imported.election, actor=cec, kind="macro", risk_limit="0.10")
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    actions.start_round(audit, actor=cec)
    boards = make_boards(imported)
    paper = Paper(imported.sim)
    tasks = list(Task.objects.filter(round__audit=audit).select_related("row__station"))
    base = f"{live_server.url}/staff/audits/e/{imported.election.slug}/{audit.pk}/"
    # the administrator assigns both members to every constituency of the round, on the phone
    context = browser.new_context(viewport=PHONE, locale="en")
    context.add_cookies([cookie(live_server, cec)])
    page = context.new_page()
    page.goto(base)
    groups = sorted({t.row.constituency for t in tasks})
    for group in groups:
        for member in (boards.first, boards.second):
            page.select_option("#a-constituency", group)
            page.fill("#a-member", member.username)
            page.get_by_role("button", name="Assign").click()
            page.wait_for_url(base)
            page.wait_for_load_state()
            assert "Board member assigned" in page.locator("[role=status]").first.inner_text()
    assert fits(page)
    assert page.locator("#assignments li").count() == 2 * len(groups)
    shot(page, "audit-board-assignment")
    context.close()
    for n, member in enumerate((boards.first, boards.second)):
        context = browser.new_context(viewport=PHONE, locale="en")
        context.add_cookies([cookie(live_server, member)])
        page = context.new_page()
        for task in tasks:
            page.goto(base)
            assert fits(page)
            page.locator(f'a[href$="/count/{task.pk}/"]').click()
            page.wait_for_url(f"**/count/{task.pk}/")
            page.wait_for_load_state()
            assert fits(page)
            for code, value in paper.station_count(task.row.station.code).items():
                page.fill(f"#v-{code}", str(value))
            if task is tasks[0]:
                shot(page, f"audit-board-entry-{n + 1}")
            page.get_by_role("button", name="Save the count").click()
            page.wait_for_url(base)
            page.wait_for_load_state()
            message = page.locator("[role=status]").first.inner_text()
            assert ("Entry saved" if n == 0 else "Both entries agree") in message
        context.close()
    audit.refresh_from_db()
    assert audit.status == "confirmed"
    assert all(t.agreed is not None for t in Task.objects.filter(round__audit=audit))
    for lang in ("az", "en", "ru"):
        context = browser.new_context(viewport=PHONE, locale=lang)
        page = context.new_page()
        page.goto(f"{live_server.url}/e/{imported.election.slug}/audits/{audit.pk}/")
        assert page.locator("#seed").inner_text() == SEED
        assert fits(page)
        shot(page, f"audit-report-{lang}")
        page.goto(f"{live_server.url}/e/{imported.election.slug}/audits/{audit.pk}/report/")
        page.wait_for_load_state()
        assert page.locator("#seed").inner_text() == SEED
        assert page.locator("#round-1").count() == 1
        assert fits(page)
        shot(page, f"audit-final-report-{lang}")
        page.goto(f"{live_server.url}/e/{imported.election.slug}/audits/")
        shot(page, f"audit-calculator-{lang}")
        context.close()
