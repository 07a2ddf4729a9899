"""Election fingerprint: turnout × leader-share histogram and the Klimek fraud model fit.

Klimek, P., Yegorov, Y., Hanel, R. & Thurner, S. (2012). *Statistical detection of
systematic election irregularities.* PNAS 109(41), 16469–16473. doi:10.1073/pnas.1210722109.

Clean elections give one roughly Gaussian blob in the (turnout, leader share) plane; ballot
stuffing smears it towards (100 %, 100 %). :func:`fingerprint` returns the 2-D histogram and
the simple robust signal "share of stations with turnout ≥ 95 % and leader share ≥ 95 %".

:func:`fit_klimek` fits the model of :mod:`secki.stats.simulation` (truncated-normal
turnout and share, incremental fraud with probability f_i and width θ, extreme fraud with
probability f_e, exponent α fixed):

* τ, ν, σ_τ, σ_ν are estimated as Klimek et al. and the published re-implementations do,
  from the clean part of the data: fraud only moves stations towards higher turnout and
  share, so the location is the *first* local maximum above 0.3 of each smoothed marginal
  density (turnout, leader share), not the global one, which ballot stuffing can put in
  the (100 %, 100 %) corner; the spread is the root-mean-square distance below the mode
  (less the binomial noise of the station sizes). A mode at 0.95 or above is implausible
  for a clean election: the fit refuses it rather than report fraud fractions relative to
  the stuffed corner;
* the model's cell probabilities on a 2-D histogram are estimated by simulating
  ``sim_stations`` stations per fraud type (station sizes resampled from the data, binomial
  noise added, points spread bilinearly over neighbouring bins); the expected histogram is
  linear in the mixture weights, so (f_i, f_e) are the exact maximum-likelihood weights
  (EM, then projected Newton) for each θ on a grid; the best grid value is then refined
  by a bounded continuous search between its neighbours;
* a parameter at a bound (θ at an end of its grid, f_i or f_e at 0 or f_i + f_e at 1, a
  spread at its clip, a point estimate at the edge of its own bootstrap interval) is
  reported in ``warnings``: such a fit depends on that bound, not only on the data;
* the clean-part rule is biased under the model itself: incremental fraud pulls the first
  mode to the right and widens the spread below it, so the clean template absorbs some of
  the fraud and f_i comes out low. Each fit is therefore repeated once with the clean part
  corrected for that pull (the rule is applied to the fitted model's own simulated
  stations, and the location and spreads are moved by the difference to what the rule
  gives on the data). The reported estimate is the uncorrected one (comparable with the
  published fits); the correction only widens the interval;
* the interval is a bootstrap over stations: stations are resampled and every step above is
  repeated (with fresh simulation draws, so the Monte-Carlo error is included) for both
  estimators; the interval is the hull of their two percentile intervals, so it covers the
  uncertainty of locating the clean part as well as the sampling noise.

Incremental fraud with a small θ looks much like a clean blob shifted slightly to the right,
so f_i is only identified through the location estimate; the interval covers sampling and
estimation variability, not a wrong model.

The published fits differ a lot between authors (Russia 2011: f_i 0.64, f_e 0.033 quoted by
Kobak; Mebane–Kalinin: f_i 0.121, f_e 0.0032): a fit is an estimate with wide uncertainty,
not a fact.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize

from secki.stats._common import FloatArray, IntArray, Seed, as_int_array, as_rng
from secki.stats.simulation import (
    EXTREME_SD,
    half_normal,
    truncated_normal,
)

CITATION = "Klimek, Yegorov, Hanel & Thurner (2012), PNAS 109(41):16469-16473"


@dataclass(frozen=True, eq=False)
class FingerprintResult:
    """2-D histogram ``counts[i, j]``: turnout bin i × leader-share bin j (edges in [0, 1])."""

    counts: IntArray
    turnout_edges: FloatArray
    share_edges: FloatArray
    stations: int
    #: Stations with turnout ≥ 95 % and leader share ≥ 95 %, and their share of all stations.
    high_high: int
    high_high_share: float
    #: Overall turnout and leader share (Σ ballots / Σ voters, Σ leader / Σ received)
    turnout: float
    leader_share: float
    method: str = "election fingerprint (2-D histogram of turnout x leader share)"
    citation: str = CITATION


def station_ratios(
    voters: npt.ArrayLike,
    ballots: npt.ArrayLike,
    leader: npt.ArrayLike,
    received: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Turnout ballots/voters and share leader/received (clipped to [0, 1]), usable mask.

    ``received`` (ballots in boxes) defaults to ``ballots``. A station is usable when
    voters > 0, ballots > 0 and received > 0.
    """
    v = as_int_array(voters, "voters")
    b = as_int_array(ballots, "ballots")
    ld = as_int_array(leader, "leader")
    r = b if received is None else as_int_array(received, "received")
    ok = (v > 0) & (b > 0) & (r > 0)
    t = np.zeros(v.size)
    s = np.zeros(v.size)
    t[ok] = np.minimum(b[ok] / v[ok], 1.0)
    s[ok] = np.minimum(ld[ok] / r[ok], 1.0)
    return t, s, ok


def fingerprint(
    voters: npt.ArrayLike,
    ballots: npt.ArrayLike,
    leader: npt.ArrayLike,
    *,
    received: npt.ArrayLike | None = None,
    bins: int = 100,
    threshold: float = 0.95,
) -> FingerprintResult:
    """Fingerprint histogram and the ≥95 %/≥95 % share over usable stations.

    Turnout is ``ballots/voters`` (ballots issued), the leader share ``leader/received``
    (ballots in boxes; ``ballots`` when omitted).
    """
    t, s, ok = station_ratios(voters, ballots, leader, received)
    t, s = t[ok], s[ok]
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts, _, _ = np.histogram2d(t, s, bins=[edges, edges])
    hh = int(np.count_nonzero((t >= threshold) & (s >= threshold)))
    v = as_int_array(voters, "voters")[ok]
    b = as_int_array(ballots, "ballots")[ok]
    ld = as_int_array(leader, "leader")[ok]
    r = b if received is None else as_int_array(received, "received")[ok]
    return FingerprintResult(
        counts=counts.astype(np.int64),
        turnout_edges=edges,
        share_edges=edges,
        stations=int(t.size),
        high_high=hh,
        high_high_share=hh / t.size if t.size else float("nan"),
        turnout=float(b.sum() / v.sum()) if v.sum() else float("nan"),
        leader_share=float(ld.sum() / r.sum()) if r.sum() else float("nan"),
    )


@dataclass(frozen=True)
class KlimekFit:
    """Fit of the Klimek model; bootstrap intervals at ``confidence`` (see the module)."""

    f_i: float
    f_e: float
    f_i_interval: tuple[float, float]
    f_e_interval: tuple[float, float]
    turnout_mean: float
    turnout_sd: float
    share_mean: float
    share_sd: float
    theta: float
    alpha: float
    loglik: float
    stations: int
    confidence: float
    bootstrap: int
    #: θ is the smallest or largest value of the grid: widen the grid before trusting f_i
    theta_at_grid_edge: bool = False
    #: Parameters at a bound and other reasons to distrust this fit, in words
    warnings: tuple[str, ...] = ()
    #: The θ grid searched (the estimate is refined continuously between grid values)
    theta_grid: tuple[float, ...] = ()
    method: str = (
        "Klimek model: clean-part location/spread, binned maximum likelihood for f_i, f_e, "
        "theta with simulated templates; bootstrap over stations, interval the hull of the "
        "percentile intervals with the clean part as located and corrected for fraud"
    )
    citation: str = CITATION


THETA_GRID = (0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.45, 0.65, 1.0, 1.5)
#: Modes are searched above this turnout / share (Klimek et al.'s clean-part rule)
MODE_FLOOR = 0.3
#: A clean mode at or above this is the stuffed corner, not an honest peak
MODE_CEILING = 0.95
SD_BOUNDS = (0.005, 0.5)
#: Below this θ, f_i is weakly identified (the fraud template is the clean one shifted)
WEAK_THETA = 0.1
#: Steps correcting the clean part for the fraud's pull on the clean-part rule
CORRECTIONS = 1


class ImplausibleModeError(ValueError):
    """The clean part of the data cannot be located: a fit would be meaningless."""


_SMOOTH = 1e-4  # mass spread uniformly so that no cell has probability zero
_RIDGE = 1e-12 * np.eye(2)


def _soft_hist(t: FloatArray, s: FloatArray, bins: int) -> FloatArray:
    """Histogram with bilinear weights to the four nearest bin centres, normalised to 1."""
    b = bins
    # clip as min(max()) in place: the same values as np.clip, fewer temporaries
    gt = t * b
    gt -= 0.5
    np.minimum(np.maximum(gt, 0.0, out=gt), b - 1.0, out=gt)
    gs = s * b
    gs -= 0.5
    np.minimum(np.maximum(gs, 0.0, out=gs), b - 1.0, out=gs)
    i0 = np.minimum(gt.astype(np.int64), b - 2)
    j0 = np.minimum(gs.astype(np.int64), b - 2)
    ft = gt - i0
    fs = gs - j0
    rt = 1 - ft
    rs = 1 - fs
    base = i0 * b + j0
    size = b * b
    h = np.bincount(base, rt * rs, minlength=size)
    h += np.bincount(base + b, ft * rs, minlength=size)
    h += np.bincount(base + 1, rt * fs, minlength=size)
    h += np.bincount(base + b + 1, ft * fs, minlength=size)
    out: FloatArray = h / t.size
    return out


def _loglik(counts: FloatArray, comps: FloatArray, w: FloatArray) -> float:
    p = (1 - _SMOOTH) * (w @ comps) + _SMOOTH / comps.shape[1]
    return float(counts @ np.log(p))


def _mixture_weights(counts: FloatArray, comps: FloatArray, w0: FloatArray) -> FloatArray:
    """Maximum-likelihood mixture weights (clean, f_i, f_e): EM, then projected Newton.

    The log-likelihood is concave in (f_i, f_e), so a few Newton steps with a backtracking
    line search on the simplex (f_i, f_e >= 0, f_i + f_e <= 1) finish what EM starts; a
    weight at zero whose gradient points outwards stays at zero.
    """
    nz = counts > 0
    c = counts[nz]
    cp = comps[:, nz]
    n = c.sum()
    k = comps.shape[1]
    w = w0.copy()
    keep, spread = 1 - _SMOOTH, _SMOOTH / k
    for _ in range(20):
        p = w @ cp
        p *= keep
        p += spread
        ratio = c / p
        w = w * (keep * (cp @ ratio) + _SMOOTH * ratio.sum() / k) / n
        w /= w.sum()
    diff = (1 - _SMOOTH) * (cp[1:] - cp[0])
    base = (1 - _SMOOTH) * cp[0] + _SMOOTH / k

    def nll(f: FloatArray) -> float:
        return -float(c @ np.log(np.maximum(base + f @ diff, 1e-300))) / float(n)

    def feasible(f: FloatArray) -> FloatArray:
        f = np.maximum(f, 0.0)
        total = float(f.sum())
        return f / total if total > 1.0 else f

    f = feasible(w[1:])
    obj = nll(f)
    for _ in range(50):
        p = base + f @ diff
        grad = -(diff @ (c / p)) / n
        hess = (diff * (c / p**2)) @ diff.T / n
        free = ~((f <= 0.0) & (grad > 0.0))
        if not free.any():
            break
        step = np.zeros(2)
        if free.all():
            h = hess + _RIDGE
        else:
            h = hess[np.ix_(free, free)] + 1e-12 * np.eye(int(free.sum()))
        step[free] = np.linalg.solve(h, grad[free])
        t = 1.0
        while True:
            cand = feasible(f - t * step)
            new = nll(cand)
            if new <= obj or t < 1e-8:
                break
            t /= 2
        moved = float(np.max(np.abs(cand - f)))
        if new <= obj:
            f, obj = cand, new
        if moved < 1e-10:
            break
    return np.array([1.0 - f.sum(), f[0], f[1]])


def first_mode(x: FloatArray, *, bins: int = 1000) -> tuple[float, bool]:
    """First local maximum above ``MODE_FLOOR`` of the smoothed density of ``x`` in [0, 1].

    The density is a fine histogram smoothed with a Gaussian of Silverman's bandwidth
    (at least 0.005); a maximum is refined by a parabola through its neighbours. Returns
    (mode, found): ``found`` is False when the density has no local maximum above the
    floor of at least a tenth of its highest value (then the global maximum is returned).
    """
    h = np.bincount(np.minimum((x * bins).astype(np.int64), bins - 1), minlength=bins)
    q75, q25 = np.percentile(x, [75, 25]) if x.size else (0.0, 0.0)
    spread = min(float(np.std(x)), float(q75 - q25) / 1.34) if x.size > 1 else 0.0
    bandwidth = max(0.9 * spread * max(x.size, 1) ** -0.2, 0.005)
    d = ndimage.gaussian_filter1d(h.astype(np.float64), sigma=bandwidth * bins, mode="nearest")
    centres = (np.arange(bins) + 0.5) / bins
    top = float(d.max())
    left = np.concatenate(([-np.inf], d[:-1]))
    right = np.concatenate((d[1:], [-np.inf]))
    peaks = np.flatnonzero((d > left) & (d >= right) & (centres > MODE_FLOOR) & (d >= 0.1 * top))
    found = peaks.size > 0
    k = int(peaks[0]) if found else int(np.argmax(d))
    mode = float(centres[k])
    if 0 < k < bins - 1:
        a, b, c = d[k - 1], d[k], d[k + 1]
        denom = a - 2 * b + c
        if denom < 0:
            mode += float(0.5 * (a - c) / denom) / bins
    return mode, found


Variance = FloatArray | Callable[[npt.NDArray[np.bool_]], FloatArray]


def _clean_part(
    t: FloatArray, s: FloatArray, var_t: Variance, var_s: Variance
) -> tuple[float, float, float, float, list[str]]:
    """Location (first marginal modes above 0.3) and spread below it: τ, ν, σ_τ, σ_ν, notes.

    ``var_t``, ``var_s``: the binomial variance of each station, or a function giving it for
    the stations of a mask (computed for those only).
    Raises :class:`ImplausibleModeError` when a mode is at or above ``MODE_CEILING``.
    """
    notes: list[str] = []
    out = []
    for name, x, var in (("turnout", t, var_t), ("leader share", s, var_s)):
        mode, found = first_mode(x)
        if not found:
            notes.append(
                f"the {name} density has no local maximum above {MODE_FLOOR}; its global "
                f"maximum {mode:.3f} is used as the clean mode"
            )
        if mode >= MODE_CEILING:
            raise ImplausibleModeError(
                f"the clean {name} mode is at {mode:.3f} (>= {MODE_CEILING}): the densest "
                "part of the data is the fully stuffed corner, not an honest peak, so a "
                "Klimek fit would be meaningless; look at the fingerprint plot instead"
            )
        below = x < mode
        if np.count_nonzero(below) < 10:
            notes.append(f"fewer than 10 stations below the {name} mode: its spread is 0.05")
            out.append((mode, 0.05))
            continue
        var_below = var(below) if callable(var) else var[below]
        v = float(np.mean((x[below] - mode) ** 2) - np.mean(var_below))
        sd = float(np.sqrt(max(v, 1e-6)))
        if not SD_BOUNDS[0] < sd < SD_BOUNDS[1]:
            notes.append(
                f"the {name} spread {sd:.4f} is clipped to [{SD_BOUNDS[0]}, {SD_BOUNDS[1]}]"
            )
        out.append((mode, float(np.clip(sd, *SD_BOUNDS))))
    return out[0][0], out[1][0], out[0][1], out[1][1], notes


@dataclass(frozen=True)
class _SampleFit:
    f_i: float
    f_e: float
    theta: float
    loglik: float
    clean: tuple[float, float, float, float]  # tau, nu, sd_tau, sd_nu
    notes: tuple[str, ...]
    #: (f_i, f_e) refitted with the clean part corrected for the fraud's pull on it
    corrected: tuple[float, float]


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What one fit needs from its sample: the clean part, the histogram and the random
    draws of its simulated stations (every use of the generator, so that the fits
    themselves can run in any order, or at once)."""

    observed: FloatArray  # tau, nu, sd_tau, sd_nu
    notes: tuple[str, ...]
    counts: FloatArray
    u_t: FloatArray
    u_s: FloatArray
    n_sim: FloatArray
    z_t: FloatArray
    z_s: FloatArray
    u_x: FloatArray
    u_e: FloatArray
    u_k: FloatArray


def _prepare_sample(
    t: FloatArray,
    s: FloatArray,
    sizes: IntArray | FloatArray,
    *,
    bins: int,
    m: int,
    rng: np.random.Generator,
) -> _Prepared:
    """The sample's clean part and histogram, and the draws of its fit (see _fit_sample);
    ``sizes`` may be given as floats already."""
    nsz = np.asarray(sizes, dtype=np.float64)

    def var_t(below: npt.NDArray[np.bool_]) -> FloatArray:
        tb = t[below]
        out: FloatArray = tb * (1 - tb) / nsz[below]
        return out

    def var_s(below: npt.NDArray[np.bool_]) -> FloatArray:
        sb = s[below]
        out: FloatArray = sb * (1 - sb) / np.maximum(t[below] * nsz[below], 1.0)
        return out

    # the variances of the stations below each mode only (the same values as computing
    # them for every station and then selecting)
    tau_m, nu_m, sd_t, sd_s, notes = _clean_part(t, s, var_t, var_s)
    idx = np.minimum((t * bins).astype(np.int64), bins - 1) * bins + np.minimum(
        (s * bins).astype(np.int64), bins - 1
    )
    counts = np.bincount(idx, minlength=bins * bins).astype(np.float64)
    u_t, u_s = rng.random(m), rng.random(m)
    n_sim = rng.choice(nsz, size=m)
    z_t = rng.standard_normal(m) / np.sqrt(n_sim)
    z_s = rng.standard_normal(m) / np.sqrt(n_sim)
    u_x = rng.random(m)
    u_e = rng.random(m)
    u_k = rng.random(m)
    return _Prepared(
        np.array([tau_m, nu_m, sd_t, sd_s]),
        tuple(notes),
        counts,
        u_t,
        u_s,
        n_sim,
        z_t,
        z_s,
        u_x,
        u_e,
        u_k,
    )


def _fit_sample(
    t: FloatArray,
    s: FloatArray,
    sizes: IntArray,
    *,
    bins: int,
    m: int,
    alpha: float,
    thetas: tuple[float, ...],
    rng: np.random.Generator,
    corrections: int = CORRECTIONS,
) -> _SampleFit:
    """One fit: clean part, then (f_i, f_e) for each θ of the grid, then θ refined.

    With ``corrections`` > 0 the clean part is then corrected for the fraud's pull on it:
    the clean-part rule is applied to the fitted model's own stations, and the location and
    spreads are moved by the difference to what the rule gives on the data, then the
    fraud fractions are fitted again.
    """
    prepared = _prepare_sample(t, s, sizes, bins=bins, m=m, rng=rng)
    return _fit_prepared(prepared, bins=bins, alpha=alpha, thetas=thetas, corrections=corrections)


def _fit_prepared(
    prepared: _Prepared,
    *,
    bins: int,
    alpha: float,
    thetas: tuple[float, ...],
    corrections: int = CORRECTIONS,
) -> _SampleFit:
    """The fit of :func:`_fit_sample` on a prepared sample (uses no generator)."""
    p = prepared
    observed = p.observed
    tau_m, nu_m, sd_t, sd_s = (float(x) for x in observed)
    notes = list(p.notes)
    counts = p.counts
    u_t, u_s, n_sim, z_t, z_s, u_x, u_e, u_k = (
        p.u_t,
        p.u_s,
        p.n_sim,
        p.z_t,
        p.z_s,
        p.u_x,
        p.u_e,
        p.u_k,
    )
    m = u_t.size
    grid = sorted(thetas)
    start = np.array([0.8, 0.15, 0.05])
    incremental: dict[float, FloatArray] = {}

    def fraud(theta: float) -> FloatArray:
        """The incremental fraud draws for ``theta`` (the same in every fit_at below)."""
        x = incremental.get(theta)
        if x is None:
            x = incremental[theta] = half_normal(u_x, theta)
        return x

    def fit_at(
        clean_part: FloatArray,
    ) -> tuple[tuple[float, float, float, float], Callable[[FloatArray], tuple[FloatArray, ...]]]:
        tau = truncated_normal(u_t, float(clean_part[0]), float(clean_part[2]))
        nu = truncated_normal(u_s, float(clean_part[1]), float(clean_part[3]))

        # klimek_shares(tau, nu, x, alpha) with the terms that do not depend on x computed
        # once (the same operations in the same order, so the same values)
        rest_tau, tau_nu, rest_nu = 1.0 - tau, tau * nu, 1.0 - nu

        def points(x: FloatArray) -> tuple[FloatArray, FloatArray]:
            moved = x * rest_tau
            tt = tau + moved
            w = tau_nu + moved
            w += x**alpha * rest_nu * tau
            with np.errstate(invalid="ignore", divide="ignore"):
                ss = np.where(tt > 0, w / tt, nu)
            np.minimum(np.maximum(ss, 0.0, out=ss), 1.0, out=ss)
            noise = tt * (1 - tt)
            np.sqrt(noise, out=noise)
            noise *= z_t
            tt += noise
            np.minimum(np.maximum(tt, 0.0, out=tt), 1.0, out=tt)
            noise = ss * (1 - ss)
            noise /= np.maximum(tt, 1e-3)
            np.sqrt(noise, out=noise)
            noise *= z_s
            ss += noise
            np.minimum(np.maximum(ss, 0.0, out=ss), 1.0, out=ss)
            return tt, ss

        x_e = 1.0 - half_normal(u_e, EXTREME_SD)
        clean = _soft_hist(*points(np.zeros(m)), bins)
        extreme = _soft_hist(*points(x_e), bins)

        def at(theta: float) -> tuple[float, float, float]:
            comps = np.stack([clean, _soft_hist(*points(fraud(theta)), bins), extreme])
            w = _mixture_weights(counts, comps, start)
            return float(w[1]), float(w[2]), _loglik(counts, comps, w)

        results = [at(th) for th in grid]
        k = int(np.argmax([r[2] for r in results]))
        best = (*results[k][:2], grid[k], results[k][2])
        if len(grid) > 1:
            lo = grid[max(k - 1, 0)]
            hi = grid[min(k + 1, len(grid) - 1)]
            found = optimize.minimize_scalar(
                lambda th: -at(float(th))[2],
                bounds=(lo, hi),
                method="bounded",
                options={"xatol": 1e-3 * (hi - lo)},
            )
            th = float(found.x)
            fi, fe, ll = at(th)
            if ll > best[3]:
                best = (fi, fe, th, ll)

        def model_points(f: FloatArray) -> tuple[FloatArray, ...]:
            x = np.where(u_k < f[0], fraud(best[2]), 0.0)
            x = np.where(u_k > 1.0 - f[1], x_e, x)
            tt, ss = points(x)
            return tt, ss, tt * (1 - tt) / n_sim, ss * (1 - ss) / np.maximum(tt * n_sim, 1.0)

        return best, model_points

    params = observed
    best, model_points = fit_at(params)
    first = best
    for _ in range(corrections):
        try:
            implied = np.array(_clean_part(*model_points(np.array(best[:2])))[:4])
        except ImplausibleModeError:
            break
        moved = np.clip(params + observed - implied, 0.0, 1.0)
        moved[2:] = np.clip(moved[2:], *SD_BOUNDS)
        params = moved
        best, model_points = fit_at(params)
    return _SampleFit(
        f_i=first[0],
        f_e=first[1],
        theta=first[2],
        loglik=first[3],
        clean=(tau_m, nu_m, sd_t, sd_s),
        notes=tuple(notes),
        corrected=(best[0], best[1]),
    )


def _bound_warnings(
    f_i: float,
    f_e: float,
    theta: float,
    grid: tuple[float, ...],
    intervals: tuple[tuple[float, float], tuple[float, float]],
) -> list[str]:
    out = []
    eps = 1e-6
    lo_g, hi_g = min(grid), max(grid)
    if len(grid) > 1 and (theta <= lo_g * (1 + 1e-3) or theta >= hi_g * (1 - 1e-3)):
        out.append(
            f"θ = {theta:.3g} is at the edge of its grid [{lo_g}, {hi_g}]: widen the grid "
            "(--theta-grid); f_i depends on that choice"
        )
    if f_i > eps and theta < WEAK_THETA:
        out.append(
            f"θ = {theta:.3g} is small: incremental fraud this narrow looks like the clean "
            "blob shifted slightly, so f_i is weakly identified (it can be above 0 on a clean "
            "election)"
        )
    if f_i <= eps:
        out.append("f_i is at its lower bound 0")
    if f_e <= eps:
        out.append("f_e is at its lower bound 0")
    if f_i + f_e >= 1 - eps:
        out.append("f_i + f_e is at its upper bound 1: no clean stations left in the model")
    for name, est, (a, b) in (("f_i", f_i, intervals[0]), ("f_e", f_e, intervals[1])):
        if b - a > eps and (est <= a + eps or est >= b - eps):
            out.append(
                f"{name} = {est:.4f} is at the edge of its own bootstrap interval "
                f"[{a:.4f}, {b:.4f}]: the estimate is unstable or biased"
            )
    return out


def fit_klimek(
    voters: npt.ArrayLike,
    ballots: npt.ArrayLike,
    leader: npt.ArrayLike,
    *,
    seed: Seed,
    received: npt.ArrayLike | None = None,
    alpha: float = 2.0,
    bins: int = 50,
    sim_stations: int = 20_000,
    bootstrap: int = 50,
    confidence: float = 0.95,
    thetas: tuple[float, ...] = THETA_GRID,
) -> KlimekFit:
    """Fit f_i and f_e of the Klimek model to station counts (see module docstring).

    Stations with fewer than 100 voters or no ballots are left out, as in the model.
    Turnout is ``ballots/voters``, the share ``leader/received`` (``ballots`` if omitted).
    Raises :class:`ImplausibleModeError` (a ``ValueError``) when the clean mode is at the
    stuffed corner.
    """
    t, s, ok = station_ratios(voters, ballots, leader, received)
    v = as_int_array(voters, "voters")
    use = ok & (v >= 100)
    t, s, sizes = t[use], s[use], v[use]
    n = int(t.size)
    if n < 50:
        raise ValueError(f"need at least 50 stations with >= 100 voters to fit, got {n}")
    if bootstrap < 1:
        raise ValueError("bootstrap must be at least 1")
    if not thetas or any(not 0 < th <= 10 for th in thetas):
        raise ValueError("the θ grid needs at least one value, each in (0, 10]")
    grid = tuple(sorted(set(thetas)))
    rng = as_rng(seed)

    float_sizes = sizes.astype(np.float64)

    def prepare(pick: IntArray | slice) -> _Prepared:
        return _prepare_sample(
            t[pick], s[pick], float_sizes[pick], bins=bins, m=sim_stations, rng=rng
        )

    def fit(prepared: _Prepared) -> _SampleFit:
        return _fit_prepared(prepared, bins=bins, alpha=alpha, thetas=grid)

    boot = np.empty((bootstrap, 4))
    refused = 0
    # The generator is used only while preparing a sample, in this thread and in the same
    # order as one fit after the other; the fits (most of the work, independent of the
    # number of stations) run on two threads meanwhile: the same numbers, sooner.
    with ThreadPoolExecutor(max_workers=2) as pool:
        main_fit = pool.submit(fit, prepare(slice(None)))
        fits: list[tuple[int, Future[_SampleFit]]] = []
        for b in range(bootstrap):
            try:
                prepared = prepare(rng.integers(0, n, n))
            except ImplausibleModeError:
                refused += 1
                boot[b] = np.nan
                continue
            fits.append((b, pool.submit(fit, prepared)))
        main = main_fit.result()
        for b, future in fits:
            rep = future.result()
            boot[b] = rep.f_i, rep.f_e, *rep.corrected
    tau_m, nu_m, sd_t, sd_s = main.clean
    lo, hi = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    if refused < bootstrap:
        both = np.nanquantile(boot, [lo, hi], axis=0)
        # the hull of the two estimators' percentile intervals (see the module docstring)
        q = np.stack([np.minimum(both[0, :2], both[0, 2:]), np.maximum(both[1, :2], both[1, 2:])])
    else:
        q = np.full((2, 2), np.nan)
    f_i_interval = (float(q[0, 0]), float(q[1, 0]))
    f_e_interval = (float(q[0, 1]), float(q[1, 1]))
    warnings = list(main.notes)
    warnings += _bound_warnings(main.f_i, main.f_e, main.theta, grid, (f_i_interval, f_e_interval))
    if refused:
        warnings.append(
            f"{refused} of {bootstrap} bootstrap replicates put the clean mode in the stuffed "
            "corner and were left out of the interval"
        )
    edge = len(grid) > 1 and (
        main.theta <= grid[0] * (1 + 1e-3) or main.theta >= grid[-1] * (1 - 1e-3)
    )
    return KlimekFit(
        f_i=main.f_i,
        f_e=main.f_e,
        f_i_interval=f_i_interval,
        f_e_interval=f_e_interval,
        turnout_mean=tau_m,
        turnout_sd=sd_t,
        share_mean=nu_m,
        share_sd=sd_s,
        theta=main.theta,
        alpha=alpha,
        loglik=main.loglik,
        stations=n,
        confidence=confidence,
        bootstrap=bootstrap,
        theta_at_grid_edge=edge,
        warnings=tuple(warnings),
        theta_grid=grid,
    )
