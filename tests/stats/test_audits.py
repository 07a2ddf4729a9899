"""BRAVO sequential tests, majority rule, MACRO with PPEB sampling from a public seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from secki.stats import (
    BravoAudit,
    bravo_majority_test,
    bravo_test,
    macro_audit,
    macro_error_bounds,
    macro_pvalue,
    ppeb_draws,
)


def test_bravo_confirms_after_expected_winner_ballots() -> None:
    # s = 0.6: each winner ballot multiplies T by 1.2; 1/alpha = 10 needs ceil(ln10/ln1.2) = 13
    res = bravo_test({"A": 600, "B": 400}, ["A"] * 20, alpha=0.1)
    assert res.confirmed
    assert res.draws == math.ceil(math.log(10) / math.log(1.2))
    assert res.risk <= 0.1


def test_bravo_other_ballots_leave_t_unchanged_and_losers_lower_it() -> None:
    audit = BravoAudit({"A": 600, "B": 400}, alpha=0.1)
    audit.observe(None)
    assert audit.result().statistics["A>B"] == pytest.approx(1.0)
    audit.observe("B")
    assert audit.result().statistics["A>B"] == pytest.approx(0.8)
    assert audit.result().risk == 1.0
    with pytest.raises(ValueError, match="unknown candidate"):
        audit.observe("Z")


def test_bravo_multi_candidate_needs_every_pair() -> None:
    votes = {"A": 300, "B": 200, "C": 200}
    audit = BravoAudit(votes, alpha=0.1, total_ballots=1000)
    for _ in range(40):
        audit.observe("A")
    # A ballots raise both pairs; C ballots lower A>C only
    assert audit.confirmed
    audit.observe("C")
    stats = audit.result().statistics
    assert stats["A>C"] < stats["A>B"]


def test_bravo_simulated_audit_confirms_true_outcome() -> None:
    rng = np.random.default_rng(5)
    ballots = rng.choice(np.array(["A", "B"]), size=5000, p=[0.6, 0.4]).tolist()
    res = bravo_test({"A": 600, "B": 400}, ballots, alpha=0.1)
    assert res.confirmed and res.draws < 1000


def test_bravo_majority_rule() -> None:
    res = bravo_majority_test(0.6, [True] * 13, alpha=0.1)
    assert res.confirmed and res.draws == 13
    res = bravo_majority_test(0.6, [True, False, None] * 5, alpha=0.1)
    assert not res.confirmed
    with pytest.raises(ValueError):
        bravo_majority_test(0.5, [True], alpha=0.1)


def test_macro_error_bounds_and_clean_audit() -> None:
    reported = {"A": [60, 50, 70, 40], "B": [30, 40, 20, 50]}
    ballots = [100, 100, 100, 100]
    u = macro_error_bounds(reported, ballots, ["A"])
    margin = 220 - 140
    assert u.tolist() == pytest.approx(
        [(30 + 100) / margin, (10 + 100) / margin, (50 + 100) / margin, (-10 + 100) / margin]
    )
    draws = ppeb_draws(u, 30, seed="1234 5678")
    assert draws == ppeb_draws(u, 30, seed="1234 5678")  # reproducible from the seed
    audited = {b: {"A": reported["A"][b], "B": reported["B"][b]} for b in set(draws)}
    res = macro_audit(reported, ballots, ["A"], draws, audited, alpha=0.1)
    # no discrepancies: P = (1 - 1/U)^n, stops at the initial sample size
    assert res.confirmed and res.draws == res.initial_sample_size
    assert res.pvalue == pytest.approx((1 - 1 / res.total_error_bound) ** res.draws)


def test_macro_overstatement_raises_p() -> None:
    reported = {"A": [60, 50], "B": [30, 40]}
    u = macro_error_bounds(reported, [100, 100], ["A"])
    wrong = {0: {"A": 30, "B": 60}, 1: {"A": 50, "B": 40}}
    res = macro_audit(reported, [100, 100], ["A"], [0, 1, 0], wrong, alpha=0.1)
    assert not res.confirmed
    assert res.taints[0] == pytest.approx((30 - (-30)) / 40 / u[0])
    assert macro_pvalue(5.0, [1.0]) == 1.0
