"""The Klimek fit's clean-part rule, its refusal at the stuffed corner, its bound warnings,
the integer-percentage convention at the exact boundary, and the Russia 2011 fit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from secki.stats import fit_klimek, integer_percentage_test, is_integer_percentage
from secki.stats.fingerprint import (
    THETA_GRID,
    ImplausibleModeError,
    _fit_sample,
    first_mode,
    station_ratios,
)
from secki.stats.simulation import simulate_klimek


def test_first_mode_skips_the_stuffed_corner_and_the_low_tail() -> None:
    rng = np.random.default_rng(0)
    clean = rng.normal(0.55, 0.07, 6000)
    corner = 1.0 - np.abs(rng.normal(0, 0.01, 4000))  # a taller peak at 100 %
    low = rng.normal(0.15, 0.02, 3000)  # a peak below 0.3 is not the clean one
    x = np.clip(np.concatenate([low, clean, corner]), 0, 1)
    mode, found = first_mode(x)
    assert found
    assert abs(mode - 0.55) < 0.02
    mode, found = first_mode(np.clip(rng.normal(0.2, 0.03, 5000), 0, 1))
    assert not found and abs(mode - 0.2) < 0.02  # no maximum above 0.3: the global one


def test_the_densest_corner_is_not_taken_for_the_clean_peak() -> None:
    e = simulate_klimek(8000, seed=3, f_i=0.15, f_e=0.12, theta=0.2, turnout_sd=0.1, share_sd=0.1)
    fit = fit_klimek(e.voters, e.ballots, e.leader, seed=3, bootstrap=20)
    assert abs(fit.turnout_mean - 0.6) < 0.03 and abs(fit.share_mean - 0.5) < 0.03
    assert fit.f_e_interval[0] <= 0.12 <= fit.f_e_interval[1]
    assert fit.f_i_interval[0] <= 0.15 <= fit.f_i_interval[1]


def test_the_corrected_clean_part_pulls_f_i_towards_the_truth() -> None:
    # incremental fraud pulls the first mode right and widens the spread below it, so the
    # published rule's f_i is low; the corrected refit (which widens the interval) is not
    plain, corrected = [], []
    for seed in range(6):
        e = simulate_klimek(4000, seed=1000 + seed, f_i=0.25, f_e=0.03, theta=0.3)
        t, s, ok = station_ratios(e.voters, e.ballots, e.leader)
        r = _fit_sample(
            t[ok],
            s[ok],
            e.voters[ok],
            bins=50,
            m=20_000,
            alpha=2.0,
            thetas=THETA_GRID,
            rng=np.random.default_rng(seed),
        )
        plain.append(r.f_i)
        corrected.append(r.corrected[0])
    assert np.mean(plain) < 0.22
    assert abs(np.mean(corrected) - 0.25) < abs(np.mean(plain) - 0.25)


def test_a_clean_mode_in_the_corner_is_refused() -> None:
    e = simulate_klimek(3000, seed=4, f_e=0.9)
    with pytest.raises(ImplausibleModeError, match="stuffed corner"):
        fit_klimek(e.voters, e.ballots, e.leader, seed=4, bootstrap=2)


def test_bound_warnings() -> None:
    clean = simulate_klimek(5000, seed=5)
    fit = fit_klimek(clean.voters, clean.ballots, clean.leader, seed=5, bootstrap=10)
    assert fit.f_e < 1e-6
    assert "f_e is at its lower bound 0" in fit.warnings
    if fit.f_i > 1e-6 and fit.theta < 0.1:
        assert any("weakly identified" in w for w in fit.warnings)
    e = simulate_klimek(5000, seed=6, f_i=0.3, f_e=0.02, theta=0.3)
    narrow = fit_klimek(e.voters, e.ballots, e.leader, seed=6, bootstrap=5, thetas=(0.02,))
    assert narrow.theta == 0.02 and narrow.theta_grid == (0.02,)
    two = fit_klimek(e.voters, e.ballots, e.leader, seed=6, bootstrap=5, thetas=(0.02, 0.04))
    assert two.theta_at_grid_edge
    assert any("edge of its grid [0.02, 0.04]" in w for w in two.warnings)
    with pytest.raises(ValueError, match="θ grid"):
        fit_klimek(e.voters, e.ballots, e.leader, seed=6, thetas=())


def test_integer_convention_at_the_boundary() -> None:
    # 541/2000 = 27.05 % exactly; 1/3 = 33.33 % (not integer either way); 27/100 integer both
    a, b = np.array([541, 1, 27, 1082]), np.array([2000, 3, 100, 4000])
    assert is_integer_percentage(a, b).tolist() == [True, False, True, True]
    assert is_integer_percentage(a, b, "float").tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="convention"):
        is_integer_percentage(a, b, "round")  # type: ignore[arg-type]
    v, g = np.full(40, 2000), np.full(40, 541)
    r, ld = np.full(40, 541), np.full(40, 146)
    exact = integer_percentage_test(v, g, r, ld, seed=1, replicates=20)
    flt = integer_percentage_test(v, g, r, ld, seed=1, replicates=20, convention="float")
    assert exact.turnout.observed == 40 and flt.turnout.observed == 0
    assert "float integer convention" in flt.method


@pytest.mark.realdata
def test_russia_2011_fit_has_no_bound_warning(shared_data: Callable[[str], Path]) -> None:
    from secki.forensics.loading import load_table

    examples = Path(__file__).resolve().parents[2] / "examples" / "mappings"
    t = load_table(shared_data("russia2011.csv.zip"), examples / "russia2011.json")
    fit = fit_klimek(t.registered, t.given, t.leader, received=t.received, seed=2011, bootstrap=20)
    print(
        f"Russia 2011: f_i {fit.f_i:.3f} {fit.f_i_interval}, f_e {fit.f_e:.4f} {fit.f_e_interval}"
    )
    assert fit.warnings == ()
    assert 0.5 < fit.f_i < 0.75 and 0.015 < fit.f_e < 0.06  # published: 0.64, 0.033
