"""Webcams' health: a local stream stand-in (an HTTP server serving an HLS playlist and an
MJPEG stream that refuses HEAD) is probed up, stopped (down: an outage opened, audited),
still down (nothing new), started again (recovery: the outage closed), with an injected clock;
the public status and station pages show it; the registry is edited by the commission only,
bad addresses refused by field with nothing stored; ``secki webcams-check`` registers and
probes."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from django.test import Client
from django.urls import reverse

from secki.accounts.access import AccessDenied
from secki.accounts.models import AuditRecord
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.ledger.models import LedgerEntry
from secki.observers import actions, health
from secki.observers.cli import webcams_check_cmd
from secki.observers.models import Webcam, WebcamChange, WebcamOutage, WebcamStatus
from tests.personas import Persona

pytestmark = pytest.mark.django_db

PLAYLIST = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg1.ts\n"
BOUNDARY = b"--frame\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0stand-in\xff\xd9\r\n"


class Stream(BaseHTTPRequestHandler):
    """``/live.m3u8`` (HEAD and GET) and ``/cam.mjpeg`` (GET only, like many camera servers);
    anything else 404."""

    def _head(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def do_HEAD(self) -> None:
        if self.path == "/live.m3u8":
            self._head(PLAYLIST, "application/vnd.apple.mpegurl")
        else:
            self.send_error(405 if self.path == "/cam.mjpeg" else 404)

    def do_GET(self) -> None:
        if self.path == "/live.m3u8":
            self._head(PLAYLIST, "application/vnd.apple.mpegurl")
            self.wfile.write(PLAYLIST)
        elif self.path == "/cam.mjpeg":
            self._head(BOUNDARY * 4, "multipart/x-mixed-replace; boundary=frame")
            self.wfile.write(BOUNDARY * 4)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StandIn:
    """The stream server, stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Stream)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.start()
    yield server
    if server.server is not None:
        server.stop()


class Clock:
    def __init__(self) -> None:
        self.at = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, minutes: int) -> dt.datetime:
        self.at += dt.timedelta(minutes=minutes)
        return self.at


def _register(election: Election, stand_in: StandIn, cec: Persona) -> tuple[Webcam, Webcam]:
    s1, s2 = Station.objects.filter(election=election).order_by("position")[:2]
    hls = actions.edit_webcam(
        election, s1, actor=cec.user, stream_url=stand_in.url("/live.m3u8"), operator="CamCo"
    )
    mjpeg = actions.edit_webcam(election, s2, actor=cec.user, stream_url=stand_in.url("/cam.mjpeg"))
    return hls, mjpeg


def test_up_down_outage_recovery(
    election: Election, people: dict[str, Persona], stand_in: StandIn
) -> None:
    hls, mjpeg = _register(election, stand_in, people["cec"])
    clock = Clock()

    first = health.check(election, now=clock, concurrency=2, timeout=5)
    assert (first.up, first.down) == (2, 0)
    for w in (hls, mjpeg):
        w.refresh_from_db()
        assert (w.status, w.last_seen_at, w.http_status) == (WebcamStatus.UP, clock.at, 200)
    assert not WebcamOutage.objects.exists()

    stand_in.stop()
    went_down = clock.advance(5)
    second = health.check(election, now=clock, concurrency=2, timeout=5)
    assert (second.up, second.down) == (0, 2)
    assert sorted(second.went_down) == sorted([hls.station.code, mjpeg.station.code])
    hls.refresh_from_db()
    assert hls.status == WebcamStatus.DOWN and hls.status_since == went_down
    assert hls.last_seen_at == went_down - dt.timedelta(minutes=5)
    assert hls.detail  # why: the connection was refused
    outage = WebcamOutage.objects.get(webcam=hls)
    assert (outage.started_at, outage.ended_at) == (went_down, None)
    assert AuditRecord.objects.filter(action="observers.webcam_down", target=hls.station.code)

    clock.advance(5)
    third = health.check(election, now=clock, concurrency=2, timeout=5)
    assert (third.down, third.went_down) == (2, [])
    assert WebcamOutage.objects.filter(webcam=hls).count() == 1
    assert WebcamChange.objects.filter(webcam=hls).count() == 2  # up, down

    stand_in.start()  # the same port again
    back = clock.advance(5)
    fourth = health.check(election, now=clock, concurrency=2, timeout=5)
    assert (fourth.up, sorted(fourth.recovered)) == (
        2,
        sorted([hls.station.code, mjpeg.station.code]),
    )
    outage.refresh_from_db()
    assert (outage.started_at, outage.ended_at, outage.minutes) == (went_down, back, 10)
    hls.refresh_from_db()
    assert (hls.status, hls.status_since, hls.last_seen_at) == (WebcamStatus.UP, back, back)
    assert AuditRecord.objects.filter(action="observers.webcam_up", target=hls.station.code)
    assert list(WebcamChange.objects.filter(webcam=hls).values_list("status", flat=True)) == [
        "up",
        "down",
        "up",
    ]

    client = Client()
    page = client.get(reverse("portal:webcam_status", args=[election.slug])).content.decode()
    assert f'data-station="{hls.station.code}" data-status="up"' in page
    detail = client.get(reverse("portal:webcam", args=[election.slug, hls.station.code]))
    text = detail.content.decode()
    assert 'data-open="0"' in text and "CamCo" in text and stand_in.url("/live.m3u8") in text


def test_status_page_filters_by_status_and_unit(
    election: Election, people: dict[str, Persona], stand_in: StandIn
) -> None:
    hls, mjpeg = _register(election, stand_in, people["cec"])
    clock = Clock()
    health.check(election, now=clock, prober=lambda url: health.Probe("m3u8" in url, 503, "x"))
    client = Client()
    url = reverse("portal:webcam_status", args=[election.slug])
    down = client.get(url, {"status": "down"}).content.decode()
    assert mjpeg.station.code in down and f'data-station="{hls.station.code}"' not in down
    unit = hls.station.unit
    own = client.get(url, {"unit": unit.code}).content.decode()
    assert f'data-station="{hls.station.code}"' in own
    assert client.get(url, {"status": "sideways"}).status_code == 404
    assert client.get(url, {"unit": "nowhere"}).status_code == 404


def test_registry_edits_by_role_audited(election: Election, people: dict[str, Persona]) -> None:
    station = Station.objects.filter(election=election).order_by("position").first()
    assert station is not None
    for name in ("observer", "st11", "outsider", "supervisor"):
        with pytest.raises(AccessDenied):
            actions.edit_webcam(
                election, station, actor=people[name].user, stream_url="https://cam.example/a"
            )
    for bad, field in (
        ({"stream_url": "file:///etc/passwd"}, "stream_url"),
        ({"stream_url": ""}, "stream_url"),
        ({"stream_url": "https://cam.example/a", "recording_url": "javascript:x"}, "recording_url"),
        ({"stream_url": "https://cam.example/a", "operator": "x\x00"}, "operator"),
    ):
        with pytest.raises(IntakeError) as refused:
            actions.edit_webcam(election, station, actor=people["cec"].user, **bad)
        assert refused.value.field == field
    assert not Webcam.objects.exists()
    entries = LedgerEntry.objects.count()
    actions.edit_webcam(
        election, station, actor=people["cec"].user, stream_url="https://cam.example/a"
    )
    actions.edit_webcam(
        election, station, actor=people["cec"].user, stream_url="https://cam.example/b"
    )
    record = AuditRecord.objects.filter(action="observers.webcam").order_by("-id").first()
    assert record is not None
    assert record.before == {"stream_url": "https://cam.example/a"}
    assert record.after == {"stream_url": "https://cam.example/b"}
    assert LedgerEntry.objects.count() == entries + 2


def test_staff_registry_page(election: Election, people: dict[str, Persona]) -> None:
    station = Station.objects.filter(election=election).order_by("position").first()
    assert station is not None
    url = reverse("observers:webcam", args=[election.slug, station.code])
    client = Client()
    client.force_login(people["cec"].user)
    refused = client.post(url, {"stream_url": "ftp://cam.example/a"})
    assert refused.status_code == 422 and "stream_url" in refused.content.decode()
    done = client.post(url, {"stream_url": "https://cam.example/a", "operator": "CamCo"})
    assert done.status_code == 302
    assert Webcam.objects.get(station=station).operator == "CamCo"
    outsider = Client()
    outsider.force_login(people["st11"].user)
    assert outsider.post(url, {"stream_url": "https://cam.example/z"}).status_code == 403
    assert Webcam.objects.get(station=station).stream_url == "https://cam.example/a"
    listing = client.get(reverse("observers:webcams", args=[election.slug])).content.decode()
    assert station.code in listing


def test_command_registers_the_register_and_probes(election: Election, stand_in: StandIn) -> None:
    station = Station.objects.filter(election=election).order_by("position").first()
    assert station is not None
    Station.objects.filter(pk=station.pk).update(webcam=True, webcam_url=stand_in.url("/live.m3u8"))
    result = CliRunner().invoke(
        webcams_check_cmd, ["--election", election.slug, "--concurrency", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "1 webcams, 1 up, 0 down" in result.output
    webcam = Webcam.objects.get(station=station)
    assert webcam.status == WebcamStatus.UP
    assert AuditRecord.objects.filter(action="observers.webcams_registered").count() == 1
