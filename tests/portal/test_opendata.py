"""Open data: the bulk CSV matches the database and round-trips through ``secki import``;
snapshots and releases; permanent URLs; the download page; JSON endpoints' errors."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import connection
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station, Unit
from secki.intake.bundle_io import import_bundle
from secki.opendata import snapshots, store
from secki.opendata.bulk import gzip_bytes
from secki.opendata.cli import bundle_from_bulk_cmd, snapshot
from secki.opendata.roundtrip import bundle_from_bulk
from secki.protocols.actions import annul_protocol
from secki.protocols.models import Protocol, ProtocolStatus, ProtocolValue
from secki.results.tabulate import Tabulation
from secki.turnout.models import TurnoutReport
from tests.portal.conftest import load, submit

pytestmark = pytest.mark.django_db


def read_gz_csv(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))


def assert_bulk_matches_database(election: Election, rows: list[dict[str, str]]) -> None:
    stations = list(Station.objects.filter(election=election).order_by("position"))
    assert [r["station"] for r in rows] == [s.code for s in stations]
    schema = election.protocol_schema()
    for s, row in zip(stations, rows, strict=True):
        assert row["registered"] == str(s.registered)
        assert row["unit"] == s.unit.code and row["unit_name"] == s.unit.name
        assert row["webcam"] == ("1" if s.webcam else "0")
        current = Protocol.objects.filter(station=s, is_current=True).first()
        if current is None or current.status not in (
            ProtocolStatus.PUBLISHED,
            ProtocolStatus.ANNULLED,
        ):
            assert row["status"] == "" and all(row[c] == "" for c in ("L1", "C1"))
            continue
        assert row["status"] == current.status
        assert row["version"] == str(current.version)
        if current.status == ProtocolStatus.ANNULLED:
            assert row["annulment"] == current.decision_ref
            assert row["L1"] == "" and row["C1"] == ""
            continue
        values = dict(current.values.values_list("code", "value"))
        for line in schema.count_lines:
            assert row[line.code] == str(values.get(line.code, "")).replace("None", ""), line
        for code in ("C1", "C2", "C3"):
            assert row[code] == str(values[code])
        assert row["L17"] == current.completed_at.astimezone(election.tz).isoformat()


def test_bulk_csv_matches_the_database(election: Election, waiting: Election, admin: Any) -> None:
    annul_protocol(
        Station.objects.get(election=election, code="2-2"),
        actor=admin,
        decision_ref="ConEC 2 decision 5",
    )
    path = snapshots.make_release(election)
    rows = read_gz_csv((path / "stations.csv.gz").read_bytes())
    assert rows[3]["status"] == "annulled" and rows[3]["annulment"] == "ConEC 2 decision 5"
    assert_bulk_matches_database(election, rows)
    header = next(
        csv.reader(io.StringIO(gzip.decompress((path / "stations.csv.gz").read_bytes()).decode()))
    )
    assert header[:3] == ["station", "unit", "unit_name"]
    assert header[-4:] == ["L17", "C1", "C2", "C3"]

    submit(waiting, "1-2", admin)
    partial = read_gz_csv((snapshots.make_release(waiting) / "stations.csv.gz").read_bytes())
    assert [r["status"] for r in partial] == ["", "published", "", ""]
    assert_bulk_matches_database(waiting, partial)

    turnout = read_gz_csv((path / "turnout.csv.gz").read_bytes())
    expected = [
        {"station": s, "time": t, "voters": str(v)}
        for s, t, v in TurnoutReport.objects.filter(election=election, is_current=True)
        .order_by("station__position", "time")
        .values_list("station__code", "time", "voters")
    ]
    assert turnout == expected


def totals_by_code(election: Election) -> dict[str, Any]:
    tab = Tabulation(election, public=True)
    return {
        u.code: (
            tab.totals[u.id].lines,
            tab.totals[u.id].stations_total,
            tab.totals[u.id].stations_reported,
            tab.totals[u.id].registered_total,
        )
        for u in tab.units.values()
    }


def test_bulk_download_round_trips_through_import(
    election: Election, admin: Any, tmp_path: Path
) -> None:
    annul_protocol(
        Station.objects.get(election=election, code="1-2"), actor=admin, decision_ref="decision 9"
    )
    release = snapshots.make_release(election)
    download = tmp_path / "download"
    download.mkdir()
    for name in (
        "stations.csv.gz",
        "turnout.csv.gz",
        "election.json",
        "units.csv",
        "candidates.csv",
    ):
        download.joinpath(name).write_bytes(
            Client().get(f"/data/{election.slug}/{release.name}/{name}").getvalue()
        )
    result = CliRunner().invoke(
        bundle_from_bulk_cmd, [str(download), str(tmp_path / "bundle"), "--slug", "copy-2024"]
    )
    assert result.exit_code == 0, result.output
    assert "protocols.csv: 3 rows" in result.output
    copy = import_bundle(read_bundle(tmp_path / "bundle"))
    assert copy.slug == "copy-2024"
    assert totals_by_code(copy) == totals_by_code(election)
    assert TurnoutReport.objects.filter(election=copy).count() == 5


def test_bundle_from_bulk_refuses_an_incomplete_download(tmp_path: Path) -> None:
    from secki.opendata.roundtrip import RoundTripError

    (tmp_path / "in").mkdir()
    with pytest.raises(RoundTripError, match=r"missing election\.json"):
        bundle_from_bulk(tmp_path / "in", tmp_path / "out")


def test_live_snapshot_is_the_api_json_and_follows_the_ledger(
    waiting: Election, admin: Any
) -> None:
    submit(waiting, "1-1", admin)
    done = snapshots.refresh(waiting)
    assert done.live and done.release == f"v{done.seq}"
    live = snapshots.election_dir(waiting) / "live"
    assert live.is_symlink()
    api = Client().get(f"/api/v1/elections/{waiting.slug}/results").json()
    assert json.loads((live / "index.json").read_text()) == api
    for unit in Unit.objects.filter(election=waiting):
        doc = json.loads((live / "units" / f"{unit.code}.json").read_text())
        assert doc["unit"] == unit.code
    north = json.loads((live / "units" / "1.json").read_text())
    assert [s["status"] for s in north["stations"]] == ["published", None]
    assert north["stations"][0]["lines"]["C1"] == 500
    manifest = snapshots.live_manifest(waiting)
    assert manifest is not None and manifest["ledger_seq"] == done.seq

    assert not snapshots.refresh(waiting).live  # nothing changed: nothing rewritten
    submit(waiting, "2-1", admin)
    again = snapshots.refresh(waiting, every=3600)
    assert again.live and again.seq > done.seq and again.release is None  # release not due
    assert json.loads((live / "index.json").read_text())["stations_reported"] == 2
    served = Client().get(f"/data/{waiting.slug}/live/index.json")
    assert served.status_code == 200 and served["Cache-Control"] == "public, max-age=2"
    assert (
        json.loads(served.getvalue())
        == Client().get(f"/api/v1/elections/{waiting.slug}/results").json()
    )


def test_releases_are_permanent_and_versioned(waiting: Election, admin: Any) -> None:
    submit(waiting, "1-1", admin)
    first = snapshots.make_release(waiting)
    sums = (first / "SHA256SUMS").read_text()
    assert snapshots.make_release(waiting) == first  # same state, same version
    submit(waiting, "1-2", admin)
    second = snapshots.make_release(waiting)
    assert second != first and (first / "SHA256SUMS").read_text() == sums
    for line in sums.splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((first / name).read_bytes()).hexdigest() == digest
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["licence"]["id"] == "CC-BY-4.0"
    assert manifest["version"] == second.name and manifest["stations_reported"] == 2
    assert {f["name"] for f in manifest["files"]} >= {"stations.csv.gz", "nist.json.gz"}

    slug = waiting.slug
    latest = Client().get(f"/data/{slug}/latest/stations.csv.gz")
    assert latest.status_code == 302
    assert latest["Location"] == f"/data/{slug}/{second.name}/stations.csv.gz"
    old = Client().get(f"/data/{slug}/{first.name}/stations.csv.gz")
    assert old.status_code == 200
    assert old["Cache-Control"] == "public, max-age=31536000, immutable"
    assert old["Content-Type"] == "application/gzip"
    assert f'filename="{slug}-{first.name}-stations.csv.gz"' in old["Content-Disposition"]
    assert old.getvalue() == (first / "stations.csv.gz").read_bytes()
    assert (
        Client()
        .get(f"/data/{slug}/{first.name}/stations.csv.gz", HTTP_IF_NONE_MATCH=old["ETag"])
        .status_code
        == 304
    )
    for bad in [
        "v999999/stations.csv.gz",
        f"{first.name}/../live/index.json",
        "v1x/a",
        f"{first.name}/.lock",
    ]:
        assert Client().get(f"/data/{slug}/{bad}").status_code == 404, bad


def test_download_page_shows_files_sizes_licence_and_columns(election: Election) -> None:
    release = snapshots.make_release(election)
    snapshots.write_live(election)
    html = Client().get(f"/data/{election.slug}/").content.decode()
    assert "Creative Commons Attribution 4.0 International" in html and "CC BY 4.0" in html
    for name in ("stations.csv.gz", "turnout.csv.gz", "nist.json.gz", "results.json.gz"):
        assert f'href="/data/{election.slug}/{release.name}/{name}"' in html
        size = (release / name).stat().st_size
        assert f'data-size="{size}"' in html
    assert "\xa0bytes<" in html or "\xa0KB<" in html  # human-readable sizes
    assert f"http://testserver/data/{election.slug}/{release.name}/" in html
    assert "Voters on the voter list" in html and "Candidate C" in html
    assert f'href="/data/{election.slug}/live/index.json"' in html
    russian = Client(HTTP_ACCEPT_LANGUAGE="ru").get(f"/data/{election.slug}/").content.decode()
    assert "Открытые данные" in russian and "Число избирателей, внесённых в список" in russian


def test_json_endpoints_answer_bad_parameters_with_the_error_shape(election: Election) -> None:
    slug = election.slug
    snapshots.make_release(election)
    cases = [
        (f"/data/{slug}/releases.json?limit=abc", 400, "limit"),
        (f"/data/{slug}/releases.json?limit=0", 400, "limit"),
        (f"/data/{slug}/releases.json?before=123", 400, "before"),
        (f"/data/{slug}/releases.json?limt=5", 400, "limt"),
        (f"/data/{slug}/turnout.json?unit=", 400, "unit"),
        (f"/data/{slug}/turnout.json?unit=%01", 400, "unit"),
        (f"/data/{slug}/turnout.json?unit=99", 404, "unit"),
        ("/data/nope/turnout.json", 404, None),
        ("/data/nope/releases.json", 404, None),
    ]
    for url, status, field in cases:
        response = Client().get(url)
        assert response.status_code == status, url
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), url
        assert body["error"].get("field") == field, url
        assert body["error"]["code"] == ("invalid_request" if status == 400 else "not_found")
    ok = Client().get(f"/data/{slug}/releases.json?limit=1").json()
    assert len(ok["releases"]) == 1 and ok["licence"]["id"] == "CC-BY-4.0"
    assert ok["releases"][0]["files"][0]["url"].startswith("http://testserver/data/")
    turnout = Client().get(f"/data/{slug}/turnout.json?unit=1").json()
    assert turnout["unit"]["code"] == "1"
    assert [r["voters"] for r in turnout["reports"]][:2] == [240, 400]


def test_snapshot_command_writes_live_files_and_a_release(election: Election) -> None:
    result = CliRunner().invoke(snapshot, ["--election", election.slug, "--release"])
    assert result.exit_code == 0, result.output
    assert "live snapshot at ledger entry" in result.output
    base = snapshots.election_dir(election)
    assert (base / "live" / "stations.csv.gz").is_file()
    assert (base / "latest" / "nist.json.gz").is_file()
    missing = CliRunner().invoke(snapshot, ["--election", "nope"])
    assert missing.exit_code != 0 and "no election 'nope'" in missing.output


def test_live_files_are_written_on_first_request_when_automatic(
    election: Election, settings: Any
) -> None:
    settings.SECKI_SNAPSHOT_AUTO = True
    response = Client().get(f"/data/{election.slug}/live/units/1.json")
    assert response.status_code == 200
    assert json.loads(response.getvalue())["stations"][0]["station"] == "1-1"


def test_partial_results_make_an_unofficial_partial_release(tmp_path: Path, admin: Any) -> None:
    waiting = load(tmp_path / "w", protocols=False)
    submit(waiting, "2-2", admin)
    manifest = json.loads((snapshots.make_release(waiting) / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["stations_reported"] == 1


def live_files(election: Election) -> dict[str, bytes]:
    """Every live file by name, gzip files unpacked, the manifest left out (it has a time)."""
    live = snapshots.election_dir(election) / "live"
    out = {}
    for path in sorted(live.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            raw = path.read_bytes()
            out[str(path.relative_to(live))] = gzip.decompress(raw) if path.suffix == ".gz" else raw
    return out


def test_a_change_rewrites_only_what_it_touches_and_equals_a_full_rewrite(
    waiting: Election, admin: Any
) -> None:
    from secki.turnout.actions import report_turnout

    submit(waiting, "2-2", admin)
    first = snapshots.refresh(waiting, keep=True)
    assert first.live
    before = (snapshots.election_dir(waiting) / "live").resolve()
    submit(waiting, "1-1", admin)
    snapshots.refresh(waiting, keep=True)
    after = (snapshots.election_dir(waiting) / "live").resolve()
    assert after != before
    # constituency 2 did not change: its file is the same inode, linked from before
    assert (after / "units/2.json").stat().st_ino == (before / "units/2.json").stat().st_ino
    assert (after / "units/1.json").stat().st_ino != (before / "units/1.json").stat().st_ino
    assert (after / "turnout.csv.gz").stat().st_ino == (before / "turnout.csv.gz").stat().st_ino

    station = Station.objects.get(election=waiting, code="1-2")
    report_turnout(waiting, station, "15:00", 333, actor=admin)
    annul_protocol(
        Station.objects.get(election=waiting, code="2-2"), actor=admin, decision_ref="d-22"
    )
    snapshots.refresh(waiting, keep=True)
    incremental = live_files(waiting)
    assert json.loads(incremental["units/2.json"])["stations"][1]["status"] == "annulled"
    assert b"1-2,15:00,333" in incremental["turnout.csv.gz"]

    snapshots.write_live(waiting, keep=False)  # everything from scratch
    assert live_files(waiting) == incremental
    api = Client().get(f"/api/v1/elections/{waiting.slug}/results").json()
    assert json.loads(incremental["index.json"]) == api


def test_a_release_is_cut_at_once_when_the_results_become_complete(
    waiting: Election, admin: Any
) -> None:
    for code in ("1-1", "1-2", "2-1"):
        submit(waiting, code, admin)
    from secki.turnout.actions import report_turnout

    first = snapshots.refresh(waiting, every=3600)
    assert first.release is not None  # the first release
    station = Station.objects.get(election=waiting, code="2-2")
    report_turnout(waiting, station, "15:00", 120, actor=admin)
    changed = snapshots.refresh(waiting, every=3600)
    assert changed.live and changed.release is None  # a change, but not due for an hour
    submit(waiting, "2-2", admin)
    complete = snapshots.refresh(waiting, every=3600)
    assert complete.release == f"v{complete.seq}"  # complete: released at once
    newest = snapshots.releases(waiting)[0]
    assert newest["complete"] is True and newest["stations_reported"] == 4


def wsgi_get(path: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    """A request through the WSGI front (secki.opendata.wsgi), as the WSGI server would make it."""
    from wsgiref.util import setup_testing_defaults

    from django.core import signals
    from django.db import close_old_connections

    from secki.opendata.wsgi import application

    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    # as Django's test client does: keep the test's database connection open across requests
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(application(environ, start_response))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def test_wsgi_front_serves_files_like_the_view_and_passes_the_rest_on(election: Election) -> None:
    release = snapshots.make_release(election)
    snapshots.write_live(election)
    slug = election.slug
    for path in (f"/data/{slug}/live/index.json", f"/data/{slug}/{release.name}/stations.csv.gz"):
        status, headers, body = wsgi_get(path)
        view = Client().get(path)
        assert status == "200 OK" and body == view.getvalue()
        for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
            assert headers[name] == view[name], name
        assert headers.get("Content-Disposition") == view.get("Content-Disposition")
        assert wsgi_get(path, if_none_match=headers["ETag"])[0] == "304 Not Modified"
    # everything else is Django's: pages, unknown files, hidden names
    assert wsgi_get(f"/data/{slug}/")[0] == "200 OK"
    assert wsgi_get(f"/data/{slug}/live/nothing.json")[0].startswith("404")
    assert wsgi_get(f"/data/{slug}/live/../../{slug}/.lock")[0].startswith("404")


def test_wsgi_front_lets_django_check_a_stale_live_snapshot(
    waiting: Election, admin: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshots.write_live(waiting)
    submit(waiting, "1-1", admin)
    settings.SECKI_SNAPSHOT_AUTO = True
    checked: list[str] = []
    monkeypatch.setattr(snapshots, "start_if_stale", lambda e: checked.append(e.slug) or True)
    snapshots.forget_check(waiting.slug)
    url = f"/data/{waiting.slug}/live/index.json"
    assert wsgi_get(url)[0] == "200 OK"
    assert checked == [waiting.slug]  # the Django view took the turn and checked
    assert wsgi_get(url)[0] == "200 OK"
    assert checked == [waiting.slug]  # within 2 s the front serves the file by itself


def test_open_data_withholds_results_until_the_publication_setting_holds(
    election: Election, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the publication time the live files hold the register and the turnout reports
    but no protocol, line value, scan or count; no release is cut; the download page says
    why. At the instant (no new ledger entry) the next refresh writes the results and a
    release follows."""
    import datetime as dt

    from django.utils import timezone

    from secki.accounts.actions import change_election
    from secki.turnout.actions import report_turnout

    slug = election.slug
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    change_election(admin, election, publication="time", publication_at=at.isoformat())
    station = Station.objects.get(election=election, code="1-1")
    report_turnout(election, station, "19:00", 700, actor=admin, reason="late count")
    assert Protocol.objects.filter(election=election, status=ProtocolStatus.PUBLISHED).count() == 4

    done = snapshots.refresh(election, every=0)
    assert done.live and done.release is None and snapshots.releases(election) == []
    live = snapshots.election_dir(election) / "live"
    manifest = snapshots.live_manifest(election)
    assert manifest is not None and manifest["withheld"] is True
    assert manifest["stations_reported"] == 0 and manifest["stations_total"] == 4
    index = json.loads((live / "index.json").read_text())
    assert index["outcome"]["status"] == "withheld" and index["stations_reported"] == 0
    assert index["lines"] == {} and all(c["votes"] == 0 for c in index["candidates"])
    api = Client().get(f"/api/v1/elections/{slug}/results").json()
    assert index == api
    for unit in Unit.objects.filter(election=election):
        doc = json.loads((live / "units" / f"{unit.code}.json").read_text())
        assert doc["stations_reported"] == 0 and doc["lines"] == {}
        for s in doc["stations"]:
            assert s["status"] is None and s["lines"] is None and s["scans"] == []
    rows = read_gz_csv((live / "stations.csv.gz").read_bytes())
    assert len(rows) == 4
    assert all(r["status"] == "" and r["L1"] == "" and r["C1"] == "" for r in rows)
    assert (live / "scans.csv").read_text().count("\n") == 1  # the header only
    turnout = read_gz_csv((live / "turnout.csv.gz").read_bytes())
    assert ["1-1", "19:00", "700"] in [[r["station"], r["time"], r["voters"]] for r in turnout]
    with pytest.raises(snapshots.ReleaseWithheld):
        snapshots.make_release(election)
    page = Client().get(f"/data/{slug}/").content.decode()
    assert 'id="live-withheld"' in page
    served = Client().get(f"/data/{slug}/live/stations.csv.gz")
    assert all(r["C1"] == "" for r in read_gz_csv(served.getvalue()))
    assert not snapshots.refresh(election, every=0).live  # nothing new: nothing rewritten

    # the instant comes; no entry is appended
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(hours=3))
    released = snapshots.refresh(election, every=0)
    assert released.live and released.release == f"v{released.seq}"
    manifest = snapshots.live_manifest(election)
    assert manifest is not None and manifest["withheld"] is False
    assert manifest["stations_reported"] == 4
    assert json.loads((live / "index.json").read_text())["stations_reported"] == 4
    assert_bulk_matches_database(election, read_gz_csv((live / "stations.csv.gz").read_bytes()))
    [release] = snapshots.releases(election)
    assert release["stations_reported"] == 4 and release["complete"] is True
    assert 'id="live-withheld"' not in Client().get(f"/data/{slug}/").content.decode()


def test_a_release_writes_its_results_a_unit_at_a_time_with_the_same_bytes(
    election: Election,
) -> None:
    """results.json.gz is written a unit at a time (a million stations' documents at once are
    gigabytes): the same bytes as the whole document dumped and compressed at once, whose
    units are the live files' documents."""
    data = snapshots.collect(election)
    release = snapshots.make_release(election, data)
    whole = {
        "election": election.slug,
        "version": release.name,
        "national": snapshots.national_json(data),
        "units": {u.code: snapshots.unit_doc(data, u) for u in data.units},
        "turnout": snapshots.turnout_json(data),
    }
    written = (release / "results.json.gz").read_bytes()
    assert written == gzip_bytes(
        json.dumps(whole, ensure_ascii=False, separators=(",", ":")).encode()
    )
    document = json.loads(gzip.decompress(written))
    assert list(document) == ["election", "version", "national", "units", "turnout"]
    assert len(document["units"]) == len(data.units) > 1
    live = snapshots.write_live(election, data)
    for u in data.units:
        assert (
            json.loads((live / snapshots.unit_file(u.code)).read_bytes())
            == document["units"][u.code]
        )


@pytest.mark.django_db(transaction=True)
def test_the_values_cursor_lives_in_a_transaction_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The big read's server-side cursor is opened and read inside one transaction: behind a
    transaction pooler (PgBouncer) a cursor outside one may be fetched from another server
    connection, which does not have it ("portal … does not exist", seen in
    tests/test_pgbouncer.py under load)."""
    election = load(tmp_path / "bundle", simulated=True)
    monkeypatch.setattr(store, "FETCH", 1)
    assert not connection.in_atomic_block
    rows = store.published_values(election.id)
    first = next(rows)
    assert connection.in_atomic_block  # open while the rows are read
    rest = list(rows)
    assert not connection.in_atomic_block
    expected = ProtocolValue.objects.filter(
        protocol__election=election,
        protocol__is_current=True,
        protocol__status=ProtocolStatus.PUBLISHED,
    ).count()
    assert len([first, *rest]) == expected > 1
