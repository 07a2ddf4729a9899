"""Small synthetic elections for testing the forensics (not the project's simulator).

:func:`simulate_klimek` draws station counts from the generative model of Klimek, Yegorov,
Hanel & Thurner (2012), *Statistical detection of systematic election irregularities*,
PNAS 109(41), 16469–16473: turnout τ_i ~ N(τ, σ_τ) and leader share ν_i ~ N(ν, σ_ν), both
truncated to [0, 1]; with probability f_i a station gets incremental fraud x_i ~ |N(0, θ)|,
with probability f_e extreme fraud x_i = 1 − |N(0, 0.075)| (both truncated to [0, 1]);
reported ballots T = N·[τ + x(1−τ)] and leader votes W = N·[τν + x(1−τ) + x^α(1−ν)τ].
Counts are drawn as ``ballots ~ Bin(N, T/N)`` and ``leader ~ Bin(ballots, W/T)`` so that a
clean election has the binomial noise real counts have.

:func:`rewrite_to_integer_percentages` imitates protocols written to a round target
(Kobak, Shpilkin & Pshenichnikov 2016): the leader's votes are changed so that the leader
share becomes the nearest whole percentage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import special

from secki.stats._common import FloatArray, IntArray, Seed, as_int_array, as_rng

CITATION = "Klimek, Yegorov, Hanel & Thurner (2012), PNAS 109(41):16469-16473"
EXTREME_SD = 0.075


def truncated_normal(
    u: npt.ArrayLike, mean: float, sd: float, low: float = 0.0, high: float = 1.0
) -> FloatArray:
    """Inverse-CDF draw of N(mean, sd) truncated to [low, high] from uniforms ``u``."""
    a = special.ndtr((low - mean) / sd)
    b = special.ndtr((high - mean) / sd)
    uu = np.asarray(u, dtype=np.float64)
    p = np.clip(a + uu * (b - a), 1e-300, 1.0 - 1e-16)
    result: FloatArray = np.clip(mean + sd * special.ndtri(p), low, high)
    return result


def half_normal(u: npt.ArrayLike, sd: float, high: float = 1.0) -> FloatArray:
    """Inverse-CDF draw of |N(0, sd)| truncated to [0, high] from uniforms ``u``."""
    b = special.ndtr(high / sd)
    uu = np.asarray(u, dtype=np.float64)
    result: FloatArray = np.clip(sd * special.ndtri(0.5 + uu * (b - 0.5)), 0.0, high)
    return result


def klimek_shares(
    tau: FloatArray, nu: FloatArray, x: FloatArray, alpha: float
) -> tuple[FloatArray, FloatArray]:
    """Reported turnout T/N and leader share W/T for true turnout, share and fraud x."""
    turnout = tau + x * (1.0 - tau)
    w = tau * nu + x * (1.0 - tau) + x**alpha * (1.0 - nu) * tau
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(turnout > 0, w / turnout, nu)
    return turnout, np.clip(share, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class SimulatedElection:
    """Station counts from :func:`simulate_klimek`; ``fraud`` is 0 clean, 1 incr., 2 extreme."""

    voters: IntArray
    ballots: IntArray
    leader: IntArray
    fraud: IntArray
    groups: npt.NDArray[np.str_]
    params: dict[str, float] = field(default_factory=dict)
    citation: str = CITATION


def simulate_klimek(
    n_stations: int,
    *,
    seed: Seed,
    turnout: float = 0.6,
    turnout_sd: float = 0.08,
    share: float = 0.5,
    share_sd: float = 0.08,
    f_i: float = 0.0,
    f_e: float = 0.0,
    theta: float = 0.1,
    alpha: float = 2.0,
    voters: npt.ArrayLike | None = None,
    n_groups: int = 10,
) -> SimulatedElection:
    """Draw a synthetic election from the Klimek model (see module docstring).

    ``voters`` gives the registered voters per station (values below 100 are raised to 100,
    since the model drops smaller stations); by default they are log-normal around 1,000.
    """
    if f_i < 0 or f_e < 0 or f_i + f_e > 1:
        raise ValueError("need f_i >= 0, f_e >= 0 and f_i + f_e <= 1")
    rng = as_rng(seed)
    if voters is None:
        n = np.round(np.exp(rng.normal(np.log(1000.0), 0.5, n_stations))).astype(np.int64)
    else:
        n = as_int_array(voters, "voters")
        if n.size != n_stations:
            raise ValueError("voters must have n_stations values")
    n = np.maximum(n, 100)
    tau = truncated_normal(rng.random(n_stations), turnout, turnout_sd)
    nu = truncated_normal(rng.random(n_stations), share, share_sd)
    kind = rng.choice(3, size=n_stations, p=[1.0 - f_i - f_e, f_i, f_e]).astype(np.int64)
    x = np.zeros(n_stations)
    inc = kind == 1
    ext = kind == 2
    x[inc] = half_normal(rng.random(int(inc.sum())), theta)
    x[ext] = 1.0 - half_normal(rng.random(int(ext.sum())), EXTREME_SD)
    t, s = klimek_shares(tau, nu, x, alpha)
    ballots = rng.binomial(n, t)
    leader = rng.binomial(ballots, s)
    groups = np.array([f"G{i:02d}" for i in range(n_groups)])[rng.integers(0, n_groups, n_stations)]
    return SimulatedElection(
        voters=n,
        ballots=ballots.astype(np.int64),
        leader=leader.astype(np.int64),
        fraud=kind,
        groups=groups,
        params={
            "turnout": turnout,
            "turnout_sd": turnout_sd,
            "share": share,
            "share_sd": share_sd,
            "f_i": f_i,
            "f_e": f_e,
            "theta": theta,
            "alpha": alpha,
        },
    )


def rewrite_to_integer_percentages(
    leader: npt.ArrayLike, received: npt.ArrayLike, fraction: float, *, seed: Seed
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Rewrite a random ``fraction`` of stations' leader votes to the nearest whole percent.

    Returns the new leader counts and the mask of rewritten stations. Where no count lands
    within 0.05 of the whole percentage (small stations) the nearest count is used anyway.
    """
    ld = as_int_array(leader, "leader").copy()
    rc = as_int_array(received, "received")
    rng = as_rng(seed)
    chosen = (rng.random(ld.size) < fraction) & (rc > 0)
    k = np.round(100.0 * ld[chosen] / rc[chosen])
    ld[chosen] = np.minimum(np.round(k * rc[chosen] / 100.0), rc[chosen]).astype(np.int64)
    return ld, chosen
