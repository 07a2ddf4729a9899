"""A public station page rendered from the publisher's state (issue 15): every write to a
station removes its file, so the app renders the page again at the rate of the writes. What
the state holds (the version it counts and its lines, the scans) comes from the state; the
database is asked a fixed handful of statements whatever the station holds, never one per
line, version, event, report or scan."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from secki import rawsql
from secki.elections.models import Election, Station
from secki.opendata import published
from secki.portal import http
from secki.protocols.actions import amend_protocol
from secki.protocols.data import ProtocolData
from secki.protocols.models import Protocol
from secki.protocols.scans import upload_scan
from secki.turnout.actions import report_turnout
from tests.portal.conftest import Clock, protocol_data

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def publish(election: Election, clock: Clock, publisher: published.Publisher) -> None:
    clock.now += publisher.interval
    publisher.step()


class Counting:
    """A cursor of :func:`secki.rawsql.cursor` that counts the statements it sends."""

    def __init__(self, cursor: Any, sent: list[str]) -> None:
        self._cursor = cursor
        self._sent = sent

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._sent.append(sql)
        return self._cursor.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextlib.contextmanager
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent meanwhile: Django's, and on PostgreSQL those of
    :mod:`secki.rawsql`'s own cursor (on SQLite it is Django's, captured already)."""
    real = rawsql.cursor
    raw: list[str] = []

    @contextlib.contextmanager
    def cursor() -> Iterator[Any]:
        with real() as found:
            yield Counting(found, raw)

    sent: list[str] = []
    with monkeypatch.context() as patched, CaptureQueriesContext(connection) as captured:
        patched.setattr(rawsql, "cursor", cursor)
        yield sent
    sent += [q["sql"] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        sent += raw


def rendered(
    election: Election, code: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[str]]:
    """The public page of station ``code`` rendered anew, and the statements it took."""
    http.pages.clear()  # no copy of the page in the process
    client = Client()
    client.get(f"/e/{election.slug}/s/{code}/")  # the state read from its file, once
    http.pages.clear()
    published.current(election.slug)
    with statements(monkeypatch) as sent:
        response = client.get(f"/e/{election.slug}/s/{code}/")
    assert response.status_code == 200
    return response, sent


def amend(election: Election, code: str, admin: Any, votes: tuple[int, ...]) -> None:
    station = Station.objects.get(election=election, code=code)
    data = protocol_data(code)
    amend_protocol(
        station, ProtocolData(data.counts, data.instants, votes), actor=admin, reason="recount"
    )


def test_a_station_page_from_the_state_takes_a_fixed_handful_of_statements(
    election: Election, admin: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = published.Publisher(clock=clock, open_data=False)
    publisher.step()
    # one version counted, no turnout report, no scan: the station and its versions, the
    # events, the turnout reports, the log's size and the station's entry, observers' copies
    response, plain = rendered(election, "1-1", monkeypatch)
    assert response["X-Secki-State"] and b'id="protocol-lines"' in response.content
    assert len(plain) == 5, plain
    # the same page of a station with two versions (the earlier one's lines are not in the
    # state: one statement more), scans of both and turnout reports at every time
    station = Station.objects.get(election=election, code="1-2")
    upload_scan(election, station, SimpleUploadedFile("a.pdf", PDF), actor=admin)
    data = protocol_data("1-2")
    votes = list(data.candidates)
    votes[0], votes[1] = votes[0] - 1, votes[1] + 1
    amend(election, "1-2", admin, tuple(votes))
    upload_scan(election, station, SimpleUploadedFile("b.pdf", PDF + b" "), actor=admin)
    report_turnout(election, station, "10:00", 95, actor=admin, reason="misread")
    for time, voters in (("12:00", 100), ("15:00", 110)):
        report_turnout(election, station, time, voters, actor=admin)
    publish(election, clock, publisher)
    response, busy = rendered(election, "1-2", monkeypatch)
    content = response.content.decode()
    assert content.count("data-scan=") == 2 and 'class="changes"' in content
    assert content.count("data-voters=") == 3 and "misread" in content
    assert len(busy) == len(plain) + 1, busy


def test_the_scans_listed_are_those_of_the_state(
    election: Election, admin: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = published.Publisher(clock=clock, open_data=False)
    publisher.step()
    station = Station.objects.get(election=election, code="1-1")
    upload_scan(election, station, SimpleUploadedFile("scan.pdf", PDF), actor=admin)
    # the protocol's version is public, so is its new scan, but not in this state yet: the
    # page shows the state's (the next state lists it, and the publisher removes the file)
    response, _queries = rendered(election, "1-1", monkeypatch)
    assert b"data-scan=" not in response.content
    publish(election, clock, publisher)
    response, _queries = rendered(election, "1-1", monkeypatch)
    assert b'data-scan="1"' in response.content
    assert Protocol.objects.get(station=station, is_current=True).version == 1
