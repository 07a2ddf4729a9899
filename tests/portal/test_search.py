"""Find my station (secki.portal.search): by code, number, address or unit name, folding case
and accents alike on SQLite and PostgreSQL; the layout's search box on every public page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election, Station
from secki.portal.search import LIMIT, fold

pytestmark = pytest.mark.django_db


def results(client: Client, **query: str) -> dict[str, Any]:
    response = client.get("/search/", {**query, "format": "json"})
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_fold_drops_case_and_accents() -> None:
    assert fold("Şəki Bakı ÇÖĞÜ") == "seki baki cogu"


def test_an_exact_code_comes_first_then_the_number(client: Client, election: Election) -> None:
    body = results(client, q="1-2", election=election.slug)
    assert [r["station"] for r in body["results"]] == ["1-2"]
    assert body["results"][0]["url"].endswith(f"/e/{election.slug}/s/1-2/")
    assert body["results"][0]["unit_name"] == "North"
    by_number = results(client, q="2", election=election.slug)["results"]
    # the station number 2 of each constituency first, then every other match (code 2-1)
    assert [r["station"] for r in by_number] == ["1-2", "2-2", "2-1"]


def test_words_of_the_address_and_unit_all_match(client: Client, election: Election) -> None:
    assert [r["station"] for r in results(client, q="school")["results"]] == ["1-1"]
    assert [r["station"] for r in results(client, q="EMBASSY south")["results"]] == ["2-2"]
    assert results(client, q="embassy north")["results"] == []
    assert results(client, q="   ")["total"] == 0


def test_accented_addresses_are_found_without_accents(client: Client, election: Election) -> None:
    Station.objects.filter(election=election, code="1-2").update(address="Şəki, Bakı küçəsi 5")
    assert [r["station"] for r in results(client, q="seki baki kucesi")["results"]] == ["1-2"]
    assert [r["station"] for r in results(client, q="ŞƏKİ")["results"]] == ["1-2"]


def test_many_matches_are_cut_with_the_total(client: Client, election: Election) -> None:
    unit = Station.objects.get(election=election, code="1-1").unit
    Station.objects.bulk_create(
        Station(
            election=election,
            unit=unit,
            code=f"9-{i}",
            number=100 + i,
            name=f"School {i}",
            registered=10,
            unit_path=unit.path,
            position=100 + i,
        )
        for i in range(LIMIT + 5)
    )
    body = results(client, q="school", election=election.slug)
    assert body["total"] == LIMIT + 6 and body["truncated"] is True
    assert len(body["results"]) == LIMIT
    page = client.get("/search/", {"q": "school", "election": election.slug})
    assert f"The first {LIMIT} are listed" in page.content.decode()


def test_an_unknown_election_is_named(client: Client, election: Election) -> None:
    response = client.get("/search/", {"q": "1", "election": "nowhere", "format": "json"})
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "election"
    assert "nowhere" in response.json()["error"]["message"]
    assert client.get("/search/", {"q": "1", "election": "nowhere"}).status_code == 404


def test_every_public_page_has_the_search_box(client: Client, election: Election) -> None:
    slug = election.slug
    for path in (
        f"/e/{slug}/",
        f"/e/{slug}/s/1-1/",
        f"/e/{slug}/turnout/",
        f"/e/{slug}/map/",
        f"/e/{slug}/webcams/",
        "/data/",
        f"/data/{slug}/",
        "/verify/",
        "/search/",
        f"/e/{slug}/s/nowhere/",
    ):
        html = client.get(path).content.decode()
        assert 'role="search"' in html and 'name="q"' in html, path
    assert f'name="election" value="{slug}"' in client.get(f"/e/{slug}/").content.decode()


def test_the_results_page_lists_links_to_the_stations(client: Client, election: Election) -> None:
    html = client.get("/search/", {"q": "station 1", "election": election.slug}).content.decode()
    assert f'href="/e/{election.slug}/s/1-1/"' in html
    assert f'href="/e/{election.slug}/s/2-1/"' in html
    assert f'href="/e/{election.slug}/s/1-2/"' in html  # its code holds a 1
    assert f'href="/e/{election.slug}/s/2-2/"' not in html
    assert "3 stations match" in html
    none = client.get("/search/", {"q": "zzz"}).content.decode()
    assert "No station matches" in none


def test_the_officials_pages_keep_their_own_forms_only(client: Client, election: Election) -> None:
    html = client.get("/staff/login/").content.decode()
    assert 'role="search"' not in html and 'id="id_username"' in html
