"""Observers' pages on a phone (390 px) in az, en and ru: the public registry, the badge check,
the observer's copy form, the table of copies against the official protocols and the webcam
status page fit the phone, in the visitor's language (screenshots in tests/artifacts/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.bundle.read import read_bundle
from secki.elections.models import Station
from secki.intake.bundle_io import import_bundle
from secki.observers import actions, health
from secki.observers.models import Webcam
from secki.observers.store import official_values
from secki.protocols.models import counted_statuses
from tests.browser.conftest import shot
from tests.browser.test_audit_board import PHONE, cookie, fits
from tests.factories import write_small_bundle
from tests.observers.conftest import document
from tests.personas import make_personas

pytestmark = pytest.mark.django_db(transaction=True)


def test_observers_pages_on_a_phone(
    live_server: Any, browser: Any, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election = import_bundle(read_bundle(write_small_bundle(tmp_path / "bundle")))
    people = make_personas(election)
    cec = people["cec"].user
    users = get_user_model().objects
    rep = users.create_user(username="rep", password="pw-rep")
    watcher = users.create_user(username="watcher", password="pw-watcher")
    application = actions.apply(
        election,
        actor=rep,
        name="Civic Watch",
        kind="domestic",
        contact="watch@example.org",
        observers="2",
        names="",
        documents=[document()],
    )
    today = dt.datetime.now(dt.UTC).date()
    accreditation = actions.accept(
        application,
        actor=cec,
        valid_from=(today - dt.timedelta(days=1)).isoformat(),
        valid_until=(today + dt.timedelta(days=1)).isoformat(),
        names="Aysel Mammadova; watcher\nIvan Petrov",
    )[0]
    stations = list(Station.objects.filter(election=election).order_by("position"))
    held = official_values(election.pk, counted_statuses(False), stations[0].pk)[stations[0].pk]
    values = {c: held[c] for c, _r in actions.copy_lines(election) if c in held}
    values["C1"] += 25
    actions.submit_copy(election, stations[0], values, actor=watcher)
    for s in stations[:3]:
        actions.edit_webcam(election, s, actor=cec, stream_url=f"https://cam.example/{s.code}")
    clock = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    ids = list(Webcam.objects.filter(election=election).order_by("pk").values_list("pk", flat=True))
    health.record(election, [(pk, health.Probe(True, 200, ""), clock) for pk in ids])
    later = clock + dt.timedelta(minutes=7)
    health.record(election, [(ids[1], health.Probe(False, None, "connection refused"), later)])

    slug = election.slug
    pages = {
        "registry": f"/e/{slug}/observers/",
        "badge-check": f"/e/{slug}/observers/check/{accreditation.number}/",
        "copies": f"/e/{slug}/observers/copies/",
        "copy-station": f"/e/{slug}/observers/copies/s/{stations[0].code}/",
        "webcams": f"/e/{slug}/webcams/status/",
    }
    for lang in ("az", "en", "ru"):
        context = browser.new_context(viewport=PHONE, locale=lang)
        page = context.new_page()
        for name, path in pages.items():
            page.goto(live_server.url + path)
            assert page.locator("html").get_attribute("lang") == lang, (name, lang)
            assert fits(page), (name, lang)
            shot(page, f"observers-{name}-{lang}")
        page.goto(live_server.url + pages["copies"])
        assert (
            page.locator(f'tr[data-station="{stations[0].code}"]').get_attribute("data-mark")
            == "differs"
        )
        page.goto(live_server.url + pages["webcams"])
        assert page.locator('tr[data-status="down"]').count() == 1
        context.close()
        # the observer's phone form, logged in
        context = browser.new_context(viewport=PHONE, locale=lang)
        context.add_cookies([cookie(live_server, watcher)])
        page = context.new_page()
        page.goto(f"{live_server.url}/staff/observers/{slug}/copy/")
        assert page.locator("html").get_attribute("lang") == lang
        assert fits(page)
        shot(page, f"observers-copy-form-{lang}")
        context.close()
