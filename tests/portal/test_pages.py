"""The public pages: national → unit → station drill-down, turnout, map, sorting, 404s,
languages and locale number formats, the simulated label."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from secki.elections.models import Election, Station
from secki.protocols.actions import amend_protocol, annul_protocol
from secki.protocols.models import Protocol
from tests.portal.conftest import load, protocol_data, submit

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def cells(html: str, table_id: str) -> list[list[str]]:
    """The rows of a table as lists of cell texts (tags stripped, whitespace collapsed)."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S):
        found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        rows.append([" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in found])
    return rows


def test_national_page_shows_outcome_figures_candidates_and_units(election: Election) -> None:
    html = text(Client().get(f"/e/{election.slug}/"))
    assert "Simulated data: this is not a real election." in html
    assert 'id="reporting">4 / 4<' in html
    national = cells(html, "national")
    assert national[1][:4] == ["Candidate A", "Party One", "1,330", "60.59"]
    assert national[2][:4] == ["Candidate B", "Party Two", "720", "32.80"]
    assert "Candidate A is elected with more than half of the valid votes." in html
    units = cells(html, "constituencies")
    assert [r[0] for r in units[1:]] == ["1. North", "2. South"]
    # North: 2 of 2 stations, 1,800 registered, C1 800 of 1,170 valid = 68.38 %
    assert units[1][1:4] == ["2/2 100.00 %", "1,800", "66.67 %"]
    assert units[1][4] == "68.38 % 800"
    assert f'href="/e/{election.slug}/u/1/"' in html


def test_real_election_is_not_labelled_simulated(waiting: Election) -> None:
    html = text(Client().get(f"/e/{waiting.slug}/"))
    assert "Simulated data" not in html
    assert "No results have been published yet." in html


def test_unit_page_lists_stations_with_status_and_links(election: Election) -> None:
    html = text(Client().get(f"/e/{election.slug}/u/1/"))
    rows = cells(html, "stations")
    assert rows[1][0] == "1. Station 1 webcam"
    assert rows[1][1] == "counted"
    assert rows[1][2] == "1,000"
    assert rows[2][0] == "2. Station 2 temporary"
    assert f'href="/e/{election.slug}/s/1-1/"' in html
    crumbs = html.split('class="crumbs"', 1)[1].split("</nav>", 1)[0]
    assert f'href="/e/{election.slug}/"' in crumbs and "Testland" in crumbs


def test_station_page_shows_every_line_checks_history_and_turnout(election: Election) -> None:
    html = text(Client().get(f"/e/{election.slug}/s/1-1/"))
    values = {r[0]: r[2] for r in cells(html, "protocol-lines")[1:]}
    protocol = Protocol.objects.get(station__code="1-1", is_current=True)
    for code, value in protocol.values.values_list("code", "value"):
        assert values[code] == f"{value:,}", code
    assert values["L1a"] == "—"  # a line left empty on the form
    assert values["L17"].startswith("Feb. 7, 2024, 9:30")  # in the election's time zone
    checks = {r[0]: r[3] for r in cells(html, "checks")[1:]}
    assert checks["AZ-6"] == "passed" and checks["AZ-1"] == "not applicable"
    assert "Version 1" in html and "bulk import" in html
    turnout = cells(html, "station-turnout")
    assert turnout[1][:3] == ["10:00", "150", "15.00 %"]
    assert turnout[2][:3] == ["12:00", "400", "40.00 %"]
    assert "yes: this station is filmed" in html
    sha = re.search(r'class="hash">([0-9a-f ]+)<', html)
    assert sha is not None and len(sha.group(1).split()) == 16


def test_amendment_and_annulment_are_shown_with_reasons(election: Election, admin: Any) -> None:
    station = Station.objects.get(election=election, code="1-2")
    data = protocol_data("1-2")
    votes = (data.candidates[0] - 10, data.candidates[1] + 10, data.candidates[2])
    amended = type(data)(data.counts, data.instants, votes)
    amend_protocol(station, amended, actor=admin, reason="recount of bundle 3")
    html = text(Client().get(f"/e/{election.slug}/s/1-2/"))
    history = html.split('id="history"', 1)[1].split("</ol>", 1)[0]
    assert "Version 2" in history and "recount of bundle 3" in history
    assert "superseded" in history
    # the earlier version's values beside the amended ones, with when and why
    assert cells(history, "changes-v2") == [
        ["Line", "Meaning", "Was (version 1)", "Now (version 2)"],
        ["C1", "Candidate A", f"{data.candidates[0]:,}", f"{votes[0]:,}"],
        ["C2", "Candidate B", f"{data.candidates[1]:,}", f"{votes[1]:,}"],
    ]
    assert "What version 2 changed from version 1" in history
    assert 'href="#changes-v2"' in html and "2 lines changed" in html

    annul_protocol(
        Station.objects.get(pk=station.pk), actor=admin, decision_ref="ConEC decision 7/12"
    )
    html = text(Client().get(f"/e/{election.slug}/s/1-2/"))
    assert "annulled by decision ConEC decision 7/12" in html
    unit = text(Client().get(f"/e/{election.slug}/u/1/"))
    assert cells(unit, "stations")[2][1] == "annulled"
    national = cells(text(Client().get(f"/e/{election.slug}/")), "national")
    assert national[1][2] == f"{1330 - 300:,}"  # the annulled station left the totals


def test_unpublished_protocol_is_hidden_from_the_public(
    tmp_path: Path, admin: Any, client: Client
) -> None:
    election = load(tmp_path / "b", protocols=False)
    Election.objects.filter(pk=election.pk).update(auto_publish=False)
    election.refresh_from_db()
    submit(election, "1-1", admin)
    public = text(Client().get(f"/e/{election.slug}/s/1-1/"))
    assert "is being processed; it is shown once published" in public
    assert 'id="protocol-lines"' not in public
    assert 'id="reporting">0 / 4<' in text(Client().get(f"/e/{election.slug}/"))
    client.force_login(admin)
    staff = client.get(f"/e/{election.slug}/")
    assert 'id="reporting">1 / 4<' in text(staff)
    assert staff["Cache-Control"] == "private, no-cache"


def test_children_table_sorts_on_the_server(election: Election) -> None:
    url = f"/e/{election.slug}/u/2/"
    by_share = cells(text(Client().get(f"{url}?sort=c2&order=desc")), "stations")
    # C2 shares: 2-1 400/880 = 45.45 %, 2-2 50/145 = 34.48 %
    assert [r[0] for r in by_share[1:]] == ["1. Station 1", "2. Station 2 abroad"]
    ascending = cells(text(Client().get(f"{url}?sort=c2&order=asc")), "stations")
    assert [r[0] for r in ascending[1:]] == ["2. Station 2 abroad", "1. Station 1"]
    html = text(Client().get(f"{url}?sort=c2&order=desc"))
    assert 'aria-sort="descending"><a href="?sort=c2&amp;order=asc"' in html
    fallback = cells(text(Client().get(f"{url}?sort=nonsense")), "stations")
    assert [r[0] for r in fallback[1:]] == ["1. Station 1", "2. Station 2 abroad"]


def test_turnout_page_by_report_time(election: Election) -> None:
    html = text(Client().get(f"/e/{election.slug}/turnout/"))
    rows = {r[0]: r for r in cells(html, "turnout-times")[1:]}
    # 10:00: stations 1-1, 1-2, 2-1 reported 150 + 90 + 200 of 1,000 + 800 + 1,200 registered
    assert rows["10:00"][1:] == ["440", "14.67 %", "3 / 4 75.00 %"]
    # 12:00: 1-1 (400 of 1,000) and 2-2 (100 of 300)
    assert rows["12:00"][1:] == ["500", "38.46 %", "2 / 4 50.00 %"]
    assert rows["15:00"][1:] == ["0", "—", "0 / 4 0.00 %"]
    assert '<svg class="chart"' in html and "<title" in html
    north = text(Client().get(f"/e/{election.slug}/turnout/?unit=1"))
    assert cells(north, "turnout-times")[1][1:3] == ["240", "13.33 %"]
    assert Client().get(f"/e/{election.slug}/turnout/?unit=nope").status_code == 404


def test_map_links_every_constituency_with_a_legend(election: Election) -> None:
    html = text(Client().get(f"/e/{election.slug}/map/"))
    svg = html.split('<svg class="map"', 1)[1].split("</svg>", 1)[0]
    links = re.findall(r'<a href="([^"]+)" aria-label="([^"]+)"', svg)
    assert [href for href, _ in links] == [f"/e/{election.slug}/u/1/", f"/e/{election.slug}/u/2/"]
    assert links[0][1] == "1. North: Candidate A 68.38\xa0%"
    assert "<polygon" in svg
    legend = html.split('class="legend"', 1)[1].split("</ul>", 1)[0]
    assert "Candidate A" in legend and "no results yet" in legend
    turnout = text(Client().get(f"/e/{election.slug}/map/?by=turnout"))
    assert "1. North: turnout 66.67\xa0%" in turnout
    assert "≥ 90\xa0%" in turnout


def test_map_draws_boundaries_when_the_election_has_geojson(election: Election) -> None:
    path = Path(django_settings.VAR_DIR) / "boundaries" / f"{election.slug}.geojson"
    path.parent.mkdir(parents=True)
    square = [[[47.0, 40.0], [48.0, 40.0], [48.0, 41.0], [47.0, 41.0], [47.0, 40.0]]]
    features = [
        {
            "type": "Feature",
            "properties": {"code": "1"},
            "geometry": {"type": "Polygon", "coordinates": square},
        },
        {
            "type": "Feature",
            "properties": {"ocd_id": "ocd-division/country:xx/ed:2"},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [[[[p[0] + 1, p[1]] for p in square[0]]]],
            },
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    html = text(Client().get(f"/e/{election.slug}/map/"))
    svg = html.split('<svg class="map"', 1)[1].split("</svg>", 1)[0]
    assert svg.count("<path ") == 2 and "<polygon" not in svg
    assert "boundary file" in html


@pytest.mark.parametrize(
    "path", ["/e/nope/", "/e/{slug}/u/99/", "/e/{slug}/s/9-9/", "/e/{slug}/nothing/"]
)
def test_unknown_pages_are_404_in_the_visitors_language(election: Election, path: str) -> None:
    url = path.format(slug=election.slug)
    english = Client().get(url)
    assert english.status_code == 404
    page = english.content.decode()
    assert "Page not found" in page and '<a href="/">Back to the elections</a>' in page
    russian = Client(HTTP_ACCEPT_LANGUAGE="ru").get(url)
    assert russian.status_code == 404
    assert "Страница не найдена" in russian.content.decode()
    assert '<html lang="ru">' in russian.content.decode()
    azeri = Client(HTTP_ACCEPT_LANGUAGE="az").get(url)
    assert "Səhifə tapılmadı" in azeri.content.decode()


def test_language_switch_and_locale_number_formats(election: Election) -> None:
    client = Client()
    switched = client.get(f"/lang/ru/?next=/e/{election.slug}/")
    assert switched.status_code == 302 and switched["Location"] == f"/e/{election.slug}/"
    assert switched.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "ru"
    html = text(client.get(f"/e/{election.slug}/"))
    assert '<html lang="ru">' in html and "Итоги по стране" in html
    # thousands with a non-breaking space, decimal comma
    assert "<td>1\xa0330</td><td>60,59</td>" in html
    client.get(f"/lang/az/?next=/e/{election.slug}/")
    html = text(client.get(f"/e/{election.slug}/"))
    assert "Ölkə üzrə nəticələr" in html and "Simulyasiya məlumatları" in html
    # no open redirect, no unknown language
    assert client.get("/lang/ru/?next=https://evil.example/")["Location"] == "/"
    assert client.get("/lang/xx/").status_code == 404


def test_every_page_is_labelled_simulated(election: Election) -> None:
    slug = election.slug
    for url in [
        f"/e/{slug}/",
        f"/e/{slug}/u/1/",
        f"/e/{slug}/s/1-1/",
        f"/e/{slug}/turnout/",
        f"/e/{slug}/map/",
        f"/data/{slug}/",
    ]:
        assert "Simulated data: this is not a real election." in text(Client().get(url)), url
    assert "simulated" in text(Client().get("/data/"))


def test_outcome_while_counting_runoff_and_invalid(waiting: Election, admin: Any) -> None:
    """No verdict while stations are outstanding (one station, or three of four, say nothing
    of who is elected); an annulled station is finished, so the count ends without it; more
    than 2/5 annulled makes the election invalid (spec/domain.md §5)."""
    from secki.integrity.pvt import candidates_of, official_of
    from secki.protocols.actions import submit_protocol

    url = f"/e/{waiting.slug}/"
    api = f"/api/v1/elections/{waiting.slug}/results"

    def shown() -> tuple[str, str]:
        html = text(Client().get(url))
        found = re.search(r'id="outcome"[^>]*data-status="(\w+)">([^<]*)<', html)
        assert found is not None
        return found.group(1), found.group(2)

    station = Station.objects.get(election=waiting, code="2-1")
    data = protocol_data("2-1")  # 880 valid votes
    votes = type(data)(data.counts, data.instants, (340, 300, 240))
    submit_protocol(waiting, station, votes, actor=admin)
    assert shown() == (
        "pending",
        "Provisional: 1 of 4 stations counted. No verdict until every station is counted or "
        "annulled. Most votes so far: Candidate A.",
    )
    outcome = Client().get(api).json()["outcome"]
    assert outcome["status"] == "pending" and outcome["provisional"] is True
    assert outcome["winner"] is None and outcome["runoff"] == []
    for code in ("1-1", "1-2"):
        submit(waiting, code, admin)
    status, said = shown()
    assert status == "pending" and "more than half" not in said and "elected" not in said
    assert said.startswith("Provisional: 3 of 4 stations counted. No verdict")
    # the commission annuls 1-1: three stations counted, one annulled, one still to come
    annul_protocol(
        Station.objects.get(election=waiting, code="1-1"), actor=admin, decision_ref="d1"
    )
    assert shown()[1].startswith("Provisional: 2 of 4 stations counted, 1 annulled.")
    assert not official_of(waiting, candidates_of(waiting)).complete  # the exit polls wait
    # the last station arrives: every station is counted or annulled, the rules decide
    submit(waiting, "2-2", admin)
    status, said = shown()
    assert status in ("winner", "runoff") and "Provisional" not in said
    outcome = Client().get(api).json()["outcome"]
    assert outcome["status"] == status and outcome["provisional"] is False
    assert official_of(waiting, candidates_of(waiting)).complete  # and no longer for ever
    # a second annulment: 2 of 4 stations annulled, more than 2/5
    annul_protocol(
        Station.objects.get(election=waiting, code="1-2"), actor=admin, decision_ref="d2"
    )
    html = text(Client().get(url))
    assert 'data-status="invalid"' in html
    assert "results were annulled in more than 40\xa0% of the stations" in html
    outcome = Client().get(api).json()["outcome"]
    assert outcome["status"] == "invalid" and outcome["provisional"] is False


def test_daytime_turnout_before_protocols(waiting: Election, admin: Any) -> None:
    """Before protocols arrive the national page leads with the latest report time's turnout
    (labelled with that time and the stations reporting), never one station's protocol."""
    url = f"/e/{waiting.slug}/"

    def figure() -> tuple[str, str, str]:
        html = text(Client().get(url))
        found = re.search(
            r"<dt>([^<]*)</dt><dd id=\"turnout\" data-source=\"(\w*)\">([^<]*)<small>([^<]*)<",
            html,
        )
        assert found is not None, html
        return found.group(1), found.group(2), f"{found.group(3)} | {found.group(4)}"

    # reports at 12:00 from 1-1 (400 of 1,000) and 2-2 (100 of 300): 500 / 1,300
    assert figure() == ("Turnout at 12:00", "report", "38.46\xa0% | 500 voters; 2 of 4 stations")
    submit(waiting, "2-1", admin)  # one protocol: still the reports' figure
    assert figure()[:2] == ("Turnout at 12:00", "report")
    for code in ("1-1", "1-2"):  # three protocols cover more stations than the reports
        submit(waiting, code, admin)
    label, source, shown = figure()
    assert (label, source) == ("Turnout (reporting stations)", "protocol")
    assert shown.endswith("; 3 of 4 stations")


def test_no_turnout_figure_without_reports_or_protocols(tmp_path: Path) -> None:
    from secki.bundle.read import read_bundle
    from secki.intake.bundle_io import import_bundle
    from tests.factories import write_small_bundle

    source = write_small_bundle(tmp_path / "empty", slug="empty-2024", name="Empty")
    (source / "protocols.csv").unlink()
    (source / "turnout.csv").unlink()
    election = import_bundle(read_bundle(source))
    html = text(Client().get(f"/e/{election.slug}/"))
    assert 'id="turnout" data-source="">—<small></small>' in html
