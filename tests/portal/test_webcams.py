"""Webcams: the bundle's optional ``webcam_url`` column (validated, round-tripping byte for byte
with and without it), the link on the station page, the public webcam registry (filter by
unit, navigation, languages), the admin list, the station JSON and the bulk download."""

from __future__ import annotations

import csv
import filecmp
import gzip
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from secki.bundle import STATION_COLUMNS
from secki.bundle.read import BundleError, read_bundle
from secki.bundle.write import write_table
from secki.elections.models import Election, Station
from secki.intake.bundle_io import export_bundle, import_bundle
from secki.opendata import snapshots
from secki.opendata.roundtrip import bundle_from_bulk
from tests.factories import STATIONS, write_small_bundle

pytestmark = pytest.mark.django_db

BUNDLE_FILES = ["election.json", "units.csv", "stations.csv", "candidates.csv", "turnout.csv"]
CAM_11 = "https://cams.example.org/live/1-1"
CAM_21 = "https://cams.example.org/watch?station=2-1&q=hd"
URLS = {"1-1": CAM_11, "2-1": CAM_21, "2-2": ""}  # 2-2 is filmed, its address not published


def with_webcams(directory: Path, urls: dict[str, str] | None = None, **overrides: Any) -> Path:
    """The small bundle whose stations.csv has the webcam_url column (stations in ``urls`` are
    filmed; the others not)."""
    urls = URLS if urls is None else urls
    source = write_small_bundle(directory, **overrides)
    rows = []
    for row in STATIONS:
        filmed = row[0] in urls
        rows.append([*row[:10], int(filmed), row[11], urls.get(row[0], "")])
    write_table(source / "stations.csv", [*STATION_COLUMNS, "webcam_url"], rows)
    return source


@pytest.fixture
def filmed(tmp_path: Path) -> Election:
    return import_bundle(read_bundle(with_webcams(tmp_path / "cams")))


def text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def rows_of(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]
        for cells in (
            re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
        )
    ]


# -- the bundle ------------------------------------------------------------------------------


def test_bundle_with_webcam_urls_round_trips_byte_for_byte(tmp_path: Path) -> None:
    source = with_webcams(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    urls = dict(Station.objects.filter(election=election).values_list("code", "webcam_url"))
    assert urls == {"1-1": CAM_11, "1-2": "", "2-1": CAM_21, "2-2": ""}
    export_bundle(election, tmp_path / "out")
    for name in [*BUNDLE_FILES, "protocols.csv"]:
        assert filecmp.cmp(source / name, tmp_path / "out" / name, shallow=False), name


def test_bundle_without_the_column_still_imports_and_exports_without_it(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    assert not Station.objects.filter(election=election).exclude(webcam_url="").exists()
    export_bundle(election, tmp_path / "out")
    header = (tmp_path / "out" / "stations.csv").read_text().splitlines()[0]
    assert header == ",".join(STATION_COLUMNS)
    assert filecmp.cmp(source / "stations.csv", tmp_path / "out" / "stations.csv", shallow=False)


def test_the_column_may_stand_anywhere_in_the_header(tmp_path: Path) -> None:
    source = with_webcams(tmp_path / "in")
    lines = list(csv.reader(io.StringIO((source / "stations.csv").read_text())))
    moved = [[row[-1], *row[:-1]] for row in lines]  # webcam_url first
    with (source / "stations.csv").open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(moved)
    bundle = read_bundle(source)
    assert {s.code: s.webcam_url for s in bundle.stations}["2-1"] == CAM_21


@pytest.mark.parametrize(
    ("url", "webcam", "message"),
    [
        ("javascript:alert(1)", 1, "is not a web address"),
        ("ftp://cams.example.org/1-1", 1, "is not a web address"),
        ("https://", 1, "is not a web address"),
        ("https://cams.example.org/a b", 1, "is not a web address"),
        ("/relative/path", 1, "is not a web address"),
        ("https://" + "a" * 500 + ".org", 1, "at most 500 characters"),
        (CAM_11, 0, "a stream address needs webcam = 1"),
    ],
)
def test_bad_webcam_urls_are_refused_with_file_line_and_column(
    tmp_path: Path, url: str, webcam: int, message: str
) -> None:
    source = with_webcams(tmp_path / "bad")
    lines = (source / "stations.csv").read_text().splitlines()
    row = next(csv.reader([lines[1]]))
    row[STATION_COLUMNS.index("webcam")] = str(webcam)
    row[-1] = url
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    lines[1] = buffer.getvalue().rstrip("\n")
    (source / "stations.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BundleError) as refused:
        read_bundle(source)
    issue = refused.value.issues[0]
    assert (issue.file, issue.line, issue.column) == ("stations.csv", 2, "webcam_url")
    assert message in issue.message
    assert not Election.objects.exists()


# -- public pages ----------------------------------------------------------------------------


def test_station_page_links_the_stream(filmed: Election) -> None:
    html = text(Client().get(f"/e/{filmed.slug}/s/1-1/"))
    webcam = html.split('id="webcam"', 1)[1].split("</dd>", 1)[0]
    assert f'<a href="{CAM_11}" rel="noopener" target="_blank">Webcam</a>' in webcam
    escaped = text(Client().get(f"/e/{filmed.slug}/s/2-1/"))
    assert 'href="https://cams.example.org/watch?station=2-1&amp;q=hd"' in escaped
    unlinked = text(Client().get(f"/e/{filmed.slug}/s/2-2/"))
    webcam = unlinked.split('id="webcam"', 1)[1].split("</dd>", 1)[0]
    assert "yes: this station is filmed" in webcam and "<a " not in webcam
    plain = text(Client().get(f"/e/{filmed.slug}/s/1-2/"))
    assert "cams.example.org" not in plain.split('id="webcam"', 1)[1].split("</dd>", 1)[0]


def test_a_link_is_never_made_of_a_non_web_address(filmed: Election) -> None:
    Station.objects.filter(election=filmed, code="1-1").update(webcam_url="javascript:alert(1)")
    html = text(Client().get(f"/e/{filmed.slug}/s/1-1/"))
    assert "javascript:" not in html
    assert "javascript:" not in text(Client().get(f"/e/{filmed.slug}/webcams/"))


def test_webcam_registry_lists_filmed_stations_and_filters_by_unit(filmed: Election) -> None:
    url = f"/e/{filmed.slug}/webcams/"
    html = text(Client().get(url))
    assert "Polling stations filmed by a webcam: 3 of 4." in html
    rows = rows_of(html, "webcams")
    assert rows[0] == ["Code", "Station", "Unit", "Webcam"]
    assert rows[1:] == [
        ["1-1", "1. Station 1", "1. North", "Webcam"],
        ["2-1", "1. Station 1", "2. South", "Webcam"],
        ["2-2", "2. Station 2", "2. South", "address not published"],
    ]
    assert f'href="{CAM_11}" rel="noopener" target="_blank"' in html
    assert f'href="/e/{filmed.slug}/s/2-2/"' in html and f'href="/e/{filmed.slug}/u/2/"' in html
    options = re.findall(r'<option value="([^"]*)"', html)
    assert options == ["", "1", "2"]  # every unit holding a filmed station, not the country
    south = text(Client().get(url, {"unit": "2"}))
    assert [r[0] for r in rows_of(south, "webcams")[1:]] == ["2-1", "2-2"]
    assert '<option value="2" selected>' in south
    assert [r[0] for r in rows_of(text(Client().get(url, {"unit": "XX"})), "webcams")[1:]] == [
        "1-1",
        "2-1",
        "2-2",
    ]
    assert Client().get(url, {"unit": "99"}).status_code == 404
    assert Client().get("/e/nope/webcams/").status_code == 404


def test_registry_without_webcams_and_in_other_languages(tmp_path: Path) -> None:
    plain = import_bundle(read_bundle(with_webcams(tmp_path / "none", urls={}, slug="none-2024")))
    html = text(Client().get(f"/e/{plain.slug}/webcams/"))
    assert "No polling station of this election is filmed." in html
    assert 'id="webcams"' not in html and 'id="webcam-filter"' not in html
    page = text(Client().get(f"/e/{plain.slug}/"))
    nav = page.split('<nav aria-label="Election">', 1)[1].split("</nav>", 1)[0]
    assert f'<a href="/e/{plain.slug}/webcams/">Webcams</a>' in nav
    current = text(Client().get(f"/e/{plain.slug}/webcams/"))
    assert 'aria-current="page">Webcams</a>' in current
    russian = text(Client(HTTP_ACCEPT_LANGUAGE="ru").get(f"/e/{plain.slug}/webcams/"))
    assert "Веб-камеры" in russian
    assert "Ни один избирательный участок этих выборов не снимается." in russian
    azeri = text(Client(HTTP_ACCEPT_LANGUAGE="az").get(f"/e/{plain.slug}/webcams/"))
    assert "Veb-kameralar" in azeri


def test_registry_is_translated_with_webcams(filmed: Election) -> None:
    russian = text(Client(HTTP_ACCEPT_LANGUAGE="ru").get(f"/e/{filmed.slug}/webcams/"))
    assert "Избирательные участки под наблюдением веб-камер: 3 из 4." in russian
    assert "адрес не опубликован" in russian
    station = text(Client(HTTP_ACCEPT_LANGUAGE="az").get(f"/e/{filmed.slug}/s/1-1/"))
    assert f'<a href="{CAM_11}" rel="noopener" target="_blank">Veb-kamera</a>' in station


# -- admin, JSON, bulk -----------------------------------------------------------------------


def test_admin_lists_the_stream_address(filmed: Election) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(admin)
    html = text(client.get("/admin/elections/station/"))
    assert "column-webcam_url" in html and CAM_11 in html
    found = text(client.get("/admin/elections/station/", {"q": "watch?station=2-1"}))
    assert "1 result" in found


def test_station_json_snapshot_and_bulk_download_carry_the_address(
    filmed: Election, tmp_path: Path
) -> None:
    body = Client().get(f"/api/v1/elections/{filmed.slug}/results/stations/2-1").json()
    assert body["webcam"] is True and body["webcam_url"] == CAM_21
    plain = Client().get(f"/api/v1/elections/{filmed.slug}/results/stations/1-2").json()
    assert plain["webcam"] is False and plain["webcam_url"] is None
    release = snapshots.make_release(filmed)
    raw = gzip.decompress((release / "stations.csv.gz").read_bytes()).decode()
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert [r["webcam_url"] for r in rows] == [CAM_11, "", CAM_21, ""]
    header = next(csv.reader(io.StringIO(raw)))
    assert header.index("webcam_url") == header.index("ocd_id") + 1
    # the download turns back into a bundle with the column, which imports with the addresses
    written = bundle_from_bulk(release, tmp_path / "again", slug="again-2024")
    assert written["stations.csv"] == 4
    assert (
        (tmp_path / "again" / "stations.csv")
        .read_text()
        .splitlines()[0]
        .endswith(",ocd_id,webcam_url")
    )
    copy = import_bundle(read_bundle(tmp_path / "again"))
    assert dict(Station.objects.filter(election=copy).values_list("code", "webcam_url")) == {
        "1-1": CAM_11,
        "1-2": "",
        "2-1": CAM_21,
        "2-2": "",
    }


def test_bulk_without_addresses_turns_back_into_a_bundle_without_the_column(
    tmp_path: Path,
) -> None:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path / "in")))
    release = snapshots.make_release(election)
    bundle_from_bulk(release, tmp_path / "again")
    assert filecmp.cmp(
        tmp_path / "in" / "stations.csv", tmp_path / "again" / "stations.csv", shallow=False
    )
