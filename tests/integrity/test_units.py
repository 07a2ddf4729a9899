"""The integrity app's own pieces without the database: degenerate data, the SVG heat map,
collapsing PVT strata while counts come in, ρ from a stated design effect, natural order."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from secki.integrity.analysis import (
    AnalysisConfig,
    Snapshot,
    analyse,
    analysis_json,
    fingerprint_cells,
)
from secki.integrity.pvt import COLLAPSED, allocate, estimation_strata, rho_of
from secki.integrity.station_arrays import CandidateInfo, StationData, natural_key
from secki.integrity.svg import colour, fingerprint_svg
from secki.stats import design_effect, fingerprint, pvt_estimate

ROLES = {"registered": "L1", "participants": "L5", "cast": "L12", "valid": "L14", "invalid": "L9"}


def data(registered: list[int], given: list[int], votes: list[list[int]]) -> StationData:
    n = len(registered)
    v = np.array(votes, dtype=np.int64).reshape(n, 2)
    return StationData(
        election_id=1,
        slug="unit",
        public=False,
        head=1,
        loaded_at=dt.datetime(2024, 2, 7, tzinfo=dt.UTC),
        codes=[f"1-{i + 1}" for i in range(n)],
        names=["station"] * n,
        groups=np.array(["1"] * n),
        registered=np.array(registered, dtype=np.int64),
        participants=np.array(given, dtype=np.int64),
        cast=v.sum(axis=1),
        valid=v.sum(axis=1),
        invalid=np.zeros(n, dtype=np.int64),
        votes=v,
        candidates=[CandidateInfo(1, "A", ""), CandidateInfo(2, "B", "")],
        roles=ROLES,
        stations_total=n,
    )


CONFIG = AnalysisConfig(replicates=20, fit_bootstrap=1, digit_bootstrap=20)


@pytest.mark.parametrize(
    ("registered", "given", "votes"),
    [
        ([50, 60], [20, 30], [[10, 10], [20, 10]]),  # every station below 100 voters
        ([0, 0], [0, 0], [[0, 0], [0, 0]]),  # nothing at all
        ([1000, 800], [999, 800], [[999, 0], [800, 0]]),  # everything above 99 %
    ],
)
def test_no_station_fit_for_the_integer_test_is_said_not_crashed(
    registered: list[int], given: list[int], votes: list[list[int]]
) -> None:
    a = analyse(data(registered, given, votes), CONFIG)
    assert a.integer is None and "inclusion rules" in (a.integer_error or "")
    assert not a.integer_flagged
    body = analysis_json(Snapshot(a, 1, computing=False))
    assert body["integer_test"] == {"error": a.integer_error}
    assert body["klimek_fit"]["error"].startswith("need at least 50 stations")


def test_analysis_of_two_ordinary_stations() -> None:
    a = analyse(data([1000, 1200], [600, 700], [[400, 190], [500, 190]]), CONFIG)
    assert a.integer is not None and a.integer.included == 2
    assert a.risk is not None and a.risk.scores.shape == (2,)
    body = analysis_json(Snapshot(a, 5, computing=True))
    assert body["stale"] is True and body["computing"] is True and body["status"] == "ready"
    assert body["leader"] == {"number": 1, "name": "A", "party": ""}


def test_fingerprint_svg_draws_each_occupied_cell_once() -> None:
    rng = np.random.default_rng(3)
    voters = rng.integers(500, 1500, 400)
    given = (voters * rng.uniform(0.5, 0.9, 400)).astype(int)
    leader = (given * rng.uniform(0.3, 0.8, 400)).astype(int)
    fp = fingerprint(voters, given, leader)
    svg = fingerprint_svg(fp, bins=50)
    coarse = fp.counts.reshape(50, 2, 50, 2).sum(axis=(1, 3))
    cells = re.findall(r'<rect x="\d+" y="\d+" width="6" height="6" fill="(#[0-9a-f]{6})"/>', svg)
    assert len(cells) == int(np.count_nonzero(coarse))
    assert colour(coarse.max() / coarse.max()) in cells  # the densest cell is yellow
    assert colour(1.0) == "#fde725" and colour(0.0) == "#440154"
    assert sum(c[2] for c in fingerprint_cells(fp)) == fp.stations == 400
    assert "<script" not in svg and svg.startswith("<svg") and svg.endswith("</svg>")


def test_strata_with_fewer_than_two_reports_are_collapsed() -> None:
    frame = {"A": 10, "B": 10, "C": 5, "D": 3}
    labels = ["A", "A", "A", "B", "B", "C", "D"]
    out, sizes, notes = estimation_strata(labels, frame)
    assert out == ["A", "A", "A", "B", "B", COLLAPSED, COLLAPSED]
    assert sizes == {"A": 10, "B": 10, COLLAPSED: 8} and len(notes) == 1
    # a pool of one reported station joins the largest stratum (ties: the later name)
    out, sizes, notes = estimation_strata(["A", "A", "B", "B", "C"], frame)
    assert out == ["A", "A", "B", "B", "B"] and sizes == {"A": 10, "B": 18}
    assert "estimated with constituency B" in notes[0]
    # a stratum nobody reported from still counts in the frame
    out, sizes, _ = estimation_strata(["A", "A", "B", "B", "C", "C"], frame)
    assert sizes == {"A": 10, "B": 13, "C": 5} and out == ["A", "A", "B", "B", "C", "C"]
    # every stratum complete: nothing changes, and the estimate is secki.stats' own
    done = ["A", "A", "B", "B", "C", "C", "D", "D"]
    assert estimation_strata(done, frame) == (done, frame, [])
    x = [400, 350, 500, 420, 380, 450, 300, 310]
    y = {"k": [240, 200, 310, 250, 215, 270, 100, 140]}
    assert pvt_estimate(x, y, stratum_sizes=frame, strata=done).estimates["k"].estimate == (
        pytest.approx(
            sum(w * v for w, v in zip([5, 5, 5, 5, 2.5, 2.5, 1.5, 1.5], y["k"], strict=True))
            / sum(w * v for w, v in zip([5, 5, 5, 5, 2.5, 2.5, 1.5, 1.5], x, strict=True))
        )
    )
    with pytest.raises(ValueError, match="at least two"):
        estimation_strata(["A"], frame)


def test_allocation_keeps_two_per_constituency() -> None:
    sizes = {"1": 100, "2": 50, "3": 3, "4": 1}
    alloc = allocate(sizes, 20)
    assert alloc == {"1": 13, "2": 7, "3": 2, "4": 1}  # the floor of two adds stations


def test_rho_from_a_stated_design_effect() -> None:
    poll: Any = SimpleNamespace(rho=None, design_effect=1.95, respondents=2000, stations=100)
    assert rho_of(poll) == pytest.approx(0.05)
    assert design_effect(20, rho_of(poll)) == pytest.approx(1.95)
    poll.respondents = 100  # one interview per station: no clustering to correct
    assert rho_of(poll) == 0.0


def test_natural_order_of_codes() -> None:
    codes = ["10", "2", "1-10", "1-2", "B", "1"]
    assert sorted(codes, key=natural_key) == ["1", "1-2", "1-10", "2", "10", "B"]
