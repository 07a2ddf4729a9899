"""``secki simulate`` through click's test runner, and the API at other sizes."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from secki.cli import cli
from secki.simulator import SimulationConfig, parse_fraud, simulate, write_bundle


def hard_failures(election) -> dict[str, int]:
    p = election.protocols
    failures = election.schema.failures(
        dict(p.lines), p.votes, {"REGISTERED": election.territory.registered}
    )
    hard = {c.code for c in election.schema.station_checks() if c.severity == "hard"}
    return {code: int(f.sum()) for code, f in failures.items() if code in hard and f.any()}


def test_cli_writes_a_bundle(tmp_path, reader):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--out",
            str(out),
            "--seed",
            "3",
            "--stations",
            "800",
            "--constituencies",
            "20",
            "--candidates",
            "4",
            "--fraud",
            "stuffing:fi=0.2,fe=0.05",
            "--fraud",
            "integer:share=0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Wrote a simulated election" in result.output
    assert "800 stations in 20 constituencies" in result.output
    assert "integer rewrites" in result.output
    bundle = reader(out)
    assert len(bundle.stations) == 800
    assert sum(u["kind"] == "constituency" for u in bundle.units) == 20
    assert [c["name"] for c in bundle.candidates] == [f"Candidate {x}" for x in "ABCD"]
    assert len(bundle.truth) > 100
    assert sum(r["integer_rewrite"] == "1" for r in bundle.truth) == 40
    columns, votes, context = bundle.protocol_columns()
    for code, failed in bundle.schema.failures(columns, votes, context).items():
        assert not failed.any(), code

    # the same command again: the same bytes
    again = tmp_path / "again"
    args = [
        "simulate",
        "--out",
        str(again),
        "--seed",
        "3",
        "--stations",
        "800",
        "--constituencies",
        "20",
        "--candidates",
        "4",
        "-q",
        "--fraud",
        "stuffing:fi=0.2,fe=0.05;integer:share=0.05",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    for path in out.iterdir():
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name


def test_cli_default_matches_the_api(tmp_path, default_dir):
    result = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "6,537 stations in 125 constituencies (6 in NAX)" in result.output
    assert "no fraud injected" in result.output
    for path in default_dir.iterdir():
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name


def test_cli_help_documents_the_fraud_syntax():
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in (
        "--out",
        "--seed",
        "--stations",
        "--constituencies",
        "--candidates",
        "--fraud",
        "stuffing",
        "fi=",
        "fe=",
        "theta=",
        "alpha=",
        "integer",
        "share=",
    ):
        assert word in text, word


@pytest.mark.parametrize(
    "args",
    [
        ["--fraud", "bogus"],
        ["--fraud", "stuffing:fi=lots"],
        ["--stations", "0"],
        ["--stations", "10", "--constituencies", "20"],
        ["--candidates", "1"],
    ],
)
def test_cli_rejects_bad_options(tmp_path, args):
    result = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    ("stations", "constituencies", "candidates"),
    [(1, None, 2), (10, None, 3), (57, None, 7), (500, 3, 12), (3000, 200, 7)],
)
def test_other_sizes(tmp_path, reader, stations, constituencies, candidates):
    config = SimulationConfig(
        seed=stations, stations=stations, constituencies=constituencies, candidates=candidates
    )
    election = simulate(config)
    assert election.n_stations == stations
    assert election.territory.n_constituencies == config.n_constituencies
    assert int(election.territory.registered.sum()) == config.n_registered
    assert not hard_failures(election)
    write_bundle(election, tmp_path)
    bundle = reader(tmp_path)
    assert len(bundle.stations) == stations
    assert len(bundle.candidates) == candidates
    units = {u["code"] for u in bundle.units}
    assert {s["unit"] for s in bundle.stations} <= units


def test_large_run(tmp_path):
    """India-sized scaling, checked at 100,000 stations (a few seconds)."""
    config = SimulationConfig(stations=100_000, fraud=parse_fraud("stuffing;integer"))
    election = simulate(config)
    t = election.territory
    assert t.n_stations == 100_000
    assert t.n_constituencies == 125
    assert int(t.registered.sum()) == round(6_478_623 * 100_000 / 6_537)
    assert t.registered.min() >= 10 and t.registered.max() <= 2500
    assert not hard_failures(election)
    assert election.truth.touched.sum() > 10_000
    turnout = election.turnout
    reported = turnout >= 0
    running_max = np.maximum.accumulate(np.where(reported, turnout, -1), axis=1)
    assert (running_max[reported] == turnout[reported]).all()  # monotone where reported
    assert (turnout <= t.registered[:, None]).all()
    assert (turnout[:, -1] <= election.protocols.issued).all()
    counts = write_bundle(election, tmp_path)
    assert counts["stations.csv"] == counts["protocols.csv"] == 100_000
    assert counts["turnout.csv"] == int(reported.sum())
    assert sum(1 for _ in (tmp_path / "protocols.csv").open(encoding="utf-8")) == 100_001
    assert SimulationConfig(stations=1_000_000).n_constituencies == 500


@pytest.mark.parametrize("per_station", [10, 11, 300, 2000])
def test_register_total_is_exact(per_station):
    config = SimulationConfig(stations=500, registered=500 * per_station, seed=per_station)
    registered = simulate(config).territory.registered
    assert int(registered.sum()) == 500 * per_station
    assert registered.min() >= 10 and registered.max() <= 2500
