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


def test_audit_app_helpers_agree_with_the_reference_functions() -> None:
    """The vectorised MACRO taints and P-value equal the per-draw reference functions; the
    ballot draws follow the published integer rule; draws go on from ``first``; BRAVO's T
    beyond a double is reported as infinite, not an error."""
    import hashlib
    import math

    import numpy as np

    from secki.stats.bravo import BravoAudit
    from secki.stats.macro import (
        macro_draw_taints,
        macro_error_bounds,
        macro_pvalue,
        macro_pvalue_of,
        macro_taint,
        ppeb_draws,
    )
    from secki.stats.sampling import ballot_draws

    rng = np.random.default_rng(3)
    reported = {"A": rng.integers(100, 300, 40), "B": rng.integers(50, 150, 40)}
    ballots = reported["A"] + reported["B"] + 10
    u = macro_error_bounds(reported, ballots, ["A"])
    draws = ppeb_draws(u, 25, seed="s")
    assert ppeb_draws(u, 30, seed="s")[25:] == ppeb_draws(u, 5, seed="s", first=26)
    audited = {p: {"A": int(reported["A"][p]) - p % 3, "B": int(reported["B"][p])} for p in draws}
    margin = int(reported["A"].sum() - reported["B"].sum())
    rep = np.array([[reported["A"][p], reported["B"][p]] for p in draws])
    aud = np.array([[audited[p]["A"], audited[p]["B"]] for p in draws])
    fast = macro_draw_taints(rep, aud, u[draws], [(0, 1, margin)])
    slow = [macro_taint(reported, audited[p], p, ["A"], float(u[p])) for p in draws]
    assert np.allclose(fast, slow)
    assert math.isclose(macro_pvalue_of(float(u.sum()), fast), macro_pvalue(float(u.sum()), slow))
    assert macro_pvalue_of(float(u.sum()), [0.2, 1.0]) == 1.0
    counts = [3, 0, 5, 2]
    picks = ballot_draws(counts, 50, seed="x", first=7)
    for j, (batch, number) in enumerate(picks, start=7):
        k = (int(hashlib.sha256(f"x,draw,{j}".encode()).hexdigest(), 16) * 10) >> 256
        assert sum(counts[:batch]) + number - 1 == k and 1 <= number <= counts[batch]
    audit = BravoAudit({"A": 900, "B": 100}, alpha=0.1)
    for _ in range(2000):
        audit.observe("A")
    assert audit.result().statistics["A>B"] == math.inf and audit.result().risk == 0.0
