"""Coverage of the Klimek fit's bootstrap interval on simulations with known f_i, f_e.

Slow (SECKI_SLOW=1): 50 seeds per scenario, each a fit with 40 bootstrap replicates. The
95 % intervals must cover the true f_i and f_e in at least 90 % of the seeds, including a
scenario where the extreme-fraud spike at (100 %, 100 %) is the densest histogram cell,
which a fit taking the global mode as the clean peak gets wrong, and one where incremental
fraud biases the published clean-part rule's f_i low (the interval must still cover it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from secki.stats import fingerprint, fit_klimek
from secki.stats.simulation import simulate_klimek

SEEDS = 50
SCENARIOS: dict[str, dict[str, Any]] = {
    "incremental and extreme": {"f_i": 0.25, "f_e": 0.03, "theta": 0.3},
    "spike is the densest cell": {
        "f_i": 0.15,
        "f_e": 0.12,
        "theta": 0.2,
        "turnout_sd": 0.1,
        "share_sd": 0.1,
    },
}


def _spike_is_densest(e: Any) -> bool:
    fp = fingerprint(e.voters, e.ballots, e.leader, bins=50)
    i, j = np.unravel_index(int(np.argmax(fp.counts)), fp.counts.shape)
    return bool(i == j == 49)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_interval_covers_the_truth_in_90_percent_of_seeds(name: str) -> None:
    params = SCENARIOS[name]
    covered_i = covered_e = 0
    for seed in range(SEEDS):
        e = simulate_klimek(4_000, seed=1000 + seed, **params)
        if name == "spike is the densest cell":
            assert _spike_is_densest(e), seed
        fit = fit_klimek(e.voters, e.ballots, e.leader, seed=seed, bootstrap=40)
        covered_i += fit.f_i_interval[0] <= params["f_i"] <= fit.f_i_interval[1]
        covered_e += fit.f_e_interval[0] <= params["f_e"] <= fit.f_e_interval[1]
    print(f"{name}: f_i covered {covered_i}/{SEEDS}, f_e covered {covered_e}/{SEEDS}")
    assert covered_i >= 0.9 * SEEDS
    assert covered_e >= 0.9 * SEEDS
