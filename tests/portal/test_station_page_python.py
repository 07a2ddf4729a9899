"""The station page is written in Python (:mod:`secki.portal.stationpage`, issue 15): it must
be the very bytes its templates wrote (``tests/portal/station_reference``, around the site's
layout, rendered here beside it on the same data), in every language, for a station whose
names need escaping, one without protocol, an annulled one, an amended one with a soft
failure, and the live part."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest
from django.template.backends.django import DjangoTemplates
from django.test import Client
from django.utils import translation

from secki.elections.models import Election, Station
from secki.opendata import published
from secki.portal import http, stationpage, views
from secki.portal.templatetags import portal as portal_tags
from secki.protocols.actions import amend_protocol, annul_protocol
from tests.portal.conftest import Clock, protocol_data

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).parent / "station_reference"
LANGUAGES = ("az", "en", "ru")
NASTY = "<b>Ev & \"Bağ\" 'Kənd'</b>"


def reference(settings: Any, directory: Path = REFERENCE) -> DjangoTemplates:
    """The templates of ``directory`` (``station_reference``) before the site's own (its
    layout)."""
    return DjangoTemplates(
        {
            "NAME": "reference",
            "DIRS": [str(directory)],
            "APP_DIRS": True,
            "OPTIONS": settings.TEMPLATES[0]["OPTIONS"],
        }
    )


def capture(
    settings: Any, monkeypatch: pytest.MonkeyPatch, directory: Path = REFERENCE
) -> list[tuple[bytes, bytes]]:
    """(the code's bytes, the reference templates' bytes on the same data) of every page and
    live part the view writes from now on (tests/portal/snapshot_station_pages.py too)."""
    templates = reference(settings, directory)
    found: list[tuple[bytes, bytes]] = []
    real_page, real_part = stationpage.page, stationpage.part

    def page(request: HttpRequest, values: dict[str, Any]) -> str:
        mine = real_page(request, values)
        theirs = templates.get_template("portal/station.html").render(dict(values), request)
        found.append((mine.encode(), theirs.encode()))
        return mine

    def part(values: dict[str, Any]) -> str:
        mine = real_part(values)
        theirs = templates.get_template("portal/parts/station_live.html").render(dict(values))
        found.append((mine.encode(), theirs.encode()))
        return mine

    monkeypatch.setattr(stationpage, "page", page)
    monkeypatch.setattr(stationpage, "part", part)
    return found


@pytest.fixture
def pairs(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every page the view writes meanwhile, beside the reference templates' on its data."""
    return capture(settings, monkeypatch)


def page(client: Client, election: Election, code: str, language: str, part: str = "") -> bytes:
    http.pages.clear()  # rendered anew, not the process's copy
    portal_tags._fragments.clear()
    stationpage._made.clear()
    stationpage._layouts.clear()
    response = client.get(f"/e/{election.slug}/s/{code}/{part}", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.status_code
    return bytes(response.content)


def both(
    pairs: list[tuple[bytes, bytes]],
    client: Client,
    election: Election,
    code: str,
    language: str,
    part: str = "",
) -> tuple[bytes, bytes]:
    """The page by the code, and by the reference templates on the same data."""
    pairs.clear()
    sent = page(client, election, code, language, part)
    assert len(pairs) == 1
    mine, theirs = pairs[0]
    assert sent == mine
    return mine, theirs


@pytest.fixture
def varied(election: Election, admin: Any, clock: Clock) -> Election:
    """1-1 with names and an address to escape and a webcam, 1-2 amended with a soft failure
    (polls closed a day early), 2-1 annulled by a decision to escape; published."""
    Station.objects.filter(election=election, code="1-1").update(
        name=NASTY,
        name_ru=f"Участок {NASTY}",
        address=f"Küçə 1 & {NASTY}",
        webcam=True,
        webcam_url="https://cam.example/1?a=1&b=2",
        abroad=True,
        temporary=True,
    )
    data = protocol_data("1-2")
    early = {k: v - dt.timedelta(days=1) for k, v in data.instants.items()}
    votes = (data.candidates[0] - 10, data.candidates[1] + 10, data.candidates[2])
    amend_protocol(
        Station.objects.get(election=election, code="1-2"),
        dataclasses.replace(data, instants=early, candidates=votes),
        actor=admin,
        reason=f"recount {NASTY}",
    )
    annul_protocol(
        Station.objects.get(election=election, code="2-1"),
        actor=admin,
        decision_ref=f"CEC 1/1 {NASTY}",
        reason=f"why {NASTY}",
    )
    published.Publisher(clock=clock, open_data=False).step()
    return election


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("code", ["1-1", "1-2", "2-1", "2-2"])
def test_the_page_is_the_templates_bytes(
    pairs: list[tuple[bytes, bytes]], varied: Election, code: str, language: str
) -> None:
    client = Client()
    for part in ("", "?part=live"):
        mine, reference = both(pairs, client, varied, code, language, part)
        assert mine == reference, (code, language, part)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_station_without_protocol(
    pairs: list[tuple[bytes, bytes]], waiting: Election, language: str
) -> None:
    mine, reference = both(pairs, Client(), waiting, "1-1", language)
    assert mine == reference
    with translation.override(language):
        said = translation.gettext("No protocol has been received from this station yet.")
    assert said.encode() in mine and b'id="protocol-lines"' not in mine


def test_an_officials_page_is_the_templates_bytes(
    pairs: list[tuple[bytes, bytes]], varied: Election, admin: Any
) -> None:
    client = Client()
    client.force_login(admin)
    for code in ("1-1", "1-2", "2-1"):
        mine, reference = both(pairs, client, varied, code, "en")
        assert mine == reference, code


def test_names_reasons_and_decisions_are_escaped(varied: Election) -> None:
    client = Client()
    escaped = html.escape(NASTY).encode()
    for language in LANGUAGES:
        first = page(client, varied, "1-1", language)
        assert NASTY.encode() not in first
        assert first.count(escaped) >= 3  # title, crumbs, heading (and the address)
        assert b'href="https://cam.example/1?a=1&amp;b=2"' in first
    annulled = page(client, varied, "2-1", "en")
    assert NASTY.encode() not in annulled
    assert b"annulled by decision CEC 1/1 " + escaped in annulled
    assert b"why " + escaped in annulled
    amended = page(client, varied, "1-2", "ru")
    assert NASTY.encode() not in amended and b"recount " + escaped in amended


def test_a_soft_failure_and_an_annulment_in_every_language(varied: Election) -> None:
    client = Client()
    for language in LANGUAGES:
        with translation.override(language):
            failed = translation.gettext("failed")
            soft = translation.gettext("soft")
            annulled = translation.gettext(
                "The results of this station were annulled by decision %(ref)s. Its numbers "
                "stay on record below but are not counted."
            ) % {"ref": html.escape(f"CEC 1/1 {NASTY}")}
        amended = page(client, varied, "1-2", language).decode()
        assert f'<td>{soft}</td><td><span class="fail">{failed}</span>' in amended
        assert page(client, varied, "2-1", language).decode().count(annulled) == 1


def test_a_station_whose_results_are_withheld(
    pairs: list[tuple[bytes, bytes]], varied: Election, waiting: Election, clock: Clock
) -> None:
    later = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    Election.objects.filter(pk__in=[varied.pk, waiting.pk]).update(
        publication="time", publication_at=later
    )
    clock.now += 60
    published.Publisher(clock=clock, open_data=False).step()
    for election, code in ((waiting, "1-1"), (varied, "1-2")):
        for language in LANGUAGES:
            mine, reference = both(pairs, Client(), election, code, language)
            assert mine == reference, (election.slug, language)
            assert b'id="protocol-lines"' not in mine
    with translation.override("en"):
        shown = views.withheld_text(Election.objects.get(pk=waiting.pk))
    assert html.escape(shown).encode() in page(Client(), waiting, "1-1", "en")
