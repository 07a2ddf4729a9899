"""Turnout of every unit at every report time: over the reporting stations only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Unit
from secki.intake.bundle_io import import_bundle
from secki.results import turnout as agg
from secki.results.tabulate import tabulation
from secki.results.turnout import turnout_summary
from secki.turnout.actions import report_turnout
from tests.factories import write_small_bundle
from tests.turnout.conftest import People, station

pytestmark = pytest.mark.django_db


def by_time(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["time"]: r for r in summary["reports"]}


def send(election: Election, actor: Any, code: str, time: str, voters: int, **kw: Any) -> None:
    report_turnout(election, station(election, code), time, voters, actor=actor, **kw)


def test_turnout_is_over_the_reporting_stations_only(election: Election, people: People) -> None:
    send(election, people.cec, "1-1", "10:00", 150)  # 1,000 registered
    send(election, people.cec, "2-1", "10:00", 200)  # 1,200 registered
    national = turnout_summary(election)
    ten = by_time(national)["10:00"]
    assert ten == {
        "time": "10:00",
        "voters": 350,
        "registered_reporting": 2200,
        "stations_reporting": 2,
        "stations_total": 4,
        "turnout": 15.91,  # 350 / 2,200, not 350 / 3,300 (10.61)
        "late": 2,  # reported now, long after that election day
    }
    assert by_time(national)["12:00"] == {
        "time": "12:00",
        "voters": 0,
        "registered_reporting": 0,
        "stations_reporting": 0,
        "stations_total": 4,
        "turnout": None,
        "late": 0,
    }
    assert national["stations_total"] == 4 and national["registered_total"] == 3300
    assert national["unit"] == {
        "code": "XX",
        "name": "Testland",
        "name_az": None,  # translations beside the name, null when not given
        "name_ru": None,
        "kind": "country",
        "number": None,
    }
    north, south = national["children"]
    assert north["unit"]["code"] == "1" and south["unit"]["code"] == "2"
    assert by_time(north)["10:00"]["turnout"] == 15.0
    assert by_time(north)["10:00"]["stations_reporting"] == 1
    assert by_time(north)["10:00"]["stations_total"] == 2
    assert by_time(south)["10:00"]["turnout"] == round(200 * 100 / 1200, 2)
    # a unit by code has its own figures and no grandchildren
    assert by_time(turnout_summary(election, "2"))["10:00"]["voters"] == 200
    assert turnout_summary(election, "2")["children"] == []


def test_only_current_versions_count(election: Election, people: People) -> None:
    send(election, people.cec, "1-1", "10:00", 150)
    send(election, people.cec, "1-1", "10:00", 140, reason="miscounted")
    ten = by_time(turnout_summary(election))["10:00"]
    assert (ten["voters"], ten["stations_reporting"]) == (140, 1)


def test_a_new_report_refreshes_the_cached_aggregate(election: Election, people: People) -> None:
    first = agg.aggregate(election)
    assert agg.aggregate(election) is first  # nothing happened: the cache answers
    send(election, people.cec, "1-2", "12:00", 300)
    fresh = agg.aggregate(election)
    assert fresh is not first
    assert by_time(fresh.summary())["12:00"]["voters"] == 300


def test_all_units_and_times_take_a_handful_of_queries(
    election: Election, people: People, django_assert_max_num_queries: Any
) -> None:
    for code, voters in (("1-1", 150), ("1-2", 90), ("2-1", 200), ("2-2", 40)):
        send(election, people.cec, code, "10:00", voters)
    agg._cache.clear()
    with django_assert_max_num_queries(10):
        summary = turnout_summary(election)
    assert by_time(summary)["10:00"]["stations_reporting"] == 4


def test_final_turnout_from_the_counted_protocols(tmp_path: Path) -> None:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path)))
    summary = turnout_summary(election)
    national = tabulation(election, public=True).result()
    # L5 + L6 of the four protocols: 700 + 500 + 900 + 150
    assert summary["final"] == {
        "participants": 2250,
        "registered_reporting": 3300,
        "stations_reporting": 4,
        "stations_total": 4,
        "turnout": float(national.turnout or 0),
    }
    assert summary["final"]["turnout"] == round(2250 * 100 / 3300, 2)
    # the bundle's turnout.csv: 10:00 from 1-1, 1-2, 2-1; 12:00 from 1-1 and 2-2
    twelve = by_time(summary)["12:00"]
    assert (twelve["voters"], twelve["registered_reporting"], twelve["stations_reporting"]) == (
        500,
        1300,
        2,
    )
    north = next(c for c in summary["children"] if c["unit"]["code"] == "1")
    assert north["final"]["participants"] == 1200


def test_an_unknown_unit_code_raises(election: Election) -> None:
    with pytest.raises(Unit.DoesNotExist):
        turnout_summary(election, "nope")
