"""Batch-comparison risk-limiting audit with the MACRO bound and PPEB sampling.

Stark, P. B. (2008). *A sharper discrepancy measure for post-election audits.* Annals of
Applied Statistics 2(3), 982–985 (MACRO); Stark, P. B. (2009). *Risk-limiting
postelection audits: conservative P-values from common probability inequalities.* IEEE
Transactions on Information Forensics and Security 4(4), 1005–1014 (PPEB sampling).

A batch is one station's protocol. For batch p and every reported winner w, loser ℓ with
margin V_wℓ (votes): maximum overstatement u_p = max_{w,ℓ} [(v_wp − v_ℓp) + b_p]/V_wℓ
(b_p ballots in the batch), U = Σ u_p. Batches are drawn with replacement with probability
u_p/U (PPEB) from a public seed (:func:`secki.stats.sampling.sample_with_replacement`). Each
drawn batch is hand-counted: e_p = max_{w,ℓ} [(v_wp − v_ℓp) − (a_wp − a_ℓp)]/V_wℓ (negative
→ 0), taint t_p = e_p/u_p, and P = Π over draws (1 − 1/U)/(1 − t_p); stop when P <= α.
With no errors the initial sample is n = ⌈ln α / ln(1 − 1/U)⌉.

Example
-------
>>> [macro_initial_sample_size(u, alpha=0.1) for u in (5, 10, 20, 50)]
[11, 22, 45, 114]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secki.stats._common import FloatArray, as_int_array
from secki.stats.sampling import sample_with_replacement

CITATION = "Stark (2008) AOAS 2(3):982-985 (MACRO); Stark (2009) IEEE TIFS 4(4):1005-1014 (PPEB)"


def macro_initial_sample_size(total_error_bound: float, *, alpha: float) -> int:
    """Draws needed if no errors are found: ⌈ln α / ln(1 − 1/U)⌉."""
    if total_error_bound <= 1:
        raise ValueError("U must exceed 1 (otherwise no batch can change the outcome)")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    return math.ceil(math.log(alpha) / math.log(1 - 1 / total_error_bound))


def _margins(
    reported: Mapping[str, npt.ArrayLike], winners: Sequence[str]
) -> tuple[dict[str, npt.NDArray[np.int64]], list[tuple[str, str, int]]]:
    rep = {c: as_int_array(v, f"reported[{c}]") for c, v in reported.items()}
    sizes = {v.size for v in rep.values()}
    if len(sizes) != 1:
        raise ValueError("every candidate needs one count per batch")
    unknown = set(winners) - set(rep)
    if unknown or not winners:
        raise ValueError(f"winners must be reported candidates (unknown: {sorted(unknown)})")
    losers = [c for c in rep if c not in winners]
    pairs = []
    for w in winners:
        for lo in losers:
            margin = int(rep[w].sum() - rep[lo].sum())
            if margin <= 0:
                raise ValueError(f"winner {w!r} does not lead {lo!r}")
            pairs.append((w, lo, margin))
    return rep, pairs


def macro_error_bounds(
    reported: Mapping[str, npt.ArrayLike],
    ballots: npt.ArrayLike,
    winners: Sequence[str],
) -> FloatArray:
    """u_p for every batch (reported votes per candidate and ballots per batch)."""
    rep, pairs = _margins(reported, winners)
    b = as_int_array(ballots, "ballots")
    u = np.full(b.size, -np.inf)
    for w, lo, margin in pairs:
        u = np.maximum(u, ((rep[w] - rep[lo]) + b) / margin)
    result: FloatArray = u
    return result


def macro_taint(
    reported: Mapping[str, npt.ArrayLike],
    audited: Mapping[str, int],
    batch: int,
    winners: Sequence[str],
    bound: float,
) -> float:
    """t_p = e_p/u_p for one hand-counted batch (``audited`` votes per candidate)."""
    rep, pairs = _margins(reported, winners)
    e = max(
        ((rep[w][batch] - rep[lo][batch]) - (audited.get(w, 0) - audited.get(lo, 0))) / m
        for w, lo, m in pairs
    )
    return max(0.0, float(e)) / bound


@dataclass(frozen=True)
class MacroResult:
    confirmed: bool
    pvalue: float
    draws: int
    total_error_bound: float
    taints: tuple[float, ...]
    initial_sample_size: int
    alpha: float
    method: str = "MACRO batch-comparison audit with PPEB sampling"
    citation: str = CITATION


def macro_pvalue(total_error_bound: float, taints: Sequence[float]) -> float:
    """P = Π (1 − 1/U)/(1 − t_p) (1 when a taint reaches 1: that draw proves nothing)."""
    p = 1.0
    for t in taints:
        if t >= 1:
            return 1.0
        p *= (1 - 1 / total_error_bound) / (1 - t)
    return min(1.0, p)


def ppeb_draws(bounds: npt.ArrayLike, n: int, *, seed: str | int, first: int = 1) -> list[int]:
    """Batch indices of ``n`` PPEB draws (probability u_p/U) from the public seed (draws
    ``first`` … ``first + n - 1``)."""
    return sample_with_replacement(bounds, n, seed=seed, first=first)


def macro_audit(
    reported: Mapping[str, npt.ArrayLike],
    ballots: npt.ArrayLike,
    winners: Sequence[str],
    draws: Sequence[int],
    audited: Mapping[int, Mapping[str, int]],
    *,
    alpha: float,
) -> MacroResult:
    """Evaluate the hand counts of drawn batches in draw order; stop once P <= α.

    ``draws`` are batch indices (e.g. from :func:`ppeb_draws`), ``audited[batch]`` the hand
    count of each drawn batch.
    """
    u = macro_error_bounds(reported, ballots, winners)
    big_u = float(u.sum())
    taints: list[float] = []
    p = 1.0
    for batch in draws:
        if batch not in audited:
            raise ValueError(f"batch {batch} was drawn but has no hand count")
        taints.append(macro_taint(reported, audited[batch], batch, winners, float(u[batch])))
        p = macro_pvalue(big_u, taints)
        if p <= alpha:
            break
    return MacroResult(
        confirmed=p <= alpha,
        pvalue=p,
        draws=len(taints),
        total_error_bound=big_u,
        taints=tuple(taints),
        initial_sample_size=macro_initial_sample_size(big_u, alpha=alpha),
        alpha=alpha,
    )


def macro_draw_taints(
    reported: npt.ArrayLike,
    audited: npt.ArrayLike,
    bounds: npt.ArrayLike,
    pairs: Sequence[tuple[int, int, int]],
) -> FloatArray:
    """t_p of many hand-counted draws at once: ``reported`` and ``audited`` are draws ×
    candidates, ``bounds`` the drawn batches' u_p, ``pairs`` (winner column, loser column,
    margin V_wℓ) of every reported winner–loser pair."""
    rep = np.asarray(reported, dtype=np.int64)
    aud = np.asarray(audited, dtype=np.int64)
    u = np.asarray(bounds, dtype=np.float64)
    if rep.shape != aud.shape or rep.ndim != 2 or u.shape != (rep.shape[0],):
        raise ValueError("reported and audited need one row per draw, bounds one value per draw")
    if not pairs:
        raise ValueError("need at least one winner-loser pair")
    e = np.zeros(rep.shape[0])
    for w, lo, margin in pairs:
        if margin <= 0:
            raise ValueError("every margin must be positive")
        e = np.maximum(e, ((rep[:, w] - rep[:, lo]) - (aud[:, w] - aud[:, lo])) / margin)
    out: FloatArray = e / u
    return out


def macro_pvalue_of(total_error_bound: float, taints: npt.ArrayLike) -> float:
    """:func:`macro_pvalue` over an array of taints, summed in logs (no underflow)."""
    t = np.asarray(taints, dtype=np.float64)
    if t.size and float(t.max()) >= 1:
        return 1.0
    log_p = t.size * math.log(1 - 1 / total_error_bound) - float(np.log1p(-t).sum())
    return min(1.0, math.exp(log_p))
