"""Anomaly flags: each kind on hand-made stations, the late-jump flag against the
simulator's ground truth, and the stored reports of a real (test) election."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.results.anomalies import (
    Settings,
    StationTurnout,
    above_100,
    anomalies,
    curve_outliers,
    decreases,
    find_anomalies,
    identical_numbers,
    late_jumps,
    load,
    to_csv,
)
from secki.simulator import SimulationConfig, parse_fraud, simulate, write_bundle
from secki.turnout.actions import report_turnout
from tests.factories import write_small_bundle
from tests.turnout.conftest import People, station

TIMES = ["10:00", "12:00", "15:00", "17:00", "19:00"]


def make(
    code: str, registered: int, *values: int, final: int | None = None, unit: int = 1
) -> StationTurnout:
    current = dict(zip(TIMES, values, strict=False))
    return StationTurnout(
        id=hash(code) % 10**6,
        code=code,
        name=code,
        unit_id=unit,
        unit_path=f"/1/{unit}/",
        registered=registered,
        current=current,
        history=[(t, 1, v) for t, v in current.items()],
        final=final,
    )


def codes(flags: list[Any]) -> list[str]:
    return [f.station for f in flags]


def test_above_100_counts_reports_and_the_final_protocol() -> None:
    stations = [
        make("a", 1000, 200, 500, 700, 800, 900, final=950),
        make("b", 1000, 200, 500, 700, 800, 1020, final=1030),
        make("c", 1000, 200, 500, 700, 800, 900, final=1010),
    ]
    flags = above_100(stations, TIMES)
    assert codes(flags) == ["b", "c"]
    assert (flags[0].time, flags[0].value) == ("final", 103.0)
    assert flags[1].time == "final"


def test_decreases_between_times_versions_and_the_final_protocol() -> None:
    between = make("times", 1000, 200, 500, 450, 600, 700)
    corrected = make("versions", 1000, 200, 480)
    corrected.history = [("10:00", 1, 200), ("12:00", 1, 500), ("12:00", 2, 480)]
    final = make("final", 1000, 200, 500, 700, 800, 900, final=880)
    clean = make("clean", 1000, 200, 500, 700, 800, 900, final=905)
    flags = decreases([between, corrected, final, clean], TIMES)
    assert [(f.station, f.time, f.value) for f in flags] == [
        ("times", "15:00", -50.0),
        ("versions", "12:00", -20.0),
        ("final", "final", -20.0),
    ]


def test_late_jump_uses_the_last_report_and_the_threshold() -> None:
    stations = [
        make("stuffed", 1000, 100, 250, 400, 500, 550, final=760),  # +21 points
        make("edge", 1000, 100, 250, 400, 500, 550, final=700),  # +15.0: not above
        make("missed_19", 1000, 100, 250, 400, 500, final=660),  # +16 from 17:00
        make("clean", 1000, 100, 250, 400, 500, 550, final=555),
        make("no_protocol", 1000, 100, 250, 400, 500, 550),
    ]
    flags = late_jumps(stations, TIMES, 15.0)
    assert codes(flags) == ["stuffed", "missed_19"]
    assert flags[0].value == 21.0 and "19:00" in flags[0].message
    assert "17:00" in flags[1].message
    assert codes(late_jumps(stations, TIMES, 20.0)) == ["stuffed"]


def test_identical_numbers_beyond_chance_and_identical_series() -> None:
    # 60 stations with distinct, spread-out numbers, then 6 that all report 334 at 12:00
    stations = [make(f"s{i}", 1000, 100 + 7 * i, 300 + 11 * i, 500 + 13 * i) for i in range(60)]
    copies = [make(f"c{i}", 1000, 90 + i, 334, 520 + 3 * i) for i in range(6)]
    series = [make(f"x{i}", 900, 111, 222, 444) for i in range(3)]
    flags = identical_numbers(stations + copies + series, TIMES)
    by_time = {(f.station, f.time) for f in flags}
    assert {(f"c{i}", "12:00") for i in range(6)} <= by_time
    assert {(f"x{i}", "") for i in range(3)} <= by_time
    assert not any(s.startswith("s") for s, _ in by_time)
    # two stations sharing a series is not enough (by default three)
    assert identical_numbers(stations + series[:2], TIMES) == []


def test_curve_outliers_against_the_constituency() -> None:
    normal = [make(f"n{i}", 1000, 180 + i, 400 + i, 600 + i, unit=1) for i in range(20)]
    odd = make("odd", 1000, 190, 700, 900, unit=1)  # far above at 12:00 and 15:00
    elsewhere = [make(f"e{i}", 1000, 50 + i, 100 + i, 150 + i, unit=2) for i in range(3)]
    flags = curve_outliers([*normal, odd, *elsewhere], TIMES, Settings(k=3))
    assert codes(flags) == ["odd"]
    assert flags[0].value > 3 and flags[0].time in ("12:00", "15:00")
    # constituency 2 has 3 stations, fewer than min_group: never judged
    assert curve_outliers(elsewhere, TIMES, Settings(k=0.1, min_group=5)) == []
    assert codes(curve_outliers(elsewhere, TIMES, Settings(k=0.1, min_group=3)))


def test_find_anomalies_orders_by_station_then_kind() -> None:
    stations = [
        make("b", 1000, 200, 500, 450, 600, 700, final=1010),
        make("a", 1000, 100, 250, 400, 500, 550, final=760),
    ]
    flags = find_anomalies(stations, TIMES)
    assert [(f.station, f.kind) for f in flags] == [
        ("b", "above_100"),
        ("b", "decrease"),
        ("b", "late_jump"),
        ("a", "late_jump"),
    ]


@pytest.mark.django_db
def test_the_late_jump_flag_finds_injected_ballot_stuffing(tmp_path: Path) -> None:
    directory = tmp_path / "bundle"
    config = SimulationConfig(
        seed=20240207, stations=3000, fraud=parse_fraud("stuffing:fi=0.1,fe=0.05")
    )
    write_bundle(simulate(config), directory)
    election = import_bundle(read_bundle(directory))
    with (directory / "truth.csv").open(newline="") as handle:
        truth = {row["station"]: row for row in csv.DictReader(handle)}
    threshold = Settings().jump_points
    assert threshold == 15.0
    increase = {
        code: 100 * (float(r["turnout_after"]) - float(r["turnout_before"]))
        for code, r in truth.items()
        if r["stuffing"]
    }
    big = {code for code, points in increase.items() if points > threshold}
    clean = {s.code for s in station_codes(election)} - set(truth)
    assert len(big) >= 50 and len(clean) >= 2000  # enough of both for the rates to mean something

    flagged = anomalies(election).stations_flagged("late_jump")
    found = len(big & flagged) / len(big)
    false_alarms = len(clean & flagged) / len(clean)
    assert found >= 0.90, f"found {found:.1%} of {len(big)} stuffed stations"
    assert false_alarms < 0.01, f"flagged {false_alarms:.2%} of {len(clean)} clean stations"


def station_codes(election: Election) -> list[Any]:
    return list(election.stations.all())


@pytest.mark.django_db
def test_flags_from_stored_reports_and_protocols(election: Election, people: People) -> None:
    def send(code: str, time: str, voters: int, reason: str = "") -> None:
        report_turnout(
            election, station(election, code), time, voters, actor=people.cec, reason=reason
        )

    send("1-1", "10:00", 150)
    send("1-1", "12:00", 400)
    send("1-1", "12:00", 380, reason="double-counted a page")  # a decrease between versions
    send("2-2", "19:00", 310)  # 300 registered: within the 5 % allowance, above 100 %
    loaded = {s.code: s for s in load(election)}
    assert loaded["1-1"].current == {"10:00": 150, "12:00": 380}
    assert loaded["1-1"].history == [("10:00", 1, 150), ("12:00", 1, 400), ("12:00", 2, 380)]
    assert loaded["1-1"].final is None  # no protocols loaded
    report = anomalies(election)
    assert {(f.station, f.kind) for f in report.flags} == {
        ("1-1", "decrease"),
        ("2-2", "above_100"),
    }
    text = to_csv(report)
    lines = text.splitlines()
    assert lines[0] == "station,name,unit,registered,kind,time,value,threshold,message"
    assert lines[1].startswith("1-1,Station 1,1,1000,decrease,12:00,-20,0,")
    assert lines[2].startswith("2-2,Station 2,2,300,above_100,19:00,103.33,100,")


@pytest.mark.django_db
def test_final_participants_come_from_counted_protocols(tmp_path: Path) -> None:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path)))
    finals = {s.code: s.final for s in load(election)}
    # L5 + L6 of tests/factories.py's protocols
    assert finals == {"1-1": 700, "1-2": 500, "2-1": 900, "2-2": 150}
    flags = anomalies(election).stations_flagged("late_jump")
    # 1-1: 400 at 12:00 → 700 (+30 points); 1-2: 90 at 10:00 → 500 (+51); 2-1: 200 → 900;
    # 2-2: 100 at 12:00 → 150 (+16.7): all jump, since this bundle's reports stop early
    assert flags == {"1-1", "1-2", "2-1", "2-2"}
