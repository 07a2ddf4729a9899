"""Observers' protocol copies against the official protocols, on a simulated election whose
official protocols the simulator altered (fraud injection, ground truth in truth.csv): copies
carrying the true numbers flag every altered station with exactly the altered lines and no
clean station; two organisations agreeing against the official protocol are the strongest
flag; the phone form and the CSV upload refuse bad input by field and store nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from secki.accounts.access import AccessDenied
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.ledger.models import LedgerEntry
from secki.observers import actions, compare
from secki.observers.models import Organisation, ProtocolCopy
from secki.simulator import SimulationConfig, parse_fraud
from tests.integrity.conftest import Imported, import_simulated, module_transaction
from tests.observers.conftest import PNG, document, logged_in

pytestmark = pytest.mark.django_db

STATIONS = 600
FRAUD = "stuffing:fi=0.12,fe=0.03;integer:share=0.05"
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def fraud(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("copies"),
            SimulationConfig(stations=STATIONS, seed=11, fraud=parse_fraud(FRAUD)),
        )


def organisation(election: Election, name: str, unit: str = "") -> tuple[Organisation, Any]:
    user = get_user_model().objects.create_user(username=f"rep-{name}", password="pw")
    app = actions.apply(
        election,
        actor=user,
        name=name,
        kind="domestic",
        contact="c",
        unit=unit,
        observers="2",
        names="",
        documents=[document()],
    )
    observer = f"obs-{name}"
    has_account = get_user_model().objects.filter(username=observer).exists()
    actions.accept(
        app,
        actor=None,
        valid_from=(TODAY - dt.timedelta(days=1)).isoformat(),
        valid_until=(TODAY + dt.timedelta(days=1)).isoformat(),
        names=f"Observer One; {observer}" if has_account else "Observer One",
    )
    return app.organisation, user


def true_rows(imported: Imported, election: Election, indexes: list[int]) -> list[dict[str, str]]:
    """The clean (true) numbers of the stations at ``indexes``, as CSV rows."""
    sim = imported.sim
    codes = sim.station_codes()
    out = []
    for i in indexes:
        row = {"station": codes[i]}
        for code, _required in actions.copy_lines(election):
            if code in sim.clean.lines:
                row[code] = str(int(sim.clean.lines[code][i]))
            elif code.startswith("C"):
                row[code] = str(int(sim.clean.votes[i, int(code[1:]) - 1]))
            else:
                row[code] = ""
        out.append(row)
    return out


def as_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def altered_lines(imported: Imported, i: int) -> set[str]:
    sim = imported.sim
    lines = {c for c, v in sim.protocols.lines.items() if v[i] != sim.clean.lines[c][i]}
    lines |= {
        f"C{j + 1}"
        for j in range(sim.protocols.votes.shape[1])
        if sim.protocols.votes[i, j] != sim.clean.votes[i, j]
    }
    return lines


def test_true_copies_flag_every_altered_station_and_no_clean_one(
    fraud: Imported, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election = fraud.election
    truth = fraud.truth()
    codes = fraud.sim.station_codes()
    assert len(truth) > 40  # the simulator altered a good number of stations
    first = list(range(0, STATIONS, 2))  # organisation A: every other station
    second = list(range(0, STATIONS, 6))  # organisation B: a third of those
    a, rep_a = organisation(election, "Alpha Watch")
    b, rep_b = organisation(election, "Beta Monitors")
    done = actions.upload_copies(
        election, a, as_csv(true_rows(fraud, election, first)), actor=rep_a
    )
    assert done.copies == len(first)
    actions.upload_copies(election, b, as_csv(true_rows(fraud, election, second)), actor=rep_b)
    assert LedgerEntry.objects.filter(kind="observers.copy").count() == len(first) + len(second)

    result = compare.compare(election, public=True)
    marks = {s.station.code: s for s in result.stations}
    assert len(marks) == len(first)
    flagged = {c for c, s in marks.items() if s.flagged}
    altered = {codes[i] for i in first if codes[i] in truth}
    assert flagged == altered
    assert altered  # the test means something
    for i in first:
        s = marks[codes[i]]
        if codes[i] in truth:
            assert set(s.lines) == altered_lines(fraud, i), codes[i]
            # the injected fraud always favours the leader, candidate 1
            assert s.favour.get("C1", 0) > 0 or "C1" not in s.lines
            assert s.mark == (compare.CORROBORATED if i % 6 == 0 else compare.DIFFERS)
        else:
            assert s.mark == compare.AGREES and s.lines == []
    counts = result.counts()
    assert counts[compare.CORROBORATED] == len({codes[i] for i in second} & altered)
    assert counts[compare.AGREES] == len(first) - len(altered)

    # the public table, CSV and JSON say the same
    client = logged_in(fraud.people["outsider"])
    page = client.get(reverse("portal:observer_copies", args=[election.slug])).content.decode()
    some = sorted(altered)[0]
    assert f'data-station="{some}" data-mark="{marks[some].mark}"' in page
    clean = next(codes[i] for i in first if codes[i] not in truth)
    for code in (some, clean):  # the station's own page says the same
        own = client.get(reverse("portal:station", args=[election.slug, code])).content.decode()
        assert f'id="observer-copies" data-mark="{marks[code].mark}"' in own
        lines = compare.station_comparison(
            election, Station.objects.get(election=election, code=code), public=True
        )
        assert lines is not None and lines.lines == marks[code].lines
    data = json.loads(
        client.get(reverse("portal:observer_copies_json", args=[election.slug])).content
    )
    assert {s["station"] for s in data["stations"] if s["mark"] in compare.FLAGGED} == altered
    assert data["counts"] == counts
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    reverse("portal:observer_copies_csv", args=[election.slug])
                ).content.decode()
            )
        )
    )
    assert {r["station"] for r in rows if r["mark"] in compare.FLAGGED} == altered
    assert {(r["station"], r["line"]) for r in rows if r["station"] == some} >= {
        (some, line) for line in altered_lines(fraud, codes.index(some))
    }


def test_the_observers_phone_form(fraud: Imported, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election = fraud.election
    users = get_user_model().objects
    watcher = users.create_user(username="obs-Gamma", password="pw")
    gamma, _rep = organisation(election, "Gamma", unit="1")
    codes = fraud.sim.station_codes()
    inside = next(
        i
        for i, c in enumerate(codes)
        if c in fraud.truth() and Station.objects.get(election=election, code=c).unit.code == "1"
    )
    outside = next(
        i
        for i, c in enumerate(codes)
        if Station.objects.get(election=election, code=c).unit.code != "1"
    )
    row = true_rows(fraud, election, [inside])[0]
    client = Client()
    client.force_login(watcher)
    url = reverse("observers:copy", args=[election.slug])
    assert client.get(url).status_code == 200
    before = ProtocolCopy.objects.count()
    # bad input: named by field, nothing stored
    for change, field in [
        ({"station": "nowhere"}, "station"),
        ({"L1": "many"}, "L1"),
        ({"C1": "-4"}, "C1"),
        ({"C2": ""}, "C2"),
        ({"L1": "99999999"}, "L1"),
    ]:
        response = client.post(url, {**row, **change})
        assert response.status_code == 422, change
        assert f'data-field="{field}"' in response.content.decode(), change
    photo_bad = client.post(url, {**row, "photo": SimpleUploadedFile("p.png", b"nonsense")})
    assert photo_bad.status_code == 422 and 'data-field="photo"' in photo_bad.content.decode()
    # outside the accreditation's territory: refused
    far = client.post(url, true_rows(fraud, election, [outside])[0])
    assert far.status_code == 403
    assert ProtocolCopy.objects.count() == before
    ok = client.post(url, {**row, "photo": SimpleUploadedFile("p.png", PNG)})
    assert ok.status_code == 302
    copy = ProtocolCopy.objects.get(organisation=gamma)
    assert copy.photo_sha256 and copy.station.code == codes[inside]
    s = next(
        s
        for s in compare.compare(election, public=True).stations
        if s.station.code == codes[inside]
    )
    assert s.mark == compare.DIFFERS and set(s.lines) == altered_lines(fraud, inside)
    # a second copy of the same station replaces the first (both kept, one current)
    assert client.post(url, row).status_code == 302
    assert ProtocolCopy.objects.filter(organisation=gamma).count() == 2
    current = ProtocolCopy.objects.get(organisation=gamma, is_current=True)
    assert current.photo_sha256 == "" and current.pk != copy.pk
    # a station operator is no observer
    with pytest.raises(AccessDenied):
        actions.submit_copy(election, copy.station, row, actor=fraud.people["st11"].user)


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda text: text.replace("station,", "stat,", 1), "file"),
        (lambda text: text.replace(",L1,", ",L1,LX,", 1), "file"),
        (
            lambda text: (
                text.rsplit("\n", 2)[0] + "\nnowhere" + "," * text.split("\n")[0].count(",") + "\n"
            ),
            "station",
        ),
        (lambda text: text + text.split("\n")[1] + "\n", "station"),
        (
            lambda text: text.replace("\n", "\n", 1).replace(
                text.split("\n")[1], text.split("\n")[1].replace(",", ",x", 1)
            ),
            "L1",
        ),
        (lambda text: text.replace("\x00", "") + "\x00", "file"),
    ],
)
def test_a_bad_csv_is_refused_whole(
    fraud: Imported, settings: Any, tmp_path: Path, spoil: Any, field: str
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    election = fraud.election
    org, rep = organisation(election, "Delta")
    text = as_csv(true_rows(fraud, election, [0, 1, 2])).decode()
    before = (ProtocolCopy.objects.count(), LedgerEntry.objects.count())
    with pytest.raises(IntakeError) as exc:
        actions.upload_copies(election, org, spoil(text).encode(), actor=rep)
    assert exc.value.field == field, exc.value.message
    assert (ProtocolCopy.objects.count(), LedgerEntry.objects.count()) == before
    with pytest.raises(AccessDenied):
        actions.upload_copies(election, org, text.encode(), actor=fraud.people["cec"].user)


def test_the_public_table_shows_no_official_figure_before_publication(
    election: Election, people: dict[str, Any]
) -> None:
    """While the election's publication setting holds the results back, the public copies
    table, its CSV and JSON compare with no official protocol (every station awaits, no
    official value); the commission's staff still see the comparison; once the setting
    holds, the public sees it too."""
    from secki.accounts.actions import change_election
    from secki.protocols.models import Protocol

    cec = people["cec"].user
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    change_election(cec, election, publication="time", publication_at=later.isoformat())
    org, rep = organisation(election, "Delta Watch")
    station = Station.objects.get(election=election, code="1-1")
    official = dict(
        Protocol.objects.get(station=station, is_current=True).values.values_list("code", "value")
    )
    row = {code: str(official.get(code, 0)) for code, _required in actions.copy_lines(election)}
    row["C1"] = str(int(row["C1"]) + 7)  # the copy says 7 more votes for candidate 1
    done = actions.upload_copies(election, org, as_csv([{"station": "1-1", **row}]), actor=rep)
    assert done.copies == 1

    public = Client()
    page = public.get(reverse("portal:observer_copies", args=[election.slug])).content.decode()
    assert 'id="copies-withheld"' in page
    assert 'data-station="1-1" data-mark="awaiting"' in page
    assert 'data-line="C1"' not in page and row["C1"] not in page
    data = json.loads(
        public.get(reverse("portal:observer_copies_json", args=[election.slug])).content
    )
    assert data["official"] == "withheld"
    [shown] = data["stations"]
    assert shown["mark"] == compare.AWAITING and shown["official"] is None
    assert shown["copies"][0]["differences"] == []
    text = public.get(reverse("portal:observer_copies_csv", args=[election.slug])).content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["station"], r["mark"], r["official"]) for r in rows] == [("1-1", "awaiting", "")]

    # the commission's staff see the comparison with the accepted protocol
    staff = logged_in(people["cec"])
    inside = json.loads(
        staff.get(reverse("portal:observer_copies_json", args=[election.slug])).content
    )
    assert inside["stations"][0]["mark"] == compare.DIFFERS

    change_election(cec, election, publication="immediately")
    released = json.loads(
        public.get(reverse("portal:observer_copies_json", args=[election.slug])).content
    )
    assert released["official"] == "published"
    [station_row] = released["stations"]
    assert station_row["mark"] == compare.DIFFERS and station_row["official"] == official
    assert station_row["copies"][0]["differences"] == [
        {"line": "C1", "official": official["C1"], "copy": official["C1"] + 7, "delta": -7}
    ]
    page = public.get(reverse("portal:observer_copies", args=[election.slug])).content.decode()
    assert 'id="copies-withheld"' not in page and 'data-line="C1"' in page
