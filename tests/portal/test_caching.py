"""HTTP caching and live updates: ETag and 304, Cache-Control and Vary, the live part that
the page polls, and a new protocol changing both."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election
from tests.portal.conftest import submit

pytestmark = pytest.mark.django_db


def test_etag_gives_304_until_a_protocol_is_accepted(waiting: Election, admin: Any) -> None:
    url = f"/e/{waiting.slug}/u/1/"
    first = Client().get(url)
    assert first.status_code == 200
    etag = first["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert first["Cache-Control"] == "public, max-age=5, stale-while-revalidate=30"
    assert {"Accept-Language", "Cookie"} <= {v.strip() for v in first["Vary"].split(",")}

    again = Client().get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert Client().get(url, HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert Client().get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200

    submit(waiting, "1-1", admin)
    changed = Client().get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "counted" in changed.content.decode()


def test_etag_differs_by_language(election: Election) -> None:
    url = f"/e/{election.slug}/"
    english = Client().get(url)["ETag"]
    russian = Client(HTTP_ACCEPT_LANGUAGE="ru").get(url)
    assert russian["ETag"] != english
    assert "Итоги по стране" in russian.content.decode()
    # the cached English bytes are not served to a Russian reader, nor the other way round
    assert "National results" in Client().get(url).content.decode()


def test_live_part_is_the_fragment_the_page_polls(waiting: Election, admin: Any) -> None:
    page = Client().get(f"/e/{waiting.slug}/u/2/").content.decode()
    box = re.search(r'data-live-url="([^"]+)" data-etag="([^"]+)"', page)
    assert box is not None
    live_url, live_etag = box.group(1).replace("&amp;", "&"), box.group(2).replace("&quot;", '"')
    assert live_url == f"/e/{waiting.slug}/u/2/?part=live"
    assert '<script src="/static/portal/live.js" defer></script>' in page

    part = Client().get(live_url)
    assert part.status_code == 200 and part["ETag"] == live_etag
    fragment = part.content.decode()
    assert "<html" not in fragment and 'id="stations"' in fragment
    assert 'data-station="2-2"' in fragment and "not reported" in fragment
    assert Client().get(live_url, HTTP_IF_NONE_MATCH=live_etag).status_code == 304

    submit(waiting, "2-2", admin)
    fresh = Client().get(live_url, HTTP_IF_NONE_MATCH=live_etag)
    assert fresh.status_code == 200
    row = fresh.content.decode().split('data-station="2-2"', 1)[1].split("</tr>", 1)[0]
    assert 'class="badge counted"' in row


def test_sort_state_survives_in_the_live_url(election: Election) -> None:
    page = Client().get(f"/e/{election.slug}/u/2/?sort=turnout&order=desc").content.decode()
    assert 'data-live-url="/e/testland-2024/u/2/?sort=turnout&amp;order=desc&amp;part=live"' in page


def test_station_and_turnout_and_map_pages_are_conditional(election: Election) -> None:
    for url in [
        f"/e/{election.slug}/s/1-1/",
        f"/e/{election.slug}/turnout/",
        f"/e/{election.slug}/map/?by=turnout",
    ]:
        etag = Client().get(url)["ETag"]
        assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304, url


def test_within_a_second_a_cached_page_costs_no_query(
    election: Election, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    from secki.opendata import published

    # without a publisher the process checks the election and the ledger head (and publishes
    # on demand) at most once per ON_DEMAND_SECONDS
    monkeypatch.setattr(published, "ON_DEMAND_SECONDS", 60.0)
    url = f"/e/{election.slug}/"
    etag = Client().get(url)["ETag"]
    with django_assert_num_queries(0):
        assert Client().get(url).status_code == 200
        assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    monkeypatch.setattr(published, "ON_DEMAND_SECONDS", 0.0)
    with django_assert_num_queries(1):  # the election row and the ledger head, together
        assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
