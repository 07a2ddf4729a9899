"""Public-seed sampling (SHA-256), PVT estimator, verdict and bootstrap."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from secki.stats import (
    proportional_allocation,
    pvt_estimate,
    pvt_verdict,
    sample_with_replacement,
    sample_without_replacement,
    stratified_sample,
    ticket,
)


def test_ticket_is_documented_sha256() -> None:
    digest = hashlib.sha256(b"seed42,station-7,1").hexdigest()
    assert ticket("seed42", "station-7") == int(digest, 16) / 2**256


def test_sample_is_reproducible_and_consistent() -> None:
    ids = [f"S{i}" for i in range(100)]
    a = sample_without_replacement(ids, 10, seed="2024")
    assert a == sample_without_replacement(list(reversed(ids)), 10, seed="2024")
    assert len(set(a)) == 10
    # consistent sampling: a larger sample contains the smaller one
    assert set(a) <= set(sample_without_replacement(ids, 20, seed="2024"))
    assert a != sample_without_replacement(ids, 10, seed="2025")


def test_stratified_sample_and_allocation() -> None:
    ids = list(range(30))
    strata = ["N"] * 20 + ["S"] * 10
    alloc = proportional_allocation({"N": 20, "S": 10}, 6)
    assert alloc == {"N": 4, "S": 2}
    sample = stratified_sample(ids, strata, alloc, seed="x")
    assert len(sample["N"]) == 4 and all(i < 20 for i in sample["N"])  # type: ignore[operator]
    assert len(sample["S"]) == 2 and all(i >= 20 for i in sample["S"])  # type: ignore[operator]


def test_sample_with_replacement_is_proportional() -> None:
    draws = sample_with_replacement([1, 0, 3], 4000, seed="s")
    counts = np.bincount(draws, minlength=3)
    assert counts[1] == 0
    assert counts[2] / counts.sum() == pytest.approx(0.75, abs=0.03)


def test_pvt_stratified_matches_simulated_truth_and_verdict() -> None:
    rng = np.random.default_rng(3)
    frame_x = rng.integers(300, 900, 2000)
    share = np.where(np.arange(2000) < 1000, 0.55, 0.40)
    frame_y = rng.binomial(frame_x, share)
    strata = np.where(np.arange(2000) < 1000, "urban", "rural")
    truth = frame_y.sum() / frame_x.sum()
    ids = list(range(2000))
    sample = stratified_sample(ids, strata.tolist(), {"urban": 100, "rural": 100}, seed="pvt")
    idx = np.array([i for h in ("urban", "rural") for i in sample[h]])
    est = pvt_estimate(
        frame_x[idx],
        {"A": frame_y[idx]},
        strata=strata[idx],
        stratum_sizes={"urban": 1000, "rural": 1000},
        bootstrap=500,
        seed=1,
    )
    a = est.estimates["A"]
    assert abs(a.estimate - truth) < 3 * a.se_linearised
    assert a.se_bootstrap == pytest.approx(a.se_linearised, rel=0.25)
    ok = pvt_verdict(est, {"A": truth})
    assert ok.consistent
    bad = pvt_verdict(est, {"A": truth + 0.05})
    assert not bad.consistent
    assert bad.discrepancies[0][:2] == ("A", "higher") and bad.discrepancies[0][2] > 2.58
    assert "higher" in bad.text


def test_pvt_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="frame size"):
        pvt_estimate([1, 2], {"A": [1, 1]}, strata=["a", "a"], stratum_sizes={"b": 5})
    with pytest.raises(ValueError, match="explicit seed"):
        pvt_estimate([1, 2], {"A": [1, 1]}, stratum_sizes=5, bootstrap=10)
