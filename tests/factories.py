"""A small, hand-checkable election bundle for tests (2 constituencies, 4 stations, 3 candidates).

Built as plain files through the bundle writer so that each bad-input test can spoil exactly
one field of a valid bundle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from secki.bundle import (
    CANDIDATE_COLUMNS,
    FORMAT,
    STATION_COLUMNS,
    TURNOUT_COLUMNS,
    UNIT_COLUMNS,
)
from secki.bundle.write import write_election, write_table
from secki.protocol_schema import ProtocolSchema

CANDIDATES = [
    [1, "Candidate A", "Party One"],
    [2, "Candidate B", "Party Two"],
    [3, "Candidate C", ""],
]
UNITS = [
    ["XX", "", "country", "", "Testland", "ocd-division/country:xx"],
    ["1", "XX", "constituency", 1, "North", "ocd-division/country:xx/ed:1"],
    ["2", "XX", "constituency", 2, "South", "ocd-division/country:xx/ed:2"],
]
STATIONS = [
    ["1-1", "1", 1, "Station 1", "School 1", 1000, "40.1", "47.1", 0, 0, 1, ""],
    ["1-2", "1", 2, "Station 2", "", 800, "", "", 0, 1, 0, ""],
    ["2-1", "2", 1, "Station 1", "", 1200, "40.5", "48", 0, 0, 0, ""],
    ["2-2", "2", 2, "Station 2", "Embassy", 300, "", "", 1, 0, 0, ""],
]
TURNOUT = [
    ["1-1", "10:00", 150],
    ["1-1", "12:00", 400],
    ["1-2", "10:00", 90],
    ["2-1", "10:00", 200],
    ["2-2", "12:00", 100],
]


def protocol(
    station: str,
    registered: int,
    issued: int,
    votes: list[int],
    invalid: int,
    mobile: int = 0,
    unused: int = 20,
    spoilt: int = 1,
) -> list[Any]:
    """A protocol row satisfying every hard check of the az-presidential schema."""
    valid = sum(votes)
    in_boxes = valid + invalid
    assert in_boxes <= issued
    l5 = issued - mobile
    return [
        station,
        registered,
        None,
        None,
        None,
        None,
        3,
        issued + unused + spoilt,
        l5,
        mobile,
        2,
        unused,
        unused,
        mobile,
        in_boxes - mobile,
        valid,
        0,
        invalid,
        spoilt,
        "2024-02-07T21:30:00+04:00",
        *votes,
    ]


PROTOCOLS = [
    protocol("1-1", 1000, 700, [500, 120, 60], 10, mobile=15),
    protocol("1-2", 800, 500, [300, 150, 40], 5),
    protocol("2-1", 1200, 900, [450, 400, 30], 12, mobile=20),
    protocol("2-2", 300, 150, [80, 50, 15], 3),
]


def settings(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "slug": "testland-2024",
        "name": "Testland presidential election",
        "kind": "presidential",
        "country": "xx",
        "date": "2024-02-07",
        "timezone": "Asia/Baku",
        "polls_open": "08:00",
        "polls_close": "19:00",
        "turnout_times": ["10:00", "12:00", "15:00", "17:00", "19:00"],
        "win_rule": {
            "rule": "absolute_majority",
            "base": "valid",
            "runoff_size": 2,
            "invalid_station_share": 0.4,
        },
        "simulated": False,
        "protocol": ProtocolSchema.builtin().to_dict(),
    }
    data.update(overrides)
    return data


def write_small_bundle(directory: Path, **overrides: Any) -> Path:
    write_election(directory, settings(**overrides))
    write_table(directory / "units.csv", UNIT_COLUMNS, UNITS)
    write_table(directory / "stations.csv", STATION_COLUMNS, STATIONS)
    write_table(directory / "candidates.csv", CANDIDATE_COLUMNS, CANDIDATES)
    write_table(directory / "turnout.csv", TURNOUT_COLUMNS, TURNOUT)
    columns = ["station", *ProtocolSchema.builtin().columns(len(CANDIDATES))]
    write_table(directory / "protocols.csv", columns, PROTOCOLS)
    return directory


def run_secki(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``secki ARGS`` in a fresh interpreter with ``env`` (output captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "secki.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        check=check,
    )


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a server started in a session of its own: SIGTERM to its process group, SIGKILL
    after 30 s if it is still there."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
