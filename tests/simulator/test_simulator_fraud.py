"""Fraud injection: truth.csv lists exactly the touched stations; protocols stay valid."""

from __future__ import annotations

import numpy as np
import pytest

from secki.simulator import (
    FraudSpec,
    FraudSpecError,
    IntegerSpec,
    SimulationConfig,
    StuffingSpec,
    parse_fraud,
    simulate,
)


def is_integer_percent(p: np.ndarray) -> np.ndarray:
    return np.abs(p - np.round(p)) <= 0.05


def hard_failures(election) -> dict[str, int]:
    """Hard station checks on the API's arrays."""
    p = election.protocols
    columns = dict(p.lines)
    context = {"REGISTERED": election.territory.registered}
    failures = election.schema.failures(columns, p.votes, context)
    hard = {c.code for c in election.schema.station_checks() if c.severity == "hard"}
    return {code: int(f.sum()) for code, f in failures.items() if code in hard and f.any()}


def test_truth_lists_exactly_the_stations_that_differ_from_the_clean_run(
    default_bundle, fraud_bundle
):
    clean = default_bundle.protocol_by_station()
    stuffed = fraud_bundle.protocol_by_station()
    differ = {code for code, row in stuffed.items() if row != clean[code]}
    truth = {row["station"] for row in fraud_bundle.truth}
    assert differ == truth
    assert len(truth) > 300
    # the rest of the bundle is the clean election
    for name in ("units.csv", "stations.csv", "candidates.csv", "turnout.csv"):
        a = (default_bundle.path / name).read_bytes()
        b = (fraud_bundle.path / name).read_bytes()
        assert a == b, name
    order = [row["station"] for row in fraud_bundle.truth]
    station_order = [s["code"] for s in fraud_bundle.stations]
    assert order == [code for code in station_order if code in truth]


def test_fraud_protocols_pass_every_hard_station_check(fraud_bundle):
    schema = fraud_bundle.schema
    columns, votes, context = fraud_bundle.protocol_columns()
    for code, failed in schema.failures(columns, votes, context).items():
        assert not failed.any(), f"{code} fails in {int(failed.sum())} protocols"


def test_truth_rows(default_bundle, fraud_bundle):
    clean = default_bundle.protocol_by_station()
    stuffed = fraud_bundle.protocol_by_station()
    kinds = {"incremental": 0, "extreme": 0, "": 0}
    for row in fraud_bundle.truth:
        kinds[row["stuffing"]] += 1
        assert row["integer_rewrite"] in ("0", "1")
        assert row["stuffing"] or row["integer_rewrite"] == "1"
        if row["stuffing"]:
            x = float(row["stuffing_x"])
            assert 0 < x <= 1
            if row["stuffing"] == "extreme":
                assert x > 0.6
        else:
            assert row["stuffing_x"] == ""
        before, after = clean[row["station"]], stuffed[row["station"]]
        for p, turnout, leader in (
            (before, "turnout_before", "leader_share_before"),
            (after, "turnout_after", "leader_share_after"),
        ):
            given = int(p["L5"]) + int(p["L6"])
            received = int(p["L12"]) + int(p["L13"])
            assert float(row[turnout]) == pytest.approx(given / int(p["L1"]), abs=1e-6)
            assert float(row[leader]) == pytest.approx(int(p["C1"]) / received, abs=1e-6)
        assert float(row["turnout_after"]) >= float(row["turnout_before"])
        assert float(row["leader_share_after"]) >= float(row["leader_share_before"])
        # votes only ever move to the leader
        assert int(after["C1"]) > int(before["C1"])
        for j in range(2, 8):
            assert int(after[f"C{j}"]) <= int(before[f"C{j}"])
    n = len(fraud_bundle.stations)
    assert 0.06 * n < kinds["incremental"] < 0.14 * n  # fi = 0.1
    assert 0.01 * n < kinds["extreme"] < 0.03 * n  # fe = 0.02


def test_integer_rewrites_are_integer_percentages(fraud_bundle):
    rewritten = {row["station"] for row in fraud_bundle.truth if row["integer_rewrite"] == "1"}
    n = len(fraud_bundle.stations)
    assert len(rewritten) == round(0.05 * n)
    for code, p in fraud_bundle.protocol_by_station().items():
        if code not in rewritten:
            continue
        voters = int(p["L1"])
        given = int(p["L5"]) + int(p["L6"])
        received = int(p["L12"]) + int(p["L13"])
        leader = int(p["C1"])
        # statistics.md §1: included, and both percentages integer
        assert received > 0 and voters >= 100
        assert given / voters <= 0.99 and leader / received <= 0.99
        p1 = np.array([100 * leader / received])
        p2 = np.array([100 * given / voters])
        assert is_integer_percent(p1).all(), (code, p1)
        assert is_integer_percent(p2).all(), (code, p2)


def test_stuffing_shows_as_a_late_jump(default_bundle, fraud_bundle):
    stuffed = {row["station"] for row in fraud_bundle.truth if row["stuffing"]}
    clean = default_bundle.protocol_by_station()
    after = fraud_bundle.protocol_by_station()
    at_close = {
        r["station"]: int(r["voters"]) for r in fraud_bundle.turnout if r["time"] == "19:00"
    }
    jumps = []
    for code in stuffed:
        issued_before = int(clean[code]["L5"]) + int(clean[code]["L6"])
        issued_after = int(after[code]["L5"]) + int(after[code]["L6"])
        assert at_close[code] <= issued_before <= issued_after
        jumps.append((issued_after - at_close[code]) / int(after[code]["L1"]))
    assert np.median(jumps) > 0.01


@pytest.mark.parametrize("what", ["leader", "turnout", "both"])
def test_integer_modes(what):
    config = SimulationConfig(
        stations=3000, seed=11, fraud=FraudSpec(integer=IntegerSpec(share=0.1, what=what))
    )
    election = simulate(config)
    clean = simulate(SimulationConfig(stations=3000, seed=11))
    assert not hard_failures(election)
    touched = election.truth.touched
    assert touched.sum() == 300
    assert (election.protocols.differs(clean.protocols) == touched).all()
    p = election.protocols
    p1 = 100 * p.votes[touched, 0] / p.in_boxes[touched]
    p2 = 100 * p.issued[touched] / p["L1"][touched]
    if what in ("leader", "both"):
        assert is_integer_percent(p1).all()
    if what in ("turnout", "both"):
        assert is_integer_percent(p2).all()
    if what == "leader":
        assert (p.issued == clean.protocols.issued).all()

    # the integer signal is visible: far more integer stations than in the clean run
    def count(e):
        q = e.protocols
        return int(
            (
                is_integer_percent(100 * q.votes[:, 0] / q.in_boxes)
                | is_integer_percent(100 * q.issued / q["L1"])
            ).sum()
        )

    assert count(election) > count(clean) + 200


def test_heavy_stuffing_keeps_protocols_valid():
    spec = FraudSpec(stuffing=StuffingSpec(fi=0.6, fe=0.3, theta=0.4, alpha=1.5))
    election = simulate(SimulationConfig(stations=4000, seed=5, fraud=spec))
    assert not hard_failures(election)
    assert election.truth.touched.sum() > 3000
    assert (election.turnout[:, -1] <= election.protocols.issued).all()
    # extreme fraud pushes stations to the (100 %, 100 %) corner
    extreme = election.truth.stuffing == 2
    assert np.median(election.turnout_share()[extreme]) > 0.95
    assert np.median(election.leader_share()[extreme]) > 0.95


def test_stuffing_follows_the_klimek_formulas():
    spec = StuffingSpec(fi=0.5, fe=0.1, theta=0.3, alpha=2.0)
    election = simulate(SimulationConfig(stations=2000, seed=3, fraud=FraudSpec(stuffing=spec)))
    clean = simulate(SimulationConfig(stations=2000, seed=3))
    truth = election.truth
    sel = truth.stuffing > 0
    x = truth.x[sel]
    n = clean.protocols["L1"][sel]
    given = clean.protocols.issued[sel]
    # reported ballots T = N·[τ + x(1 − τ)], rounded up to whole ballots
    expected = given + np.ceil(x * (n - given))
    assert (np.abs(election.protocols.issued[sel] - expected) <= 1).all()
    # leader W = N·[τν + x(1 − τ) + x^α(1 − ν)τ]: stuffed ballots plus x^α of the others
    others = clean.protocols.votes[sel, 1:]
    stolen = np.floor(others * (x**2)[:, None]).sum(axis=1)
    added = election.protocols.issued[sel] - given
    assert (
        election.protocols.votes[sel, 0] == clean.protocols.votes[sel, 0] + added + stolen
    ).all()


def test_parse_fraud():
    spec = parse_fraud("stuffing:fi=0.1,fe=0.02,theta=0.2,alpha=2;integer:share=0.05")
    assert spec.stuffing == StuffingSpec(fi=0.1, fe=0.02, theta=0.2, alpha=2.0)
    assert spec.integer == IntegerSpec(share=0.05, what="both")
    assert parse_fraud("stuffing:fi=0.1,fe=0.02,integer:share=0.05,what=leader") == FraudSpec(
        StuffingSpec(fi=0.1, fe=0.02), IntegerSpec(share=0.05, what="leader")
    )
    assert parse_fraud("stuffing", "integer") == FraudSpec(StuffingSpec(), IntegerSpec())
    assert parse_fraud() == FraudSpec()
    assert not parse_fraud("").any
    for bad in (
        "bogus",
        "fi=0.1",
        "stuffing:fi=x",
        "stuffing:zz=1",
        "stuffing:fi=0.9,fe=0.2",
        "integer:share=2",
        "integer:what=all",
        "stuffing:theta=0",
    ):
        with pytest.raises(FraudSpecError):
            parse_fraud(bad)
