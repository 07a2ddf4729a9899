"""Measured risk after a round and the size of the next one (math in :mod:`secki.stats`).

* MACRO: every draw so far, in draw order, with its station's agreed hand count: taint
  t = e/u, P = Π (1 − 1/U)/(1 − t). Confirmed when P ≤ α.
* BRAVO: every drawn ballot, in draw order: T per winner–loser pair; risk max 1/T.
  Confirmed when every T ≥ 1/α.

When not confirmed, the next round is the number of further draws that would reach the limit
if they found no error (MACRO: ⌈ln(α/P)/ln(1 − 1/U)⌉; BRAVO: (ln(1/α) − ln T) divided by the
expected gain per ballot of the worst pair at the reported shares), at least the last round's
size. The audit goes to a full hand count instead when the round limit is reached, when a
draw's taint reaches 1 (MACRO: no further sample can then confirm), or when the next round
would exceed the manifest (MACRO: its stations; BRAVO: half its ballots).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from secki.stats.bravo import BravoAudit, bravo_sample_size
from secki.stats.macro import macro_draw_taints, macro_initial_sample_size, macro_pvalue_of


@dataclass(frozen=True)
class Measured:
    confirmed: bool
    risk: float
    figures: dict[str, Any] = field(default_factory=dict)


def macro_pairs(
    candidates: Sequence[str], totals: Mapping[str, int], winners: Sequence[str]
) -> list[tuple[int, int, int]]:
    col = {c: i for i, c in enumerate(candidates)}
    return [
        (col[w], col[lo], totals[w] - totals[lo])
        for w in winners
        for lo in candidates
        if lo not in winners
    ]


def macro_measure(
    *,
    candidates: Sequence[str],
    totals: Mapping[str, int],
    winners: Sequence[str],
    total_error_bound: float,
    reported: Sequence[Mapping[str, int]],
    audited: Sequence[Mapping[str, int]],
    bounds: Sequence[float],
    alpha: float,
) -> Measured:
    """``reported``/``audited``/``bounds``: one per draw, in draw order."""
    rep = np.array([[r.get(c, 0) for c in candidates] for r in reported], dtype=np.int64)
    aud = np.array([[a.get(c, 0) for c in candidates] for a in audited], dtype=np.int64)
    rep = rep.reshape(len(reported), len(candidates))
    aud = aud.reshape(len(audited), len(candidates))
    pairs = macro_pairs(candidates, totals, winners)
    taints = macro_draw_taints(rep, aud, list(bounds), pairs)
    p = macro_pvalue_of(total_error_bound, taints)
    return Measured(
        confirmed=p <= alpha,
        risk=p,
        figures={
            "method": "MACRO",
            "draws": len(taints),
            "pvalue": p,
            "max_taint": float(taints.max()) if taints.size else 0.0,
            "taint_at_least_1": bool(taints.size and float(taints.max()) >= 1),
            "discrepant_draws": int((taints > 0).sum()),
        },
    )


def macro_next_size(total_error_bound: float, pvalue: float, alpha: float) -> int:
    if pvalue <= alpha:
        return 0
    return math.ceil(math.log(alpha / pvalue) / math.log(1 - 1 / total_error_bound))


def bravo_measure(
    *,
    totals: Mapping[str, int],
    ballots: int,
    winners: int,
    sample: Sequence[str | None],
    alpha: float,
) -> Measured:
    audit = BravoAudit(totals, alpha=alpha, total_ballots=ballots, winners=winners)
    for vote in sample:
        audit.observe(vote)
    result = audit.result()
    return Measured(
        confirmed=result.confirmed,
        risk=result.risk,
        figures={
            "method": "BRAVO",
            "draws": result.draws,
            # ln T per winner>loser pair (T itself may exceed a double, and JSON has no ∞)
            "log_statistics": {f"{w}>{lo}": v for (w, lo), v in audit.log_t.items()},
            "risk": result.risk,
        },
    )


def bravo_next_size(
    totals: Mapping[str, int],
    ballots: int,
    winners: int,
    log_statistics: Mapping[str, float],
    alpha: float,
) -> int | None:
    """Ballots still needed by the worst pair at the reported shares (None: cannot gain)."""
    need = 0
    for pair, log_t in log_statistics.items():
        w, lo = pair.split(">", 1)
        p_w, p_l = totals[w] / ballots, totals[lo] / ballots
        s = p_w / (p_w + p_l)
        gain = p_w * math.log(2 * s) + (p_l * math.log(2 - 2 * s) if p_l > 0 else 0.0)
        missing = math.log(1 / alpha) - log_t
        if missing <= 0:
            continue
        if gain <= 0:
            return None
        need = max(need, math.ceil(missing / gain))
    return need


def initial_size(
    kind: str,
    *,
    totals: Mapping[str, int],
    ballots: int,
    winners: int,
    total_error_bound: float | None,
    alpha: float,
) -> int:
    """Round 1: MACRO ⌈ln α/ln(1 − 1/U)⌉, BRAVO the ASN of the worst pair."""
    if kind == "macro":
        assert total_error_bound is not None
        return macro_initial_sample_size(total_error_bound, alpha=alpha)
    return bravo_sample_size(totals, alpha=alpha, total_ballots=ballots, winners=winners).asn
