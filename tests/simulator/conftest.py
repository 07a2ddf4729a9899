"""Simulator test fixtures: bundles written once per session and read back with ``csv``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from secki.protocol_schema import ProtocolSchema
from secki.simulator import SimulationConfig, parse_fraud, simulate, write_bundle

FRAUD = "stuffing:fi=0.1,fe=0.02,theta=0.2,alpha=2;integer:share=0.05"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class ReadBack:
    """A bundle directory as the files say (parsed with the csv module only)."""

    path: Path
    election: dict[str, Any]
    units: list[dict[str, str]]
    stations: list[dict[str, str]]
    candidates: list[dict[str, str]]
    turnout: list[dict[str, str]]
    protocols: list[dict[str, str]]
    truth: list[dict[str, str]]

    @property
    def schema(self) -> ProtocolSchema:
        return ProtocolSchema.from_dict(self.election["protocol"])

    def protocol_columns(self) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
        """(line columns, candidate votes, context) for ``ProtocolSchema.failures``: counts as
        floats with NaN for empty cells, L17 as aware datetimes."""
        schema = self.schema
        columns: dict[str, np.ndarray] = {}
        for line in schema.lines:
            cells = [row[line.code] for row in self.protocols]
            if line.kind == "datetime":
                columns[line.code] = np.array(
                    [datetime.fromisoformat(c) for c in cells], dtype=object
                )
            else:
                columns[line.code] = np.array(
                    [float(c) if c != "" else np.nan for c in cells], dtype=np.float64
                )
        n = len(self.candidates)
        votes = np.array(
            [[int(row[f"C{j}"]) for j in range(1, n + 1)] for row in self.protocols],
            dtype=np.int64,
        )
        registered = {row["code"]: int(row["registered"]) for row in self.stations}
        context = {
            "REGISTERED": np.array([registered[row["station"]] for row in self.protocols]),
            "POLLS_CLOSE": datetime.fromisoformat(
                f"{self.election['date']}T{self.election['polls_close']}:00+04:00"
            ),
        }
        return columns, votes, context

    def protocol_by_station(self) -> dict[str, dict[str, str]]:
        return {row["station"]: row for row in self.protocols}


def read_back(path: Path) -> ReadBack:
    return ReadBack(
        path=path,
        election=json.loads((path / "election.json").read_text(encoding="utf-8")),
        units=read_csv(path / "units.csv"),
        stations=read_csv(path / "stations.csv"),
        candidates=read_csv(path / "candidates.csv"),
        turnout=read_csv(path / "turnout.csv"),
        protocols=read_csv(path / "protocols.csv"),
        truth=read_csv(path / "truth.csv"),
    )


Writer = Callable[..., Path]


@pytest.fixture(scope="session")
def write_sim(tmp_path_factory: pytest.TempPathFactory) -> Writer:
    """Simulate with the given config fields and write the bundle to a fresh directory."""

    def write(fraud: str | None = None, **fields: Any) -> Path:
        if fraud is not None:
            fields["fraud"] = parse_fraud(fraud)
        out = tmp_path_factory.mktemp("bundle")
        write_bundle(simulate(SimulationConfig(**fields)), out)
        return out

    return write


@pytest.fixture(scope="session")
def default_dir(write_sim: Writer) -> Path:
    return write_sim()


@pytest.fixture(scope="session")
def default_bundle(default_dir: Path) -> ReadBack:
    return read_back(default_dir)


@pytest.fixture(scope="session")
def fraud_dir(write_sim: Writer) -> Path:
    return write_sim(fraud=FRAUD)


@pytest.fixture(scope="session")
def fraud_bundle(fraud_dir: Path) -> ReadBack:
    return read_back(fraud_dir)


@pytest.fixture(scope="session")
def reader() -> Callable[[Path], ReadBack]:
    return read_back
