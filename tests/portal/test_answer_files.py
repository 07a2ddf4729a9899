"""A station's and a unit's public results answers as static files (issue 15): the portal writes
the answer it makes for the anonymous public from the publisher's state to
``$SECKI_VAR_DIR/pages/<slug>/api/{stations,units}/<code>/index.json``
(secki.opendata.stationpages), nginx serves it (tests/portal/test_nginx.py); a state that changes
a station comes with its answer and those of the units above it that are kept (the publisher
writes them: the app's bytes), a stale answer left beside is asked for again by the page
refresher, and every file goes on new data or another election row."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.accounts.actions import change_election
from secki.cli import cli
from secki.elections.models import Election, Station
from secki.opendata import published, refresh, snapshots, stationpages
from secki.opendata import wsgi as opendata_wsgi
from secki.portal import http
from secki.protocols.scans import upload_scan
from tests.portal.conftest import Clock, submit
from tests.portal.test_station_files import pages_only_results
from tests.protocols.test_scans import PDF

pytestmark = pytest.mark.django_db

STATIONS, UNITS = stationpages.STATIONS, stationpages.UNITS
#: every answer of the small election: its stations' and its units' (XX above 1 and 2)
EVERY = (
    *((STATIONS, code) for code in ("1-1", "1-2", "2-1", "2-2")),
    *((UNITS, code) for code in ("XX", "1", "2")),
)


@pytest.fixture
def publisher(clock: Clock) -> Iterator[published.Publisher]:
    yield published.Publisher(clock=clock, open_data=False)


def step(publisher: published.Publisher, clock: Clock) -> None:
    clock.now += publisher.interval
    assert publisher.step(), "no new state"


def url(election: Election, kind: str, code: str) -> str:
    return f"/api/v1/elections/{election.slug}/results/{kind}/{code}"


def answer_file(election: Election, kind: str, code: str) -> Path:
    path = stationpages.answer_path(election.slug, kind, code)
    assert path is not None
    return path


def stale(election: Election, kind: str, code: str) -> Path:
    return answer_file(election, kind, code).with_name(stationpages.STALE_ANSWER)


def ask(path: str, client: Client | None = None, **extra: Any) -> Any:
    """The public's GET of ``path`` on the public host (the view answers: no process cache)."""
    http.pages.clear()
    host, https = stationpages.public_origin()
    response = (client or Client()).get(path, HTTP_HOST=host, secure=https, **extra)
    assert response.status_code == 200, response.content
    return response


def ask_all(election: Election) -> dict[tuple[str, str], bytes]:
    answers = {}
    for kind, code in EVERY:
        answers[kind, code] = ask(url(election, kind, code)).content
        assert answer_file(election, kind, code).read_bytes() == answers[kind, code]
    return answers


def test_a_stations_and_a_units_public_answer_is_written_as_answered(
    waiting: Election, publisher: published.Publisher
) -> None:
    publisher.step()
    station = ask(url(waiting, STATIONS, "1-1"))
    path = answer_file(waiting, STATIONS, "1-1")
    assert path == stationpages.root_dir() / waiting.slug / "api/stations/1-1/index.json"
    assert path.read_bytes() == station.content
    assert station.json()["station"] == "1-1" and station["X-Secki-State"] == "1"
    unit = ask(url(waiting, UNITS, "1"))
    path = answer_file(waiting, UNITS, "1")
    assert path == stationpages.root_dir() / waiting.slug / "api/units/1/index.json"
    assert path.read_bytes() == unit.content
    assert unit.json()["stations_page"]["number"] == 1
    assert not [p for p in path.parent.iterdir() if p.name != "index.json"]  # no temporary


def test_no_answer_file_for_officials_queries_other_hosts_or_without_a_publisher(
    waiting: Election, admin: Any, publisher: published.Publisher
) -> None:
    station, unit = url(waiting, STATIONS, "1-1"), url(waiting, UNITS, "1")
    files = (answer_file(waiting, STATIONS, "1-1"), answer_file(waiting, UNITS, "1"))
    # no publisher: the process's own state, whose files nobody would mark or remove
    ask(station), ask(unit)
    assert not any(f.exists() for f in files)
    publisher.step()
    official = Client()
    official.force_login(admin)
    host, https = stationpages.public_origin()
    for path in (station, unit):
        ask(path, official)  # live figures
        assert not any(f.exists() for f in files), path
        ask(f"{path}?page=1")  # a query string (a unit's first page asked by number)
        assert not any(f.exists() for f in files), path
        ask(path, HTTP_AUTHORIZATION="Basic YWJjOmRlZg==")  # not the anonymous public
        assert not any(f.exists() for f in files), path
        http.pages.clear()  # another host or scheme: the scans' addresses would be another's
        assert Client().get(path, HTTP_HOST="testserver").status_code == 200
        http.pages.clear()
        assert Client().get(path, HTTP_HOST=host, secure=not https).status_code == 200
        assert not any(f.exists() for f in files), path
    # a client revalidating its copy gets 304: nothing to write
    etag = ask(station)["ETag"]
    files[0].unlink()
    http.pages.clear()
    assert Client().get(station, HTTP_HOST=host, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert not files[0].exists()
    # the public at last
    ask(station), ask(unit)
    assert all(f.exists() for f in files)


def test_a_changed_stations_answer_and_its_units_come_with_the_state(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock
) -> None:
    """The publisher writes, with the state that changes a station, the station's answer
    (asked for before or not) and the answers of the units above it that are kept: the app's
    answer of the new state byte for byte; the refresher renders only the station's pages. A
    stale answer (left by an earlier release) is asked for again by the refresher."""
    publisher.step()
    before = ask_all(waiting)
    for language in ("en", "ru"):
        http.pages.clear()
        Client().get(f"/e/{waiting.slug}/s/1-1/", HTTP_ACCEPT_LANGUAGE=language)
    done: list[str] = []

    def render(slug: str, language: str, code: str) -> None:
        done.append(f"page {language} {code}")
        http.pages.clear()
        Client().get(f"/e/{slug}/s/{code}/", HTTP_ACCEPT_LANGUAGE=language)

    def asked(path: str) -> None:
        done.append(path.rsplit("/", 2)[-2] + " " + path.rsplit("/", 1)[-1])
        ask(path)

    refresher = refresh.Refresher(render, asked)
    assert refresher.once() == 0  # nothing stale
    submit(waiting, "1-1", admin)  # 1-2 is in the same unit (1), 2-1 and 2-2 in another (2)
    step(publisher, clock)
    latest = published.read(waiting.slug)
    assert latest is not None and latest.units_recent[-1] == (2, frozenset({"XX", "1"}))
    for kind, code in ((STATIONS, "1-1"), (UNITS, "1"), (UNITS, "XX")):  # the new state's
        assert not stale(waiting, kind, code).exists(), code
        app = ask(url(waiting, kind, code))
        assert app["X-Secki-State"] == "2"
        assert answer_file(waiting, kind, code).read_bytes() == app.content, code
        assert app.content != before[kind, code], code
    assert ask(url(waiting, STATIONS, "1-1")).json()["values"]
    for kind, code in EVERY:  # the others as they were
        if (kind, code) not in {(STATIONS, "1-1"), (UNITS, "1"), (UNITS, "XX")}:
            assert answer_file(waiting, kind, code).read_bytes() == before[kind, code], code
            assert not stale(waiting, kind, code).exists(), code
    assert refresher.once() == 2
    assert done == ["page en 1-1", "page ru 1-1"]  # no answer: they came with the state
    assert refresher.once() == 0
    # a unit whose answer no one asked for gets no file; a station's comes with the state
    answer_file(waiting, UNITS, "2").unlink()
    answer_file(waiting, STATIONS, "2-2").unlink()
    submit(waiting, "2-2", admin)
    step(publisher, clock)
    assert not answer_file(waiting, UNITS, "2").exists() and not stale(waiting, UNITS, "2").exists()
    for kind, code in ((STATIONS, "2-2"), (UNITS, "XX")):
        app = ask(url(waiting, kind, code))
        assert app["X-Secki-State"] == "3"
        assert answer_file(waiting, kind, code).read_bytes() == app.content, code
    # a stale answer left beside: a refresher that has not looked yet finds it itself
    answer_file(waiting, STATIONS, "2-1").rename(stale(waiting, STATIONS, "2-1"))
    done.clear()
    assert refresh.Refresher(render, asked).once() == 1
    assert done == ["stations 2-1"]
    assert not stale(waiting, STATIONS, "2-1").exists()
    assert answer_file(waiting, STATIONS, "2-1").exists()
    assert refresher.once() == 0


def test_a_stations_answer_written_with_the_state_names_its_scans_as_the_app_does(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    settings: Any,
    tmp_path: Path,
) -> None:
    """A scan of the station's protocol: the publisher's answer names it at the public
    origin's address, with its hash, the bytes the app answers on that origin."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SECKI_PUBLIC_URL = "https://results.example.org"
    settings.SECKI_HTTPS = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "results.example.org"]
    publisher.step()
    submit(waiting, "1-1", admin)
    station = Station.objects.get(election=waiting, code="1-1")
    scan = upload_scan(
        waiting,
        station,
        SimpleUploadedFile("p.pdf", PDF, "application/pdf"),
        actor=admin,
    )
    step(publisher, clock)
    written = json.loads(answer_file(waiting, STATIONS, "1-1").read_bytes())
    assert [(s["number"], s["sha256"]) for s in written["scans"]] == [(1, scan.sha256)]
    assert written["scans"][0]["url"] == (
        f"https://results.example.org/e/{waiting.slug}/s/1-1/scans/1/"
    )
    app = ask(url(waiting, STATIONS, "1-1"))
    assert app["X-Secki-State"] == "2"
    assert answer_file(waiting, STATIONS, "1-1").read_bytes() == app.content


@pytest.mark.parametrize(
    ("changed", "kind", "code", "kept"),
    [
        ("2-2", STATIONS, "1-1", True),
        ("1-1", STATIONS, "1-1", False),
        ("2-2", UNITS, "1", True),
        ("1-2", UNITS, "1", False),  # a station of the unit
        ("2-2", UNITS, "XX", False),  # a station below the unit
    ],
)
def test_an_answer_of_an_older_state_is_removed_when_a_newer_one_changed_it(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    changed: str,
    kind: str,
    code: str,
    kept: bool,
) -> None:
    """State 2 is written (and what it changed marked) between the answer of state 1 and the
    writing of its file: the writer removes the file when state 2 changed the station, or a
    station below the unit, and keeps it otherwise."""
    publisher.step()
    write = stationpages.write_answer
    raced = []

    def late(slug: str, kind: str, code: str, content: bytes) -> Path | None:
        if not raced:
            raced.append(code)
            submit(waiting, changed, admin)
            step(publisher, clock)
        return write(slug, kind, code, content)

    monkeypatch.setattr(stationpages, "write_answer", late)
    response = ask(url(waiting, kind, code))
    assert raced == [code] and response["X-Secki-State"] == "1"
    assert answer_file(waiting, kind, code).exists() is kept
    if kept:
        assert answer_file(waiting, kind, code).read_bytes() == response.content
        return
    response = ask(url(waiting, kind, code))  # the next one is of state 2, and stays
    assert response["X-Secki-State"] == "2"
    assert answer_file(waiting, kind, code).read_bytes() == response.content


def test_an_answer_the_fill_wrote_from_an_older_state_goes_when_a_newer_one_changed_it(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """State 2 changes station 1-1 (and its units) while the fill writes 1-1's answer from
    state 1: the fill removes what it wrote, and the next reader gets state 2's from the app;
    the other answers it wrote from state 1 stay, being state 2's too."""
    publisher.step()
    write = stationpages.write_answer
    raced: list[str] = []

    def late(slug: str, kind: str, code: str, content: bytes) -> Path | None:
        if (kind, code) == (STATIONS, "1-1") and not raced:
            raced.append(code)
            submit(waiting, "1-1", admin)
            step(publisher, clock)  # (which writes 1-1's answer of state 2 itself)
        return write(slug, kind, code, content)

    monkeypatch.setattr(stationpages, "write_answer", late)
    refresher = refresh.Refresher(lambda slug, language, code: None, fill=float("inf"))
    refresher.once()  # (its first look: a pass is due, and nothing is stale)
    assert raced == ["1-1"]
    assert not answer_file(waiting, STATIONS, "1-1").exists()
    assert ask(url(waiting, STATIONS, "1-1"))["X-Secki-State"] == "2"
    for kind, code in ((STATIONS, "1-2"), (STATIONS, "2-2"), (UNITS, "2")):
        assert (
            answer_file(waiting, kind, code).read_bytes() == ask(url(waiting, kind, code)).content
        )


def test_new_data_and_another_election_row_remove_every_answer(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock
) -> None:
    publisher.step()
    ask_all(waiting)
    change_election(admin, waiting, name="Waitland renamed")
    step(publisher, clock)
    assert pages_only_results(waiting)
    ask_all(waiting)
    again = published.Publisher(clock=clock, open_data=False)  # a publisher (re)started
    again.step()
    assert pages_only_results(waiting)


def test_names_that_are_no_file_of_their_own_are_never_written() -> None:
    for slug, kind, code in (
        ("e", STATIONS, ".."),
        ("e", UNITS, ".x"),
        ("e", STATIONS, "a/b"),
        ("e", STATIONS, ""),
        (".e", UNITS, "1"),
        ("e", "results", "1"),
        ("e", "../s", "1"),
    ):
        assert stationpages.answer_path(slug, kind, code) is None
        assert stationpages.write_answer(slug, kind, code, b"x") is None


@pytest.mark.django_db(transaction=True)
def test_the_refreshers_own_ask_is_an_anonymous_readers_on_the_public_host(
    waiting: Election, publisher: published.Publisher, settings: Any
) -> None:
    """secki.opendata.wsgi.ask_public_answer: through the process's Django application, on
    the public URL's host and scheme; the portal writes the file."""
    settings.SECKI_PUBLIC_URL = "https://results.example.org/secki"
    settings.ALLOWED_HOSTS = ["results.example.org"]
    settings.SECKI_HTTPS = settings.SECURE_SSL_REDIRECT = True
    assert stationpages.public_origin() == ("results.example.org", True)
    publisher.step()
    for kind, code in ((STATIONS, "1-1"), (UNITS, "1")):
        opendata_wsgi.ask_public_answer(url(waiting, kind, code))
        assert (
            answer_file(waiting, kind, code).read_bytes() == ask(url(waiting, kind, code)).content
        )


@pytest.mark.django_db(transaction=True)
def test_secki_refresh_writes_again_what_a_state_made_stale_in_a_process_of_its_own(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock
) -> None:
    """``secki refresh`` (a service of its own, beside web servers with
    SECKI_PAGE_REFRESH=0): the station's page, through this process's own Django application,
    as the web workers' refresher would (its answer and its units' came with the state)."""
    publisher.step()
    ask_all(waiting)
    http.pages.clear()
    Client().get(f"/e/{waiting.slug}/s/1-1/", HTTP_ACCEPT_LANGUAGE="en")
    page = stationpages.page_path(waiting.slug, "en", "1-1")
    assert page is not None and page.exists()
    submit(waiting, "1-1", admin)
    step(publisher, clock)
    assert not stale(waiting, STATIONS, "1-1").exists()  # (the answers came with the state)
    assert not stale(waiting, UNITS, "XX").exists()
    assert page.with_name(stationpages.STALE).exists() and not page.exists()
    result = CliRunner().invoke(cli, ["refresh", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 pages and answers written again" in result.output
    for kind, code in ((STATIONS, "1-1"), (UNITS, "1"), (UNITS, "XX")):
        assert not stale(waiting, kind, code).exists(), code
        app = ask(url(waiting, kind, code))
        assert app["X-Secki-State"] == "2"
        assert answer_file(waiting, kind, code).read_bytes() == app.content, code
    assert page.exists() and not page.with_name(stationpages.STALE).exists()
    assert CliRunner().invoke(cli, ["refresh", "--once"]).output.startswith("0 pages")


@pytest.mark.django_db(transaction=True)
def test_secki_refresh_once_fill_writes_every_page_no_reader_asked_for_with_a_progress_bar(
    waiting: Election, publisher: published.Publisher
) -> None:
    """``secki refresh --once --fill`` (before the polls close): every station's page in
    every language, as a reader gets it, and every unit's and station's results answer, the
    app's bytes, then nothing left; --fill alone is refused."""
    publisher.step()
    result = CliRunner().invoke(cli, ["refresh", "--once", "--fill"])
    assert result.exit_code == 0, result.output
    assert "12 station pages and 7 results answers written for the first time" in result.output
    for kind, code in EVERY:  # every answer too, the app's own bytes
        assert (
            answer_file(waiting, kind, code).read_bytes() == ask(url(waiting, kind, code)).content
        )
    assert f"{waiting.slug}: station pages" in result.output  # the progress bar
    for code in ("1-1", "1-2", "2-1", "2-2"):
        for language in ("az", "en", "ru"):
            path = stationpages.page_path(waiting.slug, language, code)
            assert path is not None and path.exists(), (language, code)
    written = stationpages.page_path(waiting.slug, "ru", "2-2")
    assert written is not None and b'lang="ru"' in written.read_bytes()
    again = CliRunner().invoke(cli, ["refresh", "--once", "--fill"])
    assert "0 station pages and 0 results answers written for the first time" in again.output
    refused = CliRunner().invoke(cli, ["refresh", "--fill"])
    assert refused.exit_code == 2 and "--fill goes with --once" in refused.output
    (snapshots.root_dir() / snapshots.HEARTBEAT).unlink()  # the publisher stopped
    alone = CliRunner().invoke(cli, ["refresh", "--once", "--fill"])
    assert alone.exit_code == 1 and "no publisher is running" in alone.output


def test_a_look_past_its_budget_leaves_its_pages_to_the_next_look_none_lost(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A look past its budget stops rendering pages when a newer state is marked; the next
    look renders the newer state's pages and those left over, none lost; each look that
    wrote something says so at DEBUG (bench_night reads it)."""
    caplog.set_level(logging.DEBUG, logger="secki.opendata.refresh")
    publisher.step()
    ask_all(waiting)
    for code in ("1-1", "1-2", "2-2"):
        http.pages.clear()
        Client().get(f"/e/{waiting.slug}/s/{code}/", HTTP_ACCEPT_LANGUAGE="en")
    done: list[str] = []
    first: list[str] = []  # the page the first look rendered

    def render(slug: str, language: str, code: str) -> None:
        done.append(f"page {code}")
        http.pages.clear()
        Client().get(f"/e/{slug}/s/{code}/", HTTP_ACCEPT_LANGUAGE=language)
        if not first:  # meanwhile a protocol and a newer state, marked
            first.append(code)
            submit(waiting, "2-2", admin)
            step(publisher, clock)

    def asked(path: str) -> None:
        done.append(path.rsplit("/", 2)[-2] + " " + path.rsplit("/", 1)[-1])
        ask(path)

    refresher = refresh.Refresher(render, asked, budget=0.0)
    assert refresher.once() == 0
    submit(waiting, "1-1", admin)
    submit(waiting, "1-2", admin)
    step(publisher, clock)
    assert refresher.once() == 1  # one page, the other left
    assert done == [f"page {first[0]}"]
    done.clear()
    assert refresher.once() == 2
    # the newer state's page and the one left over (no answer: they came with the states)
    left = "1-2" if first[0] == "1-1" else "1-1"
    assert sorted(done) == sorted([f"page {left}", "page 2-2"])
    assert not stationpages.stale_pages(waiting.slug)
    assert refresher.once() == 0
    looks = [r for r in caplog.records if r.getMessage().startswith("refreshed")]
    assert [(r.answers, r.pages, r.pages_left) for r in looks] == [  # type: ignore[attr-defined]
        (0, 1, 1),
        (0, 2, 0),
    ]
