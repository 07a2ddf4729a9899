"""A register larger than the reader's chunks: the stations are kept out of memory between
validating and storing (``secki.bundle.read.Spool``), yet stored exactly as the file says; a
bad row in the middle of the big file is refused naming its line and field, nothing stored."""

from __future__ import annotations

import csv
import filecmp
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from secki.bundle.read import read_bundle
from secki.cli import cli
from secki.elections.models import Candidate, Election, Station, Unit
from secki.intake.bundle_io import export_bundle
from secki.ledger.chain import verify
from secki.protocols.models import Protocol
from secki.simulator import SimulationConfig, simulate, write_bundle
from secki.turnout.models import TurnoutReport
from tests.logcheck import check_log

pytestmark = pytest.mark.django_db

STATIONS = 1_250
CHUNK = 100  # the spool's chunk in these tests: the stations span 13 chunks
FILES = ["election.json", "units.csv", "stations.csv", "candidates.csv"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("simulated")
    write_bundle(simulate(SimulationConfig(seed=20, stations=STATIONS)), source)
    return source


@pytest.fixture
def big(simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("secki.bundle.read.SPOOL_CHUNK", CHUNK)
    return Path(shutil.copytree(simulated, tmp_path / "in"))


def counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count() for m in (Election, Unit, Station, Candidate, TurnoutReport, Protocol)
    )


def test_spool_gives_back_every_station_in_order_again_and_again(big: Path) -> None:
    bundle = read_bundle(big)
    with (big / "stations.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(bundle.stations) == STATIONS
    for _ in range(2):
        got = list(bundle.stations)
        assert [s.code for s in got] == [r["code"] for r in rows]
        assert [s.registered for s in got] == [int(r["registered"]) for r in rows]
        assert ["" if s.latitude is None else str(s.latitude) for s in got] == [
            r["latitude"] for r in rows
        ]


def test_a_register_of_many_chunks_round_trips_and_verifies(big: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", str(big), "--no-migrate"])
    assert result.exit_code == 0, result.output
    assert f"{STATIONS:,} stations" in result.output
    election = Election.objects.get()
    assert election.stations.count() == STATIONS
    assert TurnoutReport.objects.filter(election=election).exists()
    assert Protocol.objects.filter(election=election).count() == STATIONS
    export_bundle(election, tmp_path / "out")
    for name in [*FILES, "turnout.csv", "protocols.csv"]:
        assert filecmp.cmp(big / name, tmp_path / "out" / name, shallow=False), name
    check_log(election)
    assert verify().ok


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("registered", "many", "column registered"),
        ("latitude", "91", "column latitude"),
        ("unit", "nowhere", "unit 'nowhere' does not exist in units.csv"),
    ],
)
def test_a_bad_row_in_the_middle_of_a_big_file_stores_nothing(
    big: Path, column: str, value: str, message: str
) -> None:
    path = big / "stations.csv"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    middle = len(rows) // 2 + 7  # beyond the first chunks already spooled
    rows[middle][column] = value
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    before = counts()
    result = CliRunner().invoke(cli, ["import", str(big), "--no-migrate"])
    assert result.exit_code == 2, result.output
    assert "Nothing was imported" in result.output
    assert f"stations.csv line {middle + 2}" in result.output
    assert message in result.output
    assert counts() == before
