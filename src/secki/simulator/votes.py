"""The clean election: turnout, votes, full protocols and turnout reports of every station.

Turnout τ_i and the leader's share ν_i follow the generative model of Klimek, Yegorov, Hanel &
Thurner, "Statistical detection of systematic election irregularities", PNAS 109(41), 2012
(spec/statistics.md §3): normals truncated to [0, 1], here with constituency-level random
effects (regional variation) and station-level noise. The means are then shifted on the logit
scale so that the national turnout and the leader's national share of valid votes hit the
configured targets.

Protocol lines (spec/domain.md §3) are filled so that every hard station check of the
``az-presidential`` schema holds (AZ-2 … AZ-7):

* L1 = registered voters; L1a … L1d are left empty; L2 (de-registration cards issued) and
  L7 ≤ L2 (voted with such cards) are small.
* L5 + L6 = ballots issued (turnout), L6 a small mobile-box share (often 0).
* L12 ≤ L6 and L13 ≤ L5 (a few ballots are taken away); L12 + L13 = L14 + L15a + L15b with
  1–2 % invalid ballots; L14 = Σ C.
* L3 (ballots received) = the print run, registered voters plus 0.5–2 %; L16 (spoilt) small;
  L8 (unused) = L3 − L5 − L6 − L16; L9 (cancelled) = L8 + L16 (design choice: both unused and
  spoilt ballots are cancelled).
* L17 (protocol completed) between 19:35 and 02:00, later for larger stations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from secki.simulator._types import BoolArray, FloatArray, IntArray
from secki.simulator.territory import Territory

COUNT_LINES = (
    "L1", "L2", "L3", "L5", "L6", "L7", "L8", "L9",
    "L12", "L13", "L14", "L15a", "L15b", "L16",
)  # fmt: skip
EMPTY_LINES = ("L1a", "L1b", "L1c", "L1d")
TURNOUT_TIMES = ("10:00", "12:00", "15:00", "17:00", "19:00")
# mean share of the 19:00 figure gained in each interval (08–10, 10–12, 12–15, 15–17, 17–19):
# 2024 reports: 19.44 % at 10:00, 60.54 % at 15:00, 76.4 % at the end
TURNOUT_INCREMENTS = np.array([0.255, 0.245, 0.295, 0.125, 0.080])
TURNOUT_MISSING = np.array([0.015, 0.010, 0.004, 0.002, 0.0])
MAX_COMPLETION_MINUTES = 7 * 60  # 02:00 the next morning


@dataclass
class Protocols:
    """Station protocols as arrays: count lines, candidate votes (N × n), L17 offsets."""

    lines: dict[str, IntArray]
    votes: IntArray
    completed: IntArray  # minutes after poll close (19:00) when L17 was signed

    def copy(self) -> Protocols:
        return replace(
            self,
            lines={k: v.copy() for k, v in self.lines.items()},
            votes=self.votes.copy(),
            completed=self.completed.copy(),
        )

    def __getitem__(self, code: str) -> IntArray:
        return self.lines[code]

    @property
    def issued(self) -> IntArray:
        """Ballots issued, L5 + L6 (``given`` of Kobak et al.)."""
        return self.lines["L5"] + self.lines["L6"]

    @property
    def in_boxes(self) -> IntArray:
        """Ballots found in the boxes, L12 + L13 = valid + invalid (``received``)."""
        return self.lines["L12"] + self.lines["L13"]

    def differs(self, other: Protocols) -> BoolArray:
        """Stations whose protocols are not identical in ``self`` and ``other``."""
        out: BoolArray = np.any(self.votes != other.votes, axis=1) | (
            self.completed != other.completed
        )
        for code, column in self.lines.items():
            out |= column != other.lines[code]
        return out

    def settle_ballots(self) -> None:
        """Re-establish AZ-4 after ballots were added: L8 = L3 − L5 − L6 − L16 (raising L3 where
        the unused ballots do not suffice) and L9 = L8 + L16."""
        ln = self.lines
        l8 = ln["L3"] - ln["L5"] - ln["L6"] - ln["L16"]
        short = np.maximum(-l8, 0)
        ln["L3"] += short
        ln["L8"][:] = l8 + short
        ln["L9"][:] = ln["L8"] + ln["L16"]


@dataclass
class Latent:
    """The model's station-level parameters before counting (for the record and for tests)."""

    tau: FloatArray
    nu: FloatArray


def truncated_normal(
    rng: np.random.Generator, mean: FloatArray, sd: float, lo: float = 0.0, hi: float = 1.0
) -> FloatArray:
    """N(mean, sd) truncated to [lo, hi] by redrawing (vectorised)."""
    out = rng.normal(mean, sd)
    bad = np.flatnonzero((out < lo) | (out > hi))
    for _ in range(200):
        if len(bad) == 0:
            break
        out[bad] = rng.normal(mean[bad], sd)
        bad = bad[(out[bad] < lo) | (out[bad] > hi)]
    return np.clip(out, lo, hi)


def logit_calibrate(p: FloatArray, weight: FloatArray, target: float) -> FloatArray:
    """Shift ``p`` on the logit scale so that its ``weight``-weighted mean equals ``target``."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    z = np.log(q / (1 - q))
    total = float(weight.sum())
    if total <= 0:
        return p
    shift = 0.0
    for _ in range(50):
        value = 1 / (1 + np.exp(-(z + shift)))
        mean = float((weight * value).sum()) / total
        slope = float((weight * value * (1 - value)).sum()) / total
        if abs(mean - target) < 1e-10 or slope <= 0:
            break
        shift += (target - mean) / slope
    result: FloatArray = 1 / (1 + np.exp(-(z + shift)))
    return result


def split_votes(rng: np.random.Generator, total: IntArray, probs: FloatArray) -> IntArray:
    """Multinomial(total_i, probs_i) row by row, by conditional binomials (vectorised)."""
    n, m = probs.shape
    out = np.zeros((n, m), dtype=np.int64)
    remaining = total.astype(np.int64).copy()
    mass = np.ones(n)
    for j in range(m - 1):
        p = np.divide(probs[:, j], mass, out=np.zeros(n), where=mass > 1e-12)
        out[:, j] = rng.binomial(remaining, np.clip(p, 0.0, 1.0))
        remaining -= out[:, j]
        mass = mass - probs[:, j]
    out[:, m - 1] = remaining
    return out


def simulate_votes(
    territory: Territory,
    shares: tuple[float, ...],
    turnout: float,
    rng: np.random.Generator,
) -> tuple[Protocols, Latent]:
    t = territory
    n = t.n_stations
    k = t.n_constituencies
    reg = t.registered
    c = t.constituency - 1
    u = t.urbanity - t.urbanity.mean()
    temp = t.temporary.astype(np.float64)
    abroad = t.abroad.astype(np.float64)

    # Klimek model with regional random effects; calibrated to the national targets
    tau_region = rng.normal(0.0, 0.05, k)
    nu_region = rng.normal(0.0, 0.02, k)
    tau_mean = turnout + tau_region[c] - 0.06 * u[c] + 0.12 * temp - 0.30 * abroad
    tau = truncated_normal(rng, np.clip(tau_mean, 0.05, 0.98), 0.07)
    tau = logit_calibrate(tau, reg.astype(np.float64), turnout)
    nu_mean = shares[0] + nu_region[c] - 0.03 * u[c] - 0.10 * abroad
    nu = truncated_normal(rng, np.clip(nu_mean, 0.05, 0.995), 0.035)

    issued = rng.binomial(reg, tau)
    mobile_rate = np.where(rng.random(n) < 0.35, 0.0, rng.uniform(0.003, 0.03, n))
    mobile_rate[t.abroad] = 0.0
    l6 = rng.binomial(issued, mobile_rate)
    l5 = issued - l6
    l12 = l6 - rng.binomial(l6, 0.01)
    l13 = l5 - rng.binomial(l5, 0.002)
    boxes = l12 + l13
    invalid_rate = np.clip(np.exp(rng.normal(np.log(0.012), 0.5, n)), 0.0, 0.08)
    invalid = rng.binomial(boxes, invalid_rate)
    l15a = rng.binomial(invalid, 0.03)
    l15b = invalid - l15a
    valid = boxes - invalid

    nu = logit_calibrate(nu, valid.astype(np.float64), shares[0])
    votes = np.zeros((n, len(shares)), dtype=np.int64)
    votes[:, 0] = rng.binomial(valid, nu)
    others = valid - votes[:, 0]
    votes[:, 1:] = split_votes(rng, others, _opposition(rng, t, shares, others))

    l16 = rng.poisson(0.0015 * issued)
    l3 = reg + np.ceil(reg * rng.uniform(0.005, 0.02, n)).astype(np.int64)
    l3 = np.maximum(l3, issued + l16)
    l8 = l3 - issued - l16
    l2 = np.where(t.abroad, 0, rng.poisson(0.0015 * reg))
    l7 = rng.binomial(l2, 0.5)
    completed = 35 + boxes // 25 + rng.exponential(40.0, n).astype(np.int64)
    completed = np.minimum(completed, MAX_COMPLETION_MINUTES)

    lines = {
        "L1": reg.copy(),
        "L2": l2,
        "L3": l3,
        "L5": l5,
        "L6": l6,
        "L7": l7,
        "L8": l8,
        "L9": l8 + l16,
        "L12": l12,
        "L13": l13,
        "L14": valid,
        "L15a": l15a,
        "L15b": l15b,
        "L16": l16,
    }
    lines = {code: np.asarray(lines[code], dtype=np.int64) for code in COUNT_LINES}
    return Protocols(lines, votes, completed.astype(np.int64)), Latent(tau, nu)


def _opposition(
    rng: np.random.Generator, t: Territory, shares: tuple[float, ...], others: IntArray
) -> FloatArray:
    """Station-level split of the non-leader votes among candidates 2…n: regional strongholds
    (constituency effects) and station noise, calibrated to the national shares."""
    n = t.n_stations
    m = len(shares) - 1
    base = np.array(shares[1:]) / sum(shares[1:])
    region = rng.normal(0.0, 0.4, (t.n_constituencies, m))
    probs = base * np.exp(region[t.constituency - 1] + rng.normal(0.0, 0.3, (n, m)))
    weight = others.astype(np.float64)
    total = float(weight.sum())
    if total <= 0:
        result: FloatArray = probs / probs.sum(axis=1, keepdims=True)
        return result
    multiplier = np.ones(m)
    for _ in range(8):
        scaled = probs * multiplier
        scaled /= scaled.sum(axis=1, keepdims=True)
        current = (weight @ scaled) / total
        multiplier *= base / current
    scaled = probs * multiplier
    out: FloatArray = scaled / scaled.sum(axis=1, keepdims=True)
    return out


def turnout_reports(rng: np.random.Generator, issued: IntArray) -> IntArray:
    """Cumulative voters at each report time (N × 5, −1 where the station did not report).

    The 19:00 figure is a little below the final L5 + L6 (late queue, mobile box); earlier
    figures follow a station-specific time profile; a few stations miss the early reports.
    """
    n = len(issued)
    at_close = issued - rng.binomial(issued, 0.004)
    shape = 30.0 * TURNOUT_INCREMENTS
    steps = rng.gamma(np.broadcast_to(shape, (n, len(shape))))
    profile = np.cumsum(steps, axis=1)
    profile /= profile[:, -1:]
    reports = np.floor(profile * at_close[:, None]).astype(np.int64)
    reports[:, -1] = at_close
    missing = rng.random((n, len(TURNOUT_TIMES))) < TURNOUT_MISSING
    reports[missing] = -1
    return reports
