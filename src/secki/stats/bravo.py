"""BRAVO ballot-polling risk-limiting audit (two-candidate, multi-candidate, majority).

Lindeman, M., Stark, P. B. & Yates, V. S. (2012). *BRAVO: Ballot-polling risk-limiting
audits to verify outcomes.* EVT/WOTE '12.

For every reported winner w and loser ℓ, s = p_w/(p_w + p_ℓ) with shares of *all* ballots
(invalid included). T starts at 1; a ballot drawn (uniformly, with replacement) for w
multiplies T by s/0.5, one for ℓ by (1 − s)/0.5, any other leaves it. The outcome is
confirmed when T ≥ 1/α for every pair; the risk of a pair is min(1, 1/T).

Expected sample size (average sample number, Wald): ASN = [ln(1/α) + ln(2s)/2] /
[p_w ln(2s) + p_ℓ ln(2 − 2s)], for the worst pair.

Majority rule (w needs more than half of a base, e.g. the valid votes): the null "w got at
most 1/2 of the base" — a ballot for w multiplies T by s_w/0.5, a ballot in the base not for
w by (1 − s_w)/0.5, ballots outside the base leave T unchanged (s_w is w's reported share of
the base). For super-majorities the paper's section on them applies; this form is only for
a threshold of one half.

Example
-------
>>> bravo_asn(0.55, 0.45, alpha=0.10), bravo_asn(0.55, 0.45, alpha=0.05)
(470, 608)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MAX_LOG = 709.0
CITATION = "Lindeman, Stark & Yates (2012), BRAVO: ballot-polling risk-limiting audits, EVT/WOTE"


def bravo_asn(p_w: float, p_l: float, *, alpha: float) -> int:
    """Expected number of ballots to confirm w over ℓ (shares of all ballots), rounded up."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if p_w <= p_l or p_w <= 0 or p_l < 0 or p_w + p_l > 1 + 1e-12:
        raise ValueError("need p_w > p_l >= 0 and p_w + p_l <= 1")
    s = p_w / (p_w + p_l)
    num = math.log(1 / alpha) + math.log(2 * s) / 2
    den = p_w * math.log(2 * s) + (p_l * math.log(2 - 2 * s) if p_l > 0 else 0.0)
    return math.ceil(num / den)


def _pairs(votes: Mapping[str, int], winners: int) -> list[tuple[str, str]]:
    if winners < 1 or winners >= len(votes):
        raise ValueError("need at least one winner and one loser")
    ranked = sorted(votes, key=lambda c: (-votes[c], c))
    ws, ls = ranked[:winners], ranked[winners:]
    if votes[ws[-1]] == votes[ls[0]]:
        raise ValueError("a tie between a winner and a loser cannot be audited")
    return [(w, lo) for w in ws for lo in ls]


@dataclass(frozen=True)
class BravoPlan:
    asn: int
    worst_pair: tuple[str, str]
    per_pair: dict[str, int]
    alpha: float
    citation: str = CITATION


def bravo_sample_size(
    votes: Mapping[str, int],
    *,
    alpha: float,
    total_ballots: int | None = None,
    winners: int = 1,
) -> BravoPlan:
    """ASN of the worst winner–loser pair; shares are of ``total_ballots`` (Σ votes if None)."""
    total = sum(votes.values()) if total_ballots is None else total_ballots
    if total <= 0 or total < sum(votes.values()):
        raise ValueError("total_ballots must be at least the sum of the votes")
    per = {
        f"{w}>{lo}": bravo_asn(votes[w] / total, votes[lo] / total, alpha=alpha)
        for w, lo in _pairs(votes, winners)
    }
    worst = max(per, key=lambda k: per[k])
    w, lo = worst.split(">", 1)
    return BravoPlan(asn=per[worst], worst_pair=(w, lo), per_pair=per, alpha=alpha)


@dataclass(frozen=True)
class BravoResult:
    confirmed: bool
    #: max over pairs of min(1, 1/T)
    risk: float
    statistics: dict[str, float]
    draws: int
    alpha: float
    method: str = "BRAVO ballot-polling audit (sequential probability ratio test)"
    citation: str = CITATION


class BravoAudit:
    """Sequential BRAVO test; feed drawn ballots with :meth:`observe`."""

    def __init__(
        self,
        votes: Mapping[str, int],
        *,
        alpha: float,
        total_ballots: int | None = None,
        winners: int = 1,
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        total = sum(votes.values()) if total_ballots is None else total_ballots
        if total <= 0 or total < sum(votes.values()):
            raise ValueError("total_ballots must be at least the sum of the votes")
        self.alpha = alpha
        self.candidates = set(votes)
        self.pairs = _pairs(votes, winners)
        self.s = {(w, lo): votes[w] / (votes[w] + votes[lo]) for w, lo in self.pairs}
        self.log_t = dict.fromkeys(self.pairs, 0.0)
        self.draws = 0

    def observe(self, ballot: str | None) -> None:
        """One drawn ballot: a candidate's name, or None for anything else (blank, invalid)."""
        if ballot is not None and ballot not in self.candidates:
            raise ValueError(f"unknown candidate {ballot!r}")
        self.draws += 1
        for pair in self.pairs:
            w, lo = pair
            if ballot == w:
                self.log_t[pair] += math.log(self.s[pair] / 0.5)
            elif ballot == lo:
                self.log_t[pair] += math.log((1 - self.s[pair]) / 0.5)

    @property
    def confirmed(self) -> bool:
        threshold = math.log(1 / self.alpha)
        return all(v >= threshold - 1e-12 for v in self.log_t.values())

    def result(self) -> BravoResult:
        # T itself overflows a double past e^709 (thousands of ballots on a wide margin)
        stats = {
            f"{w}>{lo}": math.exp(v) if v < _MAX_LOG else math.inf
            for (w, lo), v in self.log_t.items()
        }
        risk = max(min(1.0, math.exp(-v)) for v in self.log_t.values())
        return BravoResult(
            confirmed=self.confirmed,
            risk=risk,
            statistics=stats,
            draws=self.draws,
            alpha=self.alpha,
        )


def bravo_test(
    votes: Mapping[str, int],
    sample: Iterable[str | None],
    *,
    alpha: float,
    total_ballots: int | None = None,
    winners: int = 1,
) -> BravoResult:
    """Run BRAVO over ``sample`` in order, stopping as soon as the outcome is confirmed."""
    audit = BravoAudit(votes, alpha=alpha, total_ballots=total_ballots, winners=winners)
    for ballot in sample:
        audit.observe(ballot)
        if audit.confirmed:
            break
    return audit.result()


def bravo_majority_test(
    share: float, sample: Iterable[bool | None], *, alpha: float
) -> BravoResult:
    """Majority rule: ``share`` is w's reported share of the base (> 1/2); ``sample`` holds
    True (ballot for w), False (in the base, not for w) or None (outside the base)."""
    if not 0.5 < share <= 1:
        raise ValueError("the reported share of the base must be above one half")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    log_t = 0.0
    draws = 0
    up = math.log(share / 0.5)
    down = math.log((1 - share) / 0.5) if share < 1 else -math.inf
    for ballot in sample:
        draws += 1
        if ballot is True:
            log_t += up
        elif ballot is False:
            log_t += down
        if log_t >= math.log(1 / alpha) - 1e-12:
            break
    return BravoResult(
        confirmed=log_t >= math.log(1 / alpha) - 1e-12,
        risk=min(1.0, math.exp(-log_t)) if log_t > -math.inf else 1.0,
        statistics={"majority": math.exp(log_t)},
        draws=draws,
        alpha=alpha,
        method="BRAVO majority-rule ballot-polling audit",
    )
