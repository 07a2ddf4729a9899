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


def scan(election: Election, query: str) -> tuple[list[str], int]:
    """What the search answered before it had an index: every station read and matched."""
    from secki.elections.models import Unit

    query = " ".join(query.split())[:200]
    words = fold(query).split()
    if not words:
        return [], 0
    whole = fold(query)
    units = {u.id: u for u in Unit.objects.filter(election=election)}
    found = []
    for station in Station.objects.filter(election=election).order_by("position", "id"):
        unit = units[station.unit_id]
        code = fold(station.code)
        parts = (station.name, station.address, unit.name, unit.code)
        haystack = " ".join((code, str(station.number), *map(fold, parts)))
        if not all(w in haystack for w in words):
            continue
        if code == whole:
            rank = 0
        elif whole == str(station.number):
            rank = 1
        elif code.startswith(whole):
            rank = 2
        else:
            rank = 3
        found.append((rank, len(found), station.code))
    found.sort()
    return [code for _rank, _n, code in found[:LIMIT]], len(found)


def test_the_index_answers_as_a_scan_of_every_station_would(
    client: Client, election: Election
) -> None:
    """The same stations in the same order as matching every station of the register, for
    codes, numbers, parts of words, accents, several words and nothing; a query reads no
    station from the database, and a register amendment is found at once."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from secki.accounts.actions import amend_register
    from secki.elections.models import Unit

    unit = Unit.objects.get(election=election, code="2")
    streets = ["Nizami küçəsi", "Füzuli prospekti", "Şəki yolu", "Bakı meydanı", "School lane"]
    Station.objects.bulk_create(
        Station(
            election=election,
            unit=unit,
            code=f"2-{10 + i}",
            number=10 + i,
            name=f"Məktəb {i % 7}",
            address=f"{streets[i % len(streets)]} {i}",
            registered=100,
            unit_path=unit.path,
            position=10 + i,
        )
        for i in range(120)
    )
    queries = [
        "1-1", "2", "12", "2-1", "2-10", "1", "school", "SCHOOL lane", "seki", "Şəki yolu 7",
        "mekteb 3", "MƏKTƏB", "nizami 1", "küç", "south", "north 1", "zzz", "2-", "-1", "a",
    ]  # fmt: skip
    for query in queries:
        body = results(client, q=query, election=election.slug)
        codes, total = scan(election, query)
        assert [r["station"] for r in body["results"]] == codes, query
        assert body["total"] == total, query
    with CaptureQueriesContext(connection) as queries_run:
        results(client, q="nizami", election=election.slug)
    station_table = Station._meta.db_table
    assert not [q["sql"] for q in queries_run.captured_queries if station_table in q["sql"]]

    station = Station.objects.get(election=election, code="2-15")
    cec = get_user_model().objects.create_superuser("search-cec", password="pw")
    amend_register(cec, election, station, reason="moved", address="Xətai küçəsi 99")
    assert [r["station"] for r in results(client, q="xetai 99")["results"]] == ["2-15"]
    assert results(client, q="xetai 99")["total"] == scan(election, "xetai 99")[1] == 1
