"""Parallel vote tabulation (quick count): stratified ratio estimator, SE, verdict.

Estrada, M. & Butler, J. (eds.), *The Quick Count and Election Observation: An NDI
Handbook for Civic Organizations and Political Parties* (National Democratic Institute,
2002), chapter 5 (statistical principles) — sample size; Cochran, W. G., *Sampling
Techniques* (3rd ed., Wiley 1977), §6.11–6.12 — the combined ratio estimator and its
linearised variance.

* Sample size (voters): n = p(1−p) / (ε²/z² + p(1−p)/N) with p = 0.5 (rounded to the nearest
  voter); stations = n / voters per station.
* Estimator: p̂_k = Σ_h (N_h/n_h) Σ_i y_hik / Σ_h (N_h/n_h) Σ_i x_hi (y votes for k, x valid
  votes; for turnout y = ballots, x = registered).
* Linearised variance V̂ = (1/X̂²) Σ_h N_h² (1 − n_h/N_h) s²_{e,h} / n_h with residuals
  e_hi = y_hik − p̂_k x_hi; or a bootstrap within strata. PVT groups report at 99 %
  (z = 2.58).
* Verdict: z_k = (official_k − p̂_k)/SE_k; consistent when every |z_k| <= 2.58.

Example
-------
>>> est = pvt_estimate([400, 350, 500, 420, 380, 450], {"A": [240, 200, 310, 250, 215, 270]},
...                    stratum_sizes=600, z=1.96)
>>> a = est.estimates["A"]
>>> round(a.estimate, 4), round(a.se, 5), tuple(round(v, 4) for v in a.interval)
(0.594, 0.00827, (0.5778, 0.6102))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secki.stats._common import FloatArray, Seed, as_float_array, as_rng, group_labels

CITATION = (
    "NDI, The Quick Count and Election Observation (Estrada & Butler 2002); "
    "Cochran, Sampling Techniques (1977) 6.11-6.12"
)
Z99 = 2.58


@dataclass(frozen=True)
class SampleSize:
    voters: int
    stations: int | None
    margin: float
    z: float
    population: int
    citation: str = CITATION


def ndi_sample_size(
    population: int,
    margin: float,
    *,
    z: float = Z99,
    p: float = 0.5,
    voters_per_station: float | None = None,
) -> SampleSize:
    """Voters (and stations) a quick count needs for margin ``margin`` at ``z``."""
    if population <= 0 or margin <= 0:
        raise ValueError("population and margin must be positive")
    n = p * (1 - p) / (margin**2 / z**2 + p * (1 - p) / population)
    stations = None if voters_per_station is None else math.ceil(n / voters_per_station)
    return SampleSize(voters=round(n), stations=stations, margin=margin, z=z, population=population)


@dataclass(frozen=True)
class RatioEstimate:
    name: str
    estimate: float
    #: the SE used for the interval (bootstrap when requested, else linearised)
    se: float
    se_linearised: float
    se_bootstrap: float | None
    z: float
    interval: tuple[float, float]
    margin: float


@dataclass(frozen=True)
class PvtEstimate:
    estimates: dict[str, RatioEstimate]
    stations: int
    strata: dict[str, tuple[int, int]]  # stratum -> (sampled n_h, frame N_h)
    z: float
    method: str = "stratified ratio estimator, linearised (and bootstrap) SE"
    citation: str = CITATION


def pvt_estimate(
    x: npt.ArrayLike,
    y: Mapping[str, npt.ArrayLike],
    *,
    stratum_sizes: Mapping[str, int] | int,
    strata: Sequence[str] | npt.ArrayLike | None = None,
    z: float = Z99,
    bootstrap: int = 0,
    seed: Seed | None = None,
) -> PvtEstimate:
    """Estimate Σy_k/Σx for every ``y[k]`` from sampled stations.

    ``x`` and each ``y[k]`` hold the sampled stations' counts, ``strata`` their stratum
    labels (one stratum "all" if omitted) and ``stratum_sizes`` the number of stations in
    each stratum of the frame (an int for one stratum). ``bootstrap > 0`` (with ``seed``)
    adds a within-strata bootstrap SE, which is then the one used for the interval.
    """
    xs = as_float_array(x, "x")
    labels = group_labels(strata, xs.size)
    sizes = {"all": stratum_sizes} if isinstance(stratum_sizes, int) else dict(stratum_sizes)
    names = sorted(set(labels.tolist()))
    for h in names:
        if h not in sizes:
            raise ValueError(f"no frame size for stratum {h!r}")
    idx = {h: np.flatnonzero(labels == h) for h in names}
    info: dict[str, tuple[int, int]] = {}
    for h in names:
        n_h, big_n = idx[h].size, int(sizes[h])
        if n_h < 2:
            raise ValueError(f"stratum {h!r} needs at least two sampled stations")
        if n_h > big_n:
            raise ValueError(f"stratum {h!r}: {n_h} sampled of only {big_n}")
        info[h] = (n_h, big_n)
    wts = np.array([info[h][1] / info[h][0] for h in names])
    rng = as_rng(seed) if bootstrap > 0 and seed is not None else None
    if bootstrap > 0 and rng is None:
        raise ValueError("a bootstrap needs an explicit seed")
    boot_idx = (
        {h: rng.integers(0, idx[h].size, (bootstrap, idx[h].size)) for h in names}
        if rng is not None
        else {}
    )
    out: dict[str, RatioEstimate] = {}
    for name, values in y.items():
        ys = as_float_array(values, f"y[{name}]")
        if ys.size != xs.size:
            raise ValueError(f"y[{name}] must have one value per sampled station")
        big_x = float(sum(w * xs[idx[h]].sum() for w, h in zip(wts, names, strict=True)))
        big_y = float(sum(w * ys[idx[h]].sum() for w, h in zip(wts, names, strict=True)))
        if big_x <= 0:
            raise ValueError("the sampled denominators sum to zero")
        p = big_y / big_x
        var = 0.0
        for h in names:
            n_h, big_n = info[h]
            e = ys[idx[h]] - p * xs[idx[h]]
            var += big_n**2 * (1 - n_h / big_n) * float(e.var(ddof=1)) / n_h
        se_lin = math.sqrt(var) / big_x
        se_boot = None
        if rng is not None:
            bx: FloatArray = np.zeros(bootstrap)
            by: FloatArray = np.zeros(bootstrap)
            for w, h in zip(wts, names, strict=True):
                pick = idx[h][boot_idx[h]]
                bx += w * xs[pick].sum(axis=1)
                by += w * ys[pick].sum(axis=1)
            se_boot = float(np.std(by / bx, ddof=1))
        se = se_boot if se_boot is not None else se_lin
        out[name] = RatioEstimate(
            name=name,
            estimate=p,
            se=se,
            se_linearised=se_lin,
            se_bootstrap=se_boot,
            z=z,
            interval=(p - z * se, p + z * se),
            margin=z * se,
        )
    return PvtEstimate(estimates=out, stations=int(xs.size), strata=info, z=z)


@dataclass(frozen=True)
class PvtVerdict:
    consistent: bool
    z: dict[str, float]
    #: (name, "higher"/"lower" (official vs PVT), z) for every |z| above the critical value
    discrepancies: tuple[tuple[str, str, float], ...]
    critical: float
    text: str
    citation: str = CITATION


def pvt_verdict(
    estimate: PvtEstimate | Mapping[str, RatioEstimate],
    official: Mapping[str, float],
    *,
    critical: float = Z99,
) -> PvtVerdict:
    """Compare official shares with the PVT: z_k = (official_k − p̂_k)/SE_k."""
    ests = estimate.estimates if isinstance(estimate, PvtEstimate) else estimate
    zs: dict[str, float] = {}
    bad: list[tuple[str, str, float]] = []
    for name, value in official.items():
        if name not in ests:
            raise ValueError(f"no PVT estimate for {name!r}")
        e = ests[name]
        zk = (value - e.estimate) / e.se if e.se > 0 else math.inf * np.sign(value - e.estimate)
        zs[name] = float(zk)
        if abs(zk) > critical:
            bad.append((name, "higher" if zk > 0 else "lower", float(zk)))
    if bad:
        text = "; ".join(
            f"official {n} is {d} than the PVT estimate (z = {z:+.2f})" for n, d, z in bad
        )
    else:
        text = f"official results consistent with the PVT (all |z| <= {critical})"
    return PvtVerdict(
        consistent=not bad, z=zs, discrepancies=tuple(bad), critical=critical, text=text
    )
