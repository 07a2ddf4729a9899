"""Digit tests on station counts: second-digit Benford, last digits, 0/5 shares, moments.

- Second-digit Benford's law (2BL): Mebane, W. R. (2006), *Election forensics: vote counts
  and Benford's law*, Political Methodology Summer Meeting; Mebane (2011), *Comment on
  "Benford's law and the detection of election fraud"*, Political Analysis 19(3), 269–272.
- Last digit, last-two-digits equal/adjacent: Beber, B. & Scacco, A. (2012), *What the
  numbers say: a digit-based test for election fraud*, Political Analysis 20(2), 211–234.
- C05s, P05s, skew and kurtosis of turnout as in Kalinin & Mebane's election forensics
  toolkit (EFToolkit), whose published Albania 2013 table these definitions reproduce.

Digit tests are weak evidence on their own (Mebane found them misleading on Russian data):
present them as signals, never as verdicts.

Example
-------
>>> round(float(second_digit_benford() @ range(10)), 3)
4.187
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from secki.stats._common import FloatArray, IntArray, Seed, as_int_array, as_rng, group_labels

CITATION = (
    "Mebane (2006, 2011) second-digit Benford; Beber & Scacco (2012), Political Analysis "
    "20(2):211-234; Kalinin & Mebane, EFToolkit (C05s, P05s, skew, kurtosis)"
)


def second_digit_benford() -> FloatArray:
    """P(second digit = d), d = 0..9: Σ_{k=1..9} log10(1 + 1/(10k + d))."""
    k = np.arange(1, 10)[:, None]
    d = np.arange(10)[None, :]
    probs: FloatArray = np.log10(1.0 + 1.0 / (10 * k + d)).sum(axis=0)
    return probs


SECOND_DIGIT_MEAN = float(second_digit_benford() @ np.arange(10))


def second_digits(counts: IntArray) -> IntArray:
    """Second significant digit of each count (counts must be >= 10)."""
    c = np.asarray(counts, dtype=np.int64)
    ndig = np.floor(np.log10(c)).astype(np.int64)  # number of digits - 1
    # Guard against floating-point error in log10 at exact powers of ten.
    ndig = np.where(10 ** (ndig + 1) <= c, ndig + 1, ndig)
    ndig = np.where(10**ndig > c, ndig - 1, ndig)
    result: IntArray = (c // 10 ** (ndig - 1)) % 10
    return result


@dataclass(frozen=True, eq=False)
class DigitTestResult:
    """Digit tests on one set of counts (one group, or all stations)."""

    stations: int
    #: 2BL over counts >= min_count: number used, mean with bootstrap CI, Pearson χ² (9 df).
    second_digit_n: int
    second_digit_mean: float
    second_digit_mean_ci: tuple[float, float]
    second_digit_chi2: float
    second_digit_pvalue: float
    second_digit_counts: tuple[int, ...]
    #: Last digit over counts >= min_count, against uniform (mean 4.5), χ² with 9 df.
    last_digit_n: int
    last_digit_mean: float
    last_digit_chi2: float
    last_digit_pvalue: float
    last_digit_counts: tuple[int, ...]
    #: Beber & Scacco: share of counts >= min_count whose last two digits are equal (0.1
    #: expected) or adjacent (|a − b| = 1 with 0 and 9 adjacent; 0.2 expected).
    last_two_equal: float
    last_two_adjacent: float
    #: Share of all counts ending in 0 or 5 (0.2 expected).
    c05s: float
    #: Share of round(100·min(count/registered, 1)) ending in 0 or 5; None without registered.
    p05s: float | None
    #: Skew and (non-excess) kurtosis of count/registered; None without registered.
    skew: float | None
    kurtosis: float | None
    #: Stations with registered > 0 used for p05s, skew and kurtosis.
    turnout_n: int
    confidence: float
    expected_second_digit_mean: float = SECOND_DIGIT_MEAN
    method: str = "digit tests (2BL, last digit, C05s, P05s, moments)"
    citation: str = CITATION
    second_digit_probabilities: tuple[float, ...] = field(
        default_factory=lambda: tuple(second_digit_benford().tolist())
    )


def _chi2(observed: IntArray, expected_probs: FloatArray) -> tuple[float, float]:
    n = int(observed.sum())
    if n == 0:
        return float("nan"), float("nan")
    expected = n * expected_probs
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    return chi2, float(sps.chi2.sf(chi2, df=len(expected_probs) - 1))


def digit_tests(
    counts: npt.ArrayLike,
    *,
    seed: Seed,
    registered: npt.ArrayLike | None = None,
    min_count: int = 10,
    bootstrap: int = 1000,
    confidence: float = 0.95,
) -> DigitTestResult:
    """Run the digit tests on station ``counts`` (e.g. ballots, or one party's votes).

    ``registered`` (same length) enables P05s, skew and kurtosis of ``counts/registered``;
    stations with ``registered == 0`` are left out of those three only.
    """
    c = as_int_array(counts, "counts")
    rng = as_rng(seed)
    big = c[c >= min_count]
    d2 = second_digits(big) if big.size else np.zeros(0, np.int64)
    cnt2 = np.bincount(d2, minlength=10)
    probs = second_digit_benford()
    chi2_2, p_2 = _chi2(cnt2, probs)
    mean2 = float(d2.mean()) if d2.size else float("nan")
    if d2.size:
        draws = rng.multinomial(d2.size, cnt2 / d2.size, size=bootstrap)
        boot = (draws @ np.arange(10)) / d2.size
        a = (1.0 - confidence) / 2.0
        ci = (float(np.quantile(boot, a)), float(np.quantile(boot, 1.0 - a)))
    else:
        ci = (float("nan"), float("nan"))

    last = big % 10
    cntl = np.bincount(last, minlength=10)
    chi2_l, p_l = _chi2(cntl, np.full(10, 0.1))
    tens = (big // 10) % 10
    diff = np.abs(last - tens)
    equal = float(np.mean(diff == 0)) if big.size else float("nan")
    adjacent = float(np.mean((diff == 1) | (diff == 9))) if big.size else float("nan")
    c05s = float(np.mean(np.isin(c % 10, (0, 5)))) if c.size else float("nan")

    p05s: float | None = None
    skew: float | None = None
    kurt: float | None = None
    turnout_n = 0
    if registered is not None:
        reg = as_int_array(registered, "registered")
        if reg.size != c.size:
            raise ValueError("counts and registered must have the same length")
        ok = reg > 0
        turnout_n = int(ok.sum())
        if turnout_n:
            ratio = c[ok] / reg[ok]
            pct = np.round(100.0 * np.minimum(ratio, 1.0)).astype(np.int64)
            p05s = float(np.mean(np.isin(pct % 10, (0, 5))))
            if turnout_n > 2 and np.ptp(ratio) > 0:
                skew = float(sps.skew(ratio))
                kurt = float(sps.kurtosis(ratio, fisher=False))
    return DigitTestResult(
        stations=int(c.size),
        second_digit_n=int(d2.size),
        second_digit_mean=mean2,
        second_digit_mean_ci=ci,
        second_digit_chi2=chi2_2,
        second_digit_pvalue=p_2,
        second_digit_counts=tuple(int(x) for x in cnt2),
        last_digit_n=int(big.size),
        last_digit_mean=float(last.mean()) if big.size else float("nan"),
        last_digit_chi2=chi2_l,
        last_digit_pvalue=p_l,
        last_digit_counts=tuple(int(x) for x in cntl),
        last_two_equal=equal,
        last_two_adjacent=adjacent,
        c05s=c05s,
        p05s=p05s,
        skew=skew,
        kurtosis=kurt,
        turnout_n=turnout_n,
        confidence=confidence,
    )


def digit_tests_by_group(
    counts: npt.ArrayLike,
    groups: Sequence[str] | npt.ArrayLike,
    *,
    seed: Seed,
    registered: npt.ArrayLike | None = None,
    min_count: int = 10,
    bootstrap: int = 1000,
    confidence: float = 0.95,
) -> dict[str, DigitTestResult]:
    """:func:`digit_tests` per group label, in sorted group order (one child seed each)."""
    c = as_int_array(counts, "counts")
    labels = group_labels(groups, c.size)
    reg = None if registered is None else as_int_array(registered, "registered")
    names, inverse = np.unique(labels, return_inverse=True)
    rngs = as_rng(seed).spawn(len(names))
    # each group's stations in input order, from one stable sort (not a pass per group)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(names) + 1))
    out: dict[str, DigitTestResult] = {}
    for k, (name, rng) in enumerate(zip(names.tolist(), rngs, strict=True)):
        sel = order[bounds[k] : bounds[k + 1]]
        out[str(name)] = digit_tests(
            c[sel],
            seed=rng,
            registered=None if reg is None else reg[sel],
            min_count=min_count,
            bootstrap=bootstrap,
            confidence=confidence,
        )
    return out
