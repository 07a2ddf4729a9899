"""Byte-for-byte check of the public station page (issue 15): not collected by the suite (no
``test_`` prefix); run it by its path:

    SNAPSHOT_DIR=/tmp/x pytest -q tests/portal/snapshot_station_pages.py

A simulated election of 300 stations (with soft failures), then annulments, amendments,
amendments awaiting publication, scans (PDF and PNG), webcams, corrections of turnout,
addresses, abroad / temporary / Open Civic Data ids, names with ``<&"'``, observers' copies of
every mark, an election without protocols and one whose results are withheld: every station's
page and its live part in az, en and ru, anonymously and as an official. Each is written by
the code under test and, on the view's same values, by the templates of
``$SNAPSHOT_REFERENCE`` (the templates as they were, ``portal/station.html`` …; by default
``station_reference`` here), in the same process, and compared byte for byte; both are
written under ``$SNAPSHOT_DIR`` (``SNAPSHOT_LIMIT=N``: the simulated election's first N
stations only)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station
from secki.intake.bundle_io import import_bundle
from secki.opendata import published
from secki.portal import http, stationpage, views
from secki.portal.templatetags import portal as portal_tags
from secki.protocols import actions
from secki.protocols.data import ProtocolData
from secki.protocols.models import Protocol
from secki.protocols.scans import upload_scan
from secki.simulator import SimulationConfig, simulate, write_bundle
from secki.simulator.config import parse_fraud
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.portal.conftest import Clock, load
from tests.portal.test_station_page_python import REFERENCE, capture

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
LANGUAGES = ("az", "en", "ru")
NASTY = "<b>&amp; \"quoted\" 'single'</b>"


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8, 6), 200).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def shifted(protocol: Protocol, by: int) -> ProtocolData:
    data = actions.protocol_data(protocol)
    votes = list(data.candidates)
    moved = min(by, votes[0])
    votes[0] -= moved
    votes[1] += moved
    return dataclasses.replace(data, candidates=tuple(votes))


def prepare_simulated(tmp_path: Path, admin: Any) -> Election:
    config = SimulationConfig(
        stations=300, seed=15, fraud=parse_fraud("stuffing:fi=0.1,fe=0.02;integer:share=0.05")
    )
    write_bundle(simulate(config), tmp_path / "sim")
    election = import_bundle(read_bundle(tmp_path / "sim"))
    stations = list(Station.objects.filter(election=election).order_by("code"))
    # what the template branches on, station by station
    for i, s in enumerate(stations[:40]):
        changed: dict[str, Any] = {}
        if i % 3 == 0:
            changed["webcam"] = True
            changed["webcam_url"] = "https://cam.example/s?a=1&b=<2>" if i % 2 else ""
        if i % 4 == 0:
            changed["address"] = f"Street {i} & {NASTY}"
        if i % 5 == 0:
            changed["abroad"] = True
        if i % 6 == 0:
            changed["temporary"] = True
        if i % 7 == 0:
            changed["ocd_id"] = f"ocd-division/country:az/x:{i}<&>"
        if i % 8 == 0:
            changed["name"] = f"{s.name} {NASTY}"
            changed["name_ru"] = f"Участок {NASTY}"
        if changed:
            Station.objects.filter(pk=s.pk).update(**changed)
    for i, s in enumerate(stations[40:50]):  # amended, with a reason that needs escaping
        current = Protocol.objects.get(station=s, is_current=True)
        data = shifted(current, 3)
        if i < 4:  # closed a day early: a soft failure
            data = dataclasses.replace(
                data, instants={k: v - dt.timedelta(days=1) for k, v in data.instants.items()}
            )
        actions.amend_protocol(s, data, actor=admin, reason=f"recount {NASTY}", source="form")
    for s in stations[50:60]:  # annulled
        actions.annul_protocol(
            s, actor=admin, decision_ref=f"CEC {s.code} {NASTY}", reason=f"why {NASTY}"
        )
    for i, s in enumerate(stations[60:70]):  # scans
        upload_scan(election, s, SimpleUploadedFile("a.pdf", PDF + b" " * (i + 1)), actor=admin)
        if i % 2:
            upload_scan(election, s, SimpleUploadedFile("b.png", png()), actor=admin)
    for s in stations[70:80]:  # turnout corrected
        report = TurnoutReport.objects.filter(station=s, is_current=True).order_by("time").first()
        if report is not None:
            report_turnout(
                election,
                s,
                report.time,
                max(0, report.voters - 1),
                actor=admin,
                reason=f"misread {NASTY}",
            )
    for s in stations[80:85]:  # amended, then annulled
        current = Protocol.objects.get(station=s, is_current=True)
        actions.amend_protocol(s, shifted(current, 1), actor=admin, reason="first", source="form")
        actions.annul_protocol(s, actor=admin, decision_ref="CEC 2/2", reason="")
    election.auto_publish = False
    election.save()
    for s in stations[85:95]:  # an amendment awaiting publication: hidden from the public
        current = Protocol.objects.get(station=s, is_current=True)
        actions.amend_protocol(s, shifted(current, 2), actor=admin, reason="late", source="form")
    return election


def copies_of(codes: list[str]) -> Any:
    marks = ["corroborated", "differs", "agrees", "awaiting"]
    real = views.station_comparison

    def comparison(election: Election, station: Station, *, public: bool) -> Any:
        if station.code not in codes:
            return real(election, station, public=public)
        mark = marks[codes.index(station.code) % len(marks)]
        diffs = (
            [
                SimpleNamespace(code="C1", official=12345, copy=12300, delta=45),
                SimpleNamespace(code="L2", official=7, copy=9, delta=-2),
            ]
            if mark in ("corroborated", "differs")
            else []
        )
        return SimpleNamespace(mark=mark, diffs=diffs)

    return comparison


def render_all(
    election: Election, codes: list[str], client: Client, tag: str, found: list[Any]
) -> dict[str, tuple[bytes, bytes]]:
    pages: dict[str, tuple[bytes, bytes]] = {}
    for code in codes:
        for language in LANGUAGES:
            for part in ("", "?part=live"):
                http.pages.clear()
                portal_tags._fragments.clear()
                stationpage._made.clear()
                stationpage._layouts.clear()
                found.clear()
                response = client.get(
                    f"/e/{election.slug}/s/{code}/{part}", HTTP_ACCEPT_LANGUAGE=language
                )
                assert response.status_code == 200, (code, response.status_code)
                assert len(found) == 1 and found[0][0] == response.content
                name = f"{election.slug}_{code}_{language}{'_live' if part else ''}_{tag}.html"
                pages[name] = found[0]
    return pages


def compare(
    election: Election, codes: list[str], client: Client, kind: str, found: list[Any]
) -> tuple[int, list[str]]:
    out = Path(os.environ["SNAPSHOT_DIR"])
    (out / "new").mkdir(parents=True, exist_ok=True)
    (out / "reference").mkdir(parents=True, exist_ok=True)
    differing = []
    for name, (mine, theirs) in render_all(election, codes, client, kind, found).items():
        (out / "new" / name).write_bytes(mine)
        (out / "reference" / name).write_bytes(theirs)
        if mine != theirs:
            differing.append(name)
    return len(codes) * len(LANGUAGES) * 2, differing


def test_snapshot(
    settings: Any,
    tmp_path: Path,
    admin: Any,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulated = prepare_simulated(tmp_path, admin)
    codes = list(
        Station.objects.filter(election=simulated).order_by("code").values_list("code", flat=True)
    )
    monkeypatch.setattr(views, "station_comparison", copies_of(codes[95:103] + codes[50:52]))
    empty = load(tmp_path / "empty", protocols=False, slug="empty-2024", name="Empty <&>")
    withheld = load(tmp_path / "held", slug="held-2024", name="Held")
    Election.objects.filter(pk=withheld.pk).update(
        publication="time", publication_at=dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    )
    withheld.refresh_from_db()
    publisher = published.Publisher(clock=clock, open_data=False)
    publisher.step()
    found = capture(
        settings, monkeypatch, Path(os.environ.get("SNAPSHOT_REFERENCE", str(REFERENCE)))
    )
    total, differing = 0, []
    anonymous = Client()
    for election in (simulated, empty, withheld):
        election.refresh_from_db()
        mine = list(
            Station.objects.filter(election=election)
            .order_by("code")
            .values_list("code", flat=True)
        )
        if election == simulated and os.environ.get("SNAPSHOT_LIMIT"):  # a quicker look
            mine = mine[: int(os.environ["SNAPSHOT_LIMIT"])]
        n, d = compare(election, mine, anonymous, "public", found)
        total, differing = total + n, differing + d
    official = Client()
    official.force_login(admin)
    n, d = compare(simulated, codes[30:110], official, "official", found)
    total, differing = total + n, differing + d
    print(f"\n{total} pages compared, {len(differing)} differ")
    assert not differing, differing[:20]
