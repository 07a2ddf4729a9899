"""The default simulation (7 Feb 2024 Azerbaijani presidential election) as written to disk."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from secki.bundle import (
    CANDIDATE_COLUMNS,
    FORMAT,
    STATION_COLUMNS,
    TRUTH_COLUMNS,
    TURNOUT_COLUMNS,
    UNIT_COLUMNS,
    translated,
)
from secki.protocol_schema import ProtocolSchema

REGISTERED_2024 = 6_478_623
SHARES_2024 = [92.12, 2.17, 1.99, 1.72, 0.80, 0.66, 0.54]


def header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")


def test_files_and_headers(default_dir):
    # the optional columns of the translated names, filled for every row
    names = translated("name")
    assert header(default_dir / "units.csv") == [*UNIT_COLUMNS, *names]
    assert header(default_dir / "stations.csv") == [*STATION_COLUMNS, *names]
    assert header(default_dir / "candidates.csv") == [
        *CANDIDATE_COLUMNS,
        *names,
        *translated("party"),
    ]
    assert header(default_dir / "turnout.csv") == TURNOUT_COLUMNS
    assert header(default_dir / "truth.csv") == TRUTH_COLUMNS
    schema = ProtocolSchema.builtin()
    assert header(default_dir / "protocols.csv") == ["station", *schema.columns(7)]
    # no fraud: truth.csv is the header only
    assert (default_dir / "truth.csv").read_text(encoding="utf-8") == ",".join(TRUTH_COLUMNS) + "\n"
    for path in default_dir.iterdir():
        data = path.read_bytes()
        assert b"\r" not in data and not data.startswith(b"\xef\xbb\xbf"), path.name


def test_election_settings(default_bundle):
    e = default_bundle.election
    assert e["format"] == FORMAT
    assert e["slug"] == "az-2024-simulated"
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", e["slug"])
    assert e["simulated"] is True
    assert "(simulated)" in e["name"]
    assert (e["kind"], e["country"], e["date"], e["timezone"]) == (
        "presidential",
        "az",
        "2024-02-07",
        "Asia/Baku",
    )
    assert (e["polls_open"], e["polls_close"]) == ("08:00", "19:00")
    assert e["turnout_times"] == ["10:00", "12:00", "15:00", "17:00", "19:00"]
    assert e["win_rule"] == {
        "rule": "absolute_majority",
        "base": "valid",
        "runoff_size": 2,
        "invalid_station_share": 0.4,
    }
    assert e["protocol"] == ProtocolSchema.builtin().to_dict()


def test_territory(default_bundle):
    units = default_bundle.units
    assert units[0] == {
        "code": "AZ",
        "parent": "",
        "kind": "country",
        "number": "",
        "name": units[0]["name"],
        "ocd_id": "ocd-division/country:az",
        "name_az": "Azərbaycan Respublikası",
        "name_ru": "Азербайджанская Республика",
    }
    seen = set()
    for row in units:  # parents come before their children
        assert row["parent"] == "" or row["parent"] in seen
        seen.add(row["code"])
    assert len(seen) == len(units)
    constituencies = [u for u in units if u["kind"] == "constituency"]
    assert [int(u["number"]) for u in constituencies] == list(range(1, 126))
    assert all(u["code"] == u["number"] for u in constituencies)
    assert all(u["ocd_id"] == f"ocd-division/country:az/ed:{u['number']}" for u in constituencies)
    (nax,) = (u for u in units if u["code"] == "NAX")
    assert (nax["kind"], nax["parent"]) == ("region", "AZ")
    assert sum(u["parent"] == "NAX" for u in constituencies) == 6
    assert sum(u["parent"] == "AZ" for u in constituencies) == 119


def test_stations(default_bundle):
    stations = default_bundle.stations
    assert len(stations) == 6537
    constituencies = {u["code"] for u in default_bundle.units if u["kind"] == "constituency"}
    numbers: dict[str, list[int]] = defaultdict(list)
    for s in stations:
        assert s["unit"] in constituencies
        numbers[s["unit"]].append(int(s["number"]))
        assert s["code"] == f"{s['unit']}-{s['number']}"
        assert s["ocd_id"] == (
            f"ocd-division/country:az/ed:{s['unit']}/polling_station:{s['number']}"
        )
        assert s["name"].startswith(f"Polling station No. {s['number']}")
        assert {s["abroad"], s["temporary"], s["webcam"]} <= {"0", "1"}
    assert set(numbers) == constituencies  # every constituency has stations
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in numbers.values())
    assert len({s["code"] for s in stations}) == 6537

    registered = np.array([int(s["registered"]) for s in stations])
    assert abs(registered.sum() - REGISTERED_2024) <= 0.001 * REGISTERED_2024
    assert registered.min() >= 10 and registered.max() <= 2500
    assert np.median(registered) < registered.mean()  # skewed: many small rural stations
    abroad = [s for s in stations if s["abroad"] == "1"]
    assert 40 <= len(abroad) <= 60
    baku = {u["code"] for u in default_bundle.units if u["parent"] == "AZ"}
    assert all(s["unit"] in baku for s in abroad)
    assert all(s["latitude"] == s["longitude"] == "" for s in abroad)
    assert 190 <= sum(s["temporary"] == "1" for s in stations) <= 250
    assert 900 <= sum(s["webcam"] == "1" for s in stations) <= 1100
    home = [s for s in stations if s["abroad"] == "0"]
    lat = np.array([float(s["latitude"]) for s in home])
    lon = np.array([float(s["longitude"]) for s in home])
    assert lat.min() >= 38.4 and lat.max() <= 41.9
    assert lon.min() >= 44.8 and lon.max() <= 50.4
    # clustered: stations lie much closer to their constituency's centre than to the country's
    units = np.array([int(s["unit"]) for s in home])
    spread = np.mean([lat[units == u].std() + lon[units == u].std() for u in np.unique(units)])
    assert spread < 0.5 * (lat.std() + lon.std())
    nax = [s for s in home if int(s["unit"]) <= 6]
    assert all(float(s["longitude"]) < 46.3 for s in nax)  # Nakhchivan lies west of Armenia


def test_candidates(default_bundle):
    candidates = default_bundle.candidates
    assert [c["number"] for c in candidates] == [str(i) for i in range(1, 8)]
    assert [c["name"] for c in candidates] == [f"Candidate {x}" for x in "ABCDEFG"]
    assert all(c["party"] for c in candidates)


def test_every_protocol_passes_every_hard_station_check(default_bundle):
    schema = default_bundle.schema
    columns, votes, context = default_bundle.protocol_columns()
    failures = schema.failures(columns, votes, context)
    hard = {c.code for c in schema.station_checks() if c.severity == "hard"}
    assert hard >= {"AZ-2", "AZ-3", "AZ-4", "AZ-5", "AZ-6", "AZ-7"}
    for code, failed in failures.items():
        assert not failed.any(), f"{code} fails in {int(failed.sum())} protocols"
    # and the soft station check (L17 after poll close) holds too
    assert "AZ-9" in failures


def test_protocol_fields(default_bundle):
    schema = default_bundle.schema
    registered = {s["code"]: s["registered"] for s in default_bundle.stations}
    assert [p["station"] for p in default_bundle.protocols] == list(registered)
    digits = re.compile(r"[0-9]+")
    stamp = re.compile(r"2024-02-0[78]T[0-9]{2}:[0-9]{2}:00\+04:00")
    for row in default_bundle.protocols:
        assert row["L1"] == registered[row["station"]]
        for line in schema.lines:
            value = row[line.code]
            if line.code in ("L1a", "L1b", "L1c", "L1d"):
                assert value == ""
            elif line.kind == "datetime":
                assert stamp.fullmatch(value), value
            else:
                assert digits.fullmatch(value), (line.code, value)
        assert int(row["L7"]) <= int(row["L2"])


def test_protocol_plausibility(default_bundle):
    columns, votes, _ = default_bundle.protocol_columns()
    c = {k: v for k, v in columns.items() if v.dtype == np.float64}
    registered = c["L1"].sum()
    issued = (c["L5"] + c["L6"]).sum()
    assert abs(100 * issued / registered - 76.43) < 0.5
    shares = 100 * votes.sum(axis=0) / c["L14"].sum()
    assert np.allclose(shares, SHARES_2024, atol=0.25), shares
    invalid = (c["L15a"] + c["L15b"]).sum() / (c["L12"] + c["L13"]).sum()
    assert 0.01 <= invalid <= 0.02
    assert (c["L6"] / np.maximum(c["L5"] + c["L6"], 1)).mean() < 0.05  # small mobile boxes
    assert (c["L3"] > c["L5"] + c["L6"]).all()  # print run above the ballots issued
    assert c["L3"].sum() <= 1.03 * registered  # AZ-11 print-run cap
    assert c["L16"].mean() < 5
    assert (c["L9"] == c["L8"] + c["L16"]).all()
    completed = columns["L17"]
    assert min(completed).hour >= 19 or min(completed).day == 8


def test_turnout_reports(default_bundle):
    times = default_bundle.election["turnout_times"]
    registered = {s["code"]: int(s["registered"]) for s in default_bundle.stations}
    protocols = default_bundle.protocol_by_station()
    curves: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in default_bundle.turnout:
        curves[row["station"]].append((times.index(row["time"]), int(row["voters"])))
    assert set(curves) == set(registered)
    reporting = [0] * len(times)
    voters = [0] * len(times)
    base = [0] * len(times)
    for station, curve in curves.items():
        slots = [slot for slot, _ in curve]
        assert slots == sorted(set(slots))  # one row per time, in order
        values = [v for _, v in curve]
        assert values == sorted(values), station  # monotone non-decreasing
        assert values[-1] <= registered[station]
        p = protocols[station]
        if slots[-1] == len(times) - 1:
            assert values[-1] <= int(p["L5"]) + int(p["L6"])
        for slot, v in curve:
            reporting[slot] += 1
            voters[slot] += v
            base[slot] += registered[station]
    n = len(registered)
    assert reporting[-1] >= 0.99 * n
    assert 0.95 * n <= reporting[0] < n  # a few stations miss the early reports
    share = [100 * v / b for v, b in zip(voters, base, strict=True)]
    assert abs(share[0] - 19.4) < 2
    assert abs(share[2] - 60.5) < 3
    assert share == sorted(share)
    assert share[-1] <= 76.43 + 0.5


def test_reader_accepts_the_bundle(default_dir, fraud_dir):
    read = pytest.importorskip("secki.bundle.read")
    for path in (default_dir, fraud_dir):
        bundle = read.read_bundle(path)
        assert len(bundle.stations) == 6537
        assert len(bundle.protocols) == 6537


def test_same_seed_same_bytes_other_seed_other_bytes(default_dir, write_sim):
    again = write_sim()
    names = sorted(p.name for p in default_dir.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert len(names) == 7
    for name in names:
        assert (default_dir / name).read_bytes() == (again / name).read_bytes(), name
    other = write_sim(seed=7)
    for name in ("stations.csv", "turnout.csv", "protocols.csv"):
        assert (default_dir / name).read_bytes() != (other / name).read_bytes(), name


def test_names_in_azerbaijani_and_russian(default_dir, default_bundle):
    """Every unit, station and candidate has its name in Azerbaijani (Latin script) and
    Russian (Cyrillic); the election too."""
    import csv

    cyrillic = re.compile(r"[А-Яа-яЁё]")
    for name in ("units.csv", "stations.csv", "candidates.csv"):
        with (default_dir / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, name
        for row in rows:
            assert row["name_az"] and not cyrillic.search(row["name_az"]), (name, row)
            assert cyrillic.search(row["name_ru"]), (name, row)
            assert row["name_az"] != row["name"], (name, row)
    with (default_dir / "candidates.csv").open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert (first["name"], first["name_az"], first["name_ru"]) == (
        "Candidate A",
        "Namizəd A",
        "Кандидат A",
    )
    assert first["party_az"] == "Milli Birlik Partiyası"
    assert first["party_ru"] == "Партия национального единства"
    e = default_bundle.election
    assert e["name_az"] == "Prezident seçkisi 2024 (simulyasiya)"
    assert cyrillic.search(e["name_ru"])
    with (default_dir / "units.csv").open(encoding="utf-8", newline="") as handle:
        units = {r["code"]: r for r in csv.DictReader(handle)}
    assert units["1"]["name_az"] == "1 saylı seçki dairəsi"
    assert units["1"]["name_ru"] == "Избирательный округ № 1"
