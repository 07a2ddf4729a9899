"""A unit with more stations than a page (a national election's constituency holds
thousands): its page and its JSON answer list the stations a page at a time, while the
unit's totals stay whole; each page is its own cached answer of the published state."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station, Unit
from secki.intake.bundle_io import import_bundle
from secki.opendata import published
from secki.portal.pages import STATIONS_PAGE
from secki.simulator import SimulationConfig, simulate, write_bundle

pytestmark = pytest.mark.django_db

STATIONS = 2 * STATIONS_PAGE + 37  # three pages, the last one short


@pytest.fixture
def big(tmp_path: Path) -> Election:
    """A simulated election of one constituency holding every station, all counted."""
    sim = simulate(dataclasses.replace(SimulationConfig(), stations=STATIONS, constituencies=1))
    write_bundle(sim, tmp_path / "bundle")
    return import_bundle(read_bundle(tmp_path / "bundle"))


@pytest.fixture
def state(big: Election) -> Iterator[published.State]:
    """The published state, as the one publisher writes it; the pages read it (its
    heartbeat tells them the publisher runs)."""
    publisher = published.Publisher(interval=published.INTERVAL, clock=lambda: 0.0)
    publisher.step()
    current = published.read(big.slug)
    assert current is not None
    yield current


def constituency(election: Election) -> Unit:
    return Unit.objects.get(election=election, parent__isnull=False)


def station_codes(html: str) -> list[str]:
    return re.findall(r'<tr data-station="([^"]+)"', html)


def test_the_unit_page_lists_its_stations_a_page_at_a_time(
    big: Election, state: published.State
) -> None:
    unit = constituency(big)
    url = f"/e/{big.slug}/u/{unit.code}/"
    ordered = list(
        Station.objects.filter(election=big, unit=unit)
        .order_by("number")
        .values_list("code", flat=True)
    )
    assert len(ordered) == STATIONS
    seen: list[str] = []
    for page in (1, 2, 3):
        answer = Client().get(url, {"page": page})
        assert answer.status_code == 200
        html = answer.content.decode()
        codes = station_codes(html)
        assert len(codes) == (STATIONS_PAGE if page < 3 else STATIONS - 2 * STATIONS_PAGE)
        seen += codes
        # the totals are the unit's, whichever page is shown
        assert f'id="reporting">{STATIONS} / {STATIONS}<small>' in html
        first, last = (page - 1) * STATIONS_PAGE + 1, min(page * STATIONS_PAGE, STATIONS)
        assert f"Stations {first}–{last} of {STATIONS}" in html
        assert 'aria-current="page"' in html
        if page < 3:
            assert f'href="?page={page + 1}" rel="next"' in html
        if page > 1:
            assert f'href="?page={page - 1}" rel="prev"' in html
    assert seen == ordered  # every station once, in the page's order
    # past the last page: the last page; not a number: the first
    assert station_codes(Client().get(url, {"page": 99}).content.decode()) == seen[-37:]
    assert station_codes(Client().get(url, {"page": "x"}).content.decode()) == seen[:100]


def test_sorting_runs_over_every_station_and_the_pager_keeps_it(
    big: Election, state: published.State
) -> None:
    unit = constituency(big)
    url = f"/e/{big.slug}/u/{unit.code}/"
    by_size = list(
        Station.objects.filter(election=big, unit=unit)
        .order_by("-registered", "number")
        .values_list("registered", flat=True)
    )
    html = Client().get(url, {"sort": "registered", "order": "desc", "page": 2}).content.decode()
    codes = station_codes(html)
    registered = dict(
        Station.objects.filter(election=big, code__in=codes).values_list("code", "registered")
    )
    assert [registered[c] for c in codes] == by_size[STATIONS_PAGE : 2 * STATIONS_PAGE]
    assert 'href="?sort=registered&amp;order=desc&amp;page=3" rel="next"' in html
    # a column's sort link starts at the first page again
    headers = re.findall(r'<th scope="col"[^>]*><a href="([^"]+)"', html)
    assert headers and all("page=" not in h for h in headers)
    # the live part (what the page's script reloads) is paged the same way
    live = Client().get(url, {"sort": "registered", "order": "desc", "page": 2, "part": "live"})
    assert station_codes(live.content.decode()) == codes


def test_the_unit_answer_pages_its_stations_and_keeps_whole_totals(
    big: Election, state: published.State
) -> None:
    unit = constituency(big)
    url = f"/api/v1/elections/{big.slug}/results/units/{unit.code}"
    pages: list[dict[str, Any]] = []
    for page in (1, 2, 3):
        answer = Client().get(url, {"page": page})
        assert answer.status_code == 200
        assert answer["X-Secki-State"] == str(state.version)
        pages.append(json.loads(answer.content))
    for number, doc in enumerate(pages, start=1):
        assert doc["stations_page"] == {
            "number": number,
            "pages": 3,
            "per_page": STATIONS_PAGE,
            "count": STATIONS,
        }
        assert doc["stations_total"] == doc["stations_reported"] == STATIONS
    rows = [r for doc in pages for r in doc["stations"]]
    assert [r["number"] for r in rows] == sorted(r["number"] for r in rows)
    assert len({r["station"] for r in rows}) == STATIONS
    summed: Counter[str] = Counter()
    for r in rows:
        assert r["status"] == "counted"
        summed.update(r["lines"])
    assert dict(summed) == pages[0]["lines"]  # the pages together make the unit's totals
    assert Client().get(url).content == Client().get(url, {"page": 1}).content
    assert Client().get(url, {"page": 0}).status_code in (400, 422)


def test_each_page_has_its_own_etag_and_revalidates(big: Election, state: published.State) -> None:
    unit = constituency(big)
    url = f"/api/v1/elections/{big.slug}/results/units/{unit.code}"
    first = Client().get(url, {"page": 1})
    second = Client().get(url, {"page": 2})
    assert first["ETag"] != second["ETag"]
    again = Client().get(url, {"page": 2}, HTTP_IF_NONE_MATCH=second["ETag"])
    assert again.status_code == 304
    other = Client().get(url, {"page": 1}, HTTP_IF_NONE_MATCH=second["ETag"])
    assert other.status_code == 200 and other.content == first.content
    page = f"/e/{big.slug}/u/{unit.code}/"
    one, two = Client().get(page, {"page": 1}), Client().get(page, {"page": 2})
    assert one["ETag"] != two["ETag"]
    assert Client().get(page, {"page": 2}, HTTP_IF_NONE_MATCH=two["ETag"]).status_code == 304
