"""Per-station risk score: several forensic signals combined, with a reason per station.

Signals (each cited in its own module): integer-percentage leader share or turnout (Kobak,
Shpilkin & Pshenichnikov 2016), turnout ≥ 95 % together with leader share ≥ 95 % (Klimek
et al. 2012), turnout and leader share far above their group's median (robust z-score with
the median absolute deviation), and protocols whose numbers contradict each other (more
ballots issued than registered voters, more leader votes than ballots in boxes).

A high score says "look at this protocol first", not "this station cheated": honest stations
hit round percentages and high turnouts too. The score is the sum of the weights of the
signals a station shows, so every point of it is explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secki.stats._common import BoolArray, FloatArray, as_int_array, group_labels
from secki.stats.integer_percentages import is_integer_percentage

CITATION = (
    "Kobak, Shpilkin & Pshenichnikov (2016) AOAS 10(1); Klimek, Yegorov, Hanel & Thurner "
    "(2012) PNAS 109(41)"
)

WEIGHTS: dict[str, float] = {
    "integer_leader_share": 1.0,
    "integer_turnout": 1.0,
    "high_high": 3.0,
    "turnout_outlier": 1.5,
    "share_outlier": 1.5,
    "inconsistent": 2.0,
}


@dataclass(frozen=True, eq=False)
class RiskResult:
    """``scores[i]`` and ``explanations[i]`` for input station i; ``signals`` by name."""

    scores: FloatArray
    explanations: tuple[tuple[str, ...], ...]
    signals: dict[str, BoolArray]
    weights: dict[str, float]
    outlier_z: float
    method: str = "sum of weighted forensic signals per station"
    citation: str = CITATION

    def top(self, k: int = 20) -> list[int]:
        """Indices of the ``k`` highest-scoring stations with a positive score."""
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [int(i) for i in order if self.scores[i] > 0]


def _robust_z(x: FloatArray, labels: npt.NDArray[np.str_], ok: BoolArray) -> FloatArray:
    z = np.zeros(x.size)
    rows = np.flatnonzero(ok)
    names, inverse = np.unique(labels[rows], return_inverse=True)
    # each group's stations in input order, from one stable sort (not a pass per group)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(names) + 1))
    for k in range(len(names)):
        sel = rows[order[bounds[k] : bounds[k + 1]]]
        vals = x[sel]
        med = float(np.median(vals))
        mad = 1.4826 * float(np.median(np.abs(vals - med)))
        if mad > 0:
            z[sel] = (vals - med) / mad
    return z


def risk_scores(
    voters: npt.ArrayLike,
    given: npt.ArrayLike,
    received: npt.ArrayLike,
    leader: npt.ArrayLike,
    *,
    groups: Sequence[str] | npt.ArrayLike | None = None,
    outlier_z: float = 4.0,
    weights: dict[str, float] | None = None,
) -> RiskResult:
    """Score every station; ``groups`` sets the reference for the outlier signals."""
    v = as_int_array(voters, "voters")
    g = as_int_array(given, "given")
    r = as_int_array(received, "received")
    ld = as_int_array(leader, "leader")
    labels = group_labels(groups, v.size)
    w = dict(WEIGHTS if weights is None else weights)
    ok_t = v > 0
    ok_s = r > 0
    turnout = np.where(ok_t, g / np.where(ok_t, v, 1), 0.0)
    share = np.where(ok_s, ld / np.where(ok_s, r, 1), 0.0)
    usable = ok_t & ok_s & (v >= 100)
    sig: dict[str, BoolArray] = {
        # as in the integer test, 100 % (and anything above 99 %) is not counted as "round"
        "integer_leader_share": usable
        & (100 * ld <= 99 * r)
        & is_integer_percentage(ld, np.where(ok_s, r, 1)),
        "integer_turnout": usable
        & (100 * g <= 99 * v)
        & is_integer_percentage(g, np.where(ok_t, v, 1)),
        "high_high": ok_t & ok_s & (turnout >= 0.95) & (share >= 0.95),
        "inconsistent": (ok_t & (g > v)) | (ld > r),
    }
    zt = _robust_z(turnout, labels, usable)
    zs = _robust_z(share, labels, usable)
    sig["turnout_outlier"] = usable & (zt >= outlier_z)
    sig["share_outlier"] = usable & (zs >= outlier_z)
    scores = np.zeros(v.size)
    for name, mask in sig.items():
        scores += w.get(name, 0.0) * mask
    texts: list[tuple[str, ...]] = []
    for i in range(v.size):
        if scores[i] == 0:
            texts.append(())
            continue
        why: list[str] = []
        if sig["high_high"][i]:
            why.append(
                f"turnout {100 * turnout[i]:.1f} % and leader share {100 * share[i]:.1f} %"
                " both >= 95 %"
            )
        if sig["integer_leader_share"][i]:
            why.append(f"leader share is a whole percentage ({100 * share[i]:.2f} %)")
        if sig["integer_turnout"][i]:
            why.append(f"turnout is a whole percentage ({100 * turnout[i]:.2f} %)")
        if sig["turnout_outlier"][i]:
            why.append(f"turnout {zt[i]:.1f} robust SDs above the median of {labels[i]}")
        if sig["share_outlier"][i]:
            why.append(f"leader share {zs[i]:.1f} robust SDs above the median of {labels[i]}")
        if sig["inconsistent"][i]:
            why.append(
                f"protocol inconsistent: issued {g[i]} of {v[i]} registered, leader {ld[i]}"
                f" of {r[i]} in boxes"
            )
        texts.append(tuple(why))
    return RiskResult(
        scores=scores, explanations=tuple(texts), signals=sig, weights=w, outlier_z=outlier_z
    )
