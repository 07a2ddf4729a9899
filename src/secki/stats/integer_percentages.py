"""Integer-percentage test for falsified protocols.

Kobak, D., Shpilkin, S. & Pshenichnikov, M. S. (2016). *Integer percentages as electoral
falsification fingerprints.* Annals of Applied Statistics 10(1), 54–73.
doi:10.1214/16-AOAS904.

Protocols written to hit a target are over-represented at round percentages. For each
station with ``received > 0``, ``voters >= 100``, ``given/voters <= 0.99`` and
``leader/received <= 0.99`` the leader share ``p1 = 100·leader/received`` and the turnout
``p2 = 100·given/voters`` are *integer* when within 0.05 of a whole number. The statistic is
the number of stations where p1 **or** p2 is integer (p1 and p2 alone are reported too).

Null: the authors' binomial parametric bootstrap — per replicate, ``leader* ~ Bin(received,
leader/received)`` and ``given* ~ Bin(voters, given/voters)`` for every station, then the
statistic is recomputed. Because the statistic is a sum of independent per-station
indicators, a replicate only needs, for each station, *whether* its binomial draw lands on an
integer percentage. ``method="exact-bernoulli"`` (the default) computes that probability
``q`` exactly from the binomial probability mass function (summed over a ±(7.5 sd + 5)
window; the rest is below 1e-13) and draws the replicates as Bernoulli(q): the same null
distribution as drawing binomials, several times faster. ``method="binomial"`` draws the
binomials replicate by replicate, as in the paper (kept as the reference implementation).
Integer-ness is decided in exact integer arithmetic (``20·|100·a − k·b| <= b``), so a
percentage exactly 0.05 from a whole number (541/2000 = 27.05 %) counts as integer.
``convention="float"`` reproduces float-based reference code instead: ``p = 100·a/b`` in
double precision and ``|p − round(p)| < 0.05``, where such boundary values do not count
(27.05 − 27 is 0.05000000000000071 in doubles). The two differ only at the boundary.

Example
-------
>>> import numpy as np
>>> r = integer_percentage_test([1000, 1000], [600, 555], [600, 555], [300, 280],
...                             replicates=200, seed=1)
>>> (r.either.observed, r.leader.observed, r.turnout.observed)
(1, 1, 1)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from secki.stats._common import (
    BoolArray,
    FloatArray,
    IntArray,
    Seed,
    as_int_array,
    as_rng,
    group_labels,
)

CITATION = (
    "Kobak, Shpilkin & Pshenichnikov (2016), Integer percentages as electoral falsification "
    "fingerprints, Annals of Applied Statistics 10(1):54-73"
)

MIN_VOTERS = 100
#: Inclusion requires given/voters <= MAX_RATIO_PERCENT/100 and leader/received <= the same.
MAX_RATIO_PERCENT = 99

Method = Literal["exact-bernoulli", "binomial"]
Convention = Literal["exact", "float"]
CONVENTIONS: tuple[Convention, ...] = ("exact", "float")


def is_integer_percentage(
    numerator: npt.ArrayLike, denominator: npt.ArrayLike, convention: Convention = "exact"
) -> BoolArray:
    """True where ``100·numerator/denominator`` is within 0.05 of a whole number.

    ``convention="exact"``: within 0.05 inclusive, in exact integer arithmetic;
    ``"float"``: ``|p − round(p)| < 0.05`` with ``p`` in double precision. Denominators must
    be positive.
    """
    a = np.asarray(numerator, dtype=np.int64)
    b = np.asarray(denominator, dtype=np.int64)
    if convention == "float":
        p = 100.0 * a / b
        floats: BoolArray = np.abs(p - np.round(p)) < 0.05
        return floats
    if convention != "exact":
        raise ValueError(f"unknown integer convention {convention!r}")
    k = (200 * a + b) // (2 * b)
    result: BoolArray = 20 * np.abs(100 * a - k * b) <= b
    return result


@dataclass(frozen=True)
class IntegerStatistic:
    """One count (``either``, ``leader`` or ``turnout``) against its bootstrap null."""

    name: str
    observed: int
    null_mean: float
    null_sd: float
    null_p999: float
    #: Mean and sd of the null computed exactly (sum of per-station probabilities).
    exact_mean: float
    exact_sd: float
    #: observed − null mean (Monte Carlo).
    anomaly: float
    #: One-sided Monte-Carlo p-value, (1 + #{null >= observed}) / (1 + replicates).
    pvalue: float


@dataclass(frozen=True)
class IntegerGroupResult:
    group: str
    stations: int
    included: int
    either: IntegerStatistic
    leader: IntegerStatistic
    turnout: IntegerStatistic


@dataclass(frozen=True, eq=False)
class IntegerPercentageResult:
    """Result of :func:`integer_percentage_test`. ``statistic``/``pvalue`` are for *either*."""

    statistic: int
    pvalue: float
    either: IntegerStatistic
    leader: IntegerStatistic
    turnout: IntegerStatistic
    groups: tuple[IntegerGroupResult, ...]
    stations: int
    included: int
    #: Stations left out of the test, by the first inclusion rule they fail.
    excluded: dict[str, int]
    replicates: int
    method: str
    citation: str = CITATION
    #: Per input station: included in the test, leader share integer, turnout integer.
    included_mask: BoolArray = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    leader_integer: BoolArray = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    turnout_integer: BoolArray = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    #: The replicate totals of the *either* statistic (for plots).
    null_either: IntArray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))


def _window_hits(
    n: IntArray, k: IntArray, convention: Convention = "exact", max_elems: int = 250_000
) -> FloatArray:
    """P(X lands on an integer percentage of n) for X ~ Bin(n, k/n), per station.

    The pmf (from a table of log factorials) is summed over ``mu ± (7.5 sd + 5)`` and
    normalised by the window's total. Work is split into cache-sized chunks on two threads.
    """
    out = np.empty(n.shape[0], dtype=np.float64)
    p = k / n
    degenerate = (k == 0) | (k == n)
    out[degenerate] = is_integer_percentage(k[degenerate], n[degenerate], convention)
    idx = np.flatnonzero(~degenerate)
    if idx.size == 0:
        return out
    nn, pp = n[idx], p[idx]
    sd = np.sqrt(nn * pp * (1.0 - pp))
    mu = nn * pp
    lo = np.maximum(0, np.floor(mu - 7.5 * sd) - 5).astype(np.int64)
    hi = np.minimum(nn, np.ceil(mu + 7.5 * sd) + 5).astype(np.int64)
    lengths = hi - lo + 1
    ends = np.cumsum(lengths)
    cuts = np.searchsorted(ends, np.arange(max_elems, ends[-1], max_elems)) + 1
    bounds = sorted({0, idx.size, *np.minimum(cuts, idx.size).tolist()})
    logodds = np.log(pp) - np.log1p(-pp)
    itype = np.int32 if int(nn.max()) < 10_000_000 else np.int64
    # log k! for k = 0..max n, so log pmf(l) = log n! - log l! - log (n-l)! + l log p
    # + (n-l) log(1-p) costs two table look-ups per value
    logfact = special.gammaln(np.arange(int(nn.max()) + 1, dtype=np.float64) + 1.0)
    const = logfact[nn] + nn * np.log1p(-pp)

    def chunk(a: int, b: int) -> None:
        ln = lengths[a:b]
        starts = np.zeros(b - a, dtype=np.int64)
        np.cumsum(ln[:-1], out=starts[1:])
        total = int(ln.sum())
        ell = np.arange(total, dtype=itype) - np.repeat((starts - lo[a:b]).astype(itype), ln)
        n_rep = np.repeat(nn[a:b].astype(itype), ln)
        logw = ell * np.repeat(logodds[a:b], ln)
        logw += np.repeat(const[a:b], ln)
        logw -= logfact[ell]
        logw -= logfact[n_rep - ell]
        w = np.exp(logw)
        if convention == "float":
            pct = 100.0 * ell / n_rep
            hit = np.abs(pct - np.round(pct)) < 0.05
        else:
            kk = (200 * ell + n_rep) // (2 * n_rep)
            hit = 20 * np.abs(100 * ell - kk * n_rep) <= n_rep
        out[idx[a:b]] = np.add.reduceat(w * hit, starts) / np.add.reduceat(w, starts)

    pairs = list(itertools.pairwise(bounds))
    if len(pairs) == 1:
        chunk(*pairs[0])
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda ab: chunk(*ab), pairs))
    return out


def _summarise(name: str, observed: int, null: IntArray, q: FloatArray) -> IntegerStatistic:
    mean = float(null.mean())
    sd = float(null.std(ddof=1)) if null.size > 1 else 0.0
    return IntegerStatistic(
        name=name,
        observed=int(observed),
        null_mean=mean,
        null_sd=sd,
        null_p999=float(np.percentile(null, 99.9)),
        exact_mean=float(q.sum()),
        exact_sd=float(np.sqrt(np.sum(q * (1.0 - q)))),
        anomaly=float(observed) - mean,
        pvalue=float((1 + np.count_nonzero(null >= observed)) / (1 + null.size)),
    )


def _simulate_exact(
    q_leader: FloatArray,
    q_turnout: FloatArray,
    starts: IntArray,
    replicates: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray, IntArray]:
    """Per-group replicate counts (replicates x groups) for either, leader, turnout."""
    n = q_leader.size
    n_groups = starts.size
    res = [np.zeros((replicates, n_groups), dtype=np.int64) for _ in range(3)]
    if n == 0:
        return res[0], res[1], res[2]
    block = max(1, min(replicates, 4_000_000 // max(n, 1)))
    blocks = [(a, min(a + block, replicates)) for a in range(0, replicates, block)]
    gens = rng.spawn(len(blocks))
    ql = q_leader.astype(np.float32)
    qt = q_turnout.astype(np.float32)
    count_type = np.int32 if n < 2**31 else np.int64

    def run(i: int) -> None:
        a, b = blocks[i]
        g = gens[i]
        hl = g.random((b - a, n), dtype=np.float32) < ql
        ht = g.random((b - a, n), dtype=np.float32) < qt
        for j, m in enumerate((hl | ht, hl, ht)):
            # counts of at most n stations: int32 sums are exact and faster than int64
            res[j][a:b] = np.add.reduceat(m, starts, axis=1, dtype=count_type)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, range(len(blocks))))
    return res[0], res[1], res[2]


def _simulate_binomial(
    received: IntArray,
    leader: IntArray,
    voters: IntArray,
    given: IntArray,
    starts: IntArray,
    replicates: int,
    rng: np.random.Generator,
    convention: Convention = "exact",
) -> tuple[IntArray, IntArray, IntArray]:
    """The straightforward reference: draw binomials replicate by replicate."""
    res = [np.zeros((replicates, starts.size), dtype=np.int64) for _ in range(3)]
    pl = leader / received
    pt = given / voters
    for r in range(replicates):
        hl = is_integer_percentage(rng.binomial(received, pl), received, convention)
        ht = is_integer_percentage(rng.binomial(voters, pt), voters, convention)
        for j, m in enumerate((hl | ht, hl, ht)):
            res[j][r] = np.add.reduceat(m.astype(np.int64), starts)
    return res[0], res[1], res[2]


def inclusion_reasons(
    voters: IntArray, given: IntArray, received: IntArray, leader: IntArray
) -> tuple[BoolArray, dict[str, int]]:
    """The inclusion mask of §1 and, for excluded stations, the first rule they fail."""
    rules: list[tuple[str, BoolArray]] = [
        ("ballots in boxes = 0", received <= 0),
        (f"registered voters < {MIN_VOTERS}", voters < MIN_VOTERS),
        (f"turnout > {MAX_RATIO_PERCENT} %", 100 * given > MAX_RATIO_PERCENT * voters),
        (f"leader share > {MAX_RATIO_PERCENT} %", 100 * leader > MAX_RATIO_PERCENT * received),
    ]
    remaining = np.ones(voters.shape[0], dtype=bool)
    excluded: dict[str, int] = {}
    for reason, fails in rules:
        hit = remaining & fails
        excluded[reason] = int(hit.sum())
        remaining &= ~fails
    return remaining, excluded


def integer_percentage_test(
    voters: npt.ArrayLike,
    given: npt.ArrayLike,
    received: npt.ArrayLike,
    leader: npt.ArrayLike,
    *,
    seed: Seed,
    groups: Sequence[str] | npt.ArrayLike | None = None,
    replicates: int = 1000,
    method: Method = "exact-bernoulli",
    convention: Convention = "exact",
) -> IntegerPercentageResult:
    """Run the integer-percentage test (Kobak et al. 2016) on station counts.

    ``voters`` registered, ``given`` ballots issued, ``received`` ballots found in boxes
    (valid + invalid), ``leader`` votes for the leader; ``groups`` optional labels (e.g.
    region) for the per-group results; ``convention`` decides integer-ness at the exact
    0.05 boundary (see the module docstring).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown integer convention {convention!r}")
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    v = as_int_array(voters, "voters")
    g = as_int_array(given, "given")
    r = as_int_array(received, "received")
    ld = as_int_array(leader, "leader")
    n_all = v.size
    if not (g.size == r.size == ld.size == n_all):
        raise ValueError("voters, given, received and leader must have the same length")
    labels_all = group_labels(groups, n_all)
    rng = as_rng(seed)

    mask, excluded = inclusion_reasons(v, g, r, ld)
    v, g, r, ld, labels = v[mask], g[mask], r[mask], ld[mask], labels_all[mask]
    obs_l = is_integer_percentage(ld, r, convention)
    obs_t = is_integer_percentage(g, v, convention)

    order = np.argsort(labels, kind="stable")
    v, g, r, ld, labels = v[order], g[order], r[order], ld[order], labels[order]
    obs_l, obs_t = obs_l[order], obs_t[order]
    names, starts_np = np.unique(labels, return_index=True)
    starts = starts_np.astype(np.int64)

    if method == "exact-bernoulli":
        ql = _window_hits(r, ld, convention)
        qt = _window_hits(v, g, convention)
        null_e, null_l, null_t = _simulate_exact(ql, qt, starts, replicates, rng)
    elif method == "binomial":
        ql = _window_hits(r, ld, convention)
        qt = _window_hits(v, g, convention)
        null_e, null_l, null_t = _simulate_binomial(
            r, ld, v, g, starts, replicates, rng, convention
        )
    else:
        raise ValueError(f"unknown method {method!r}")
    qe = 1.0 - (1.0 - ql) * (1.0 - qt)
    obs_e = obs_l | obs_t

    def stats_for(sel: slice | None, col: int | None) -> tuple[IntegerStatistic, ...]:
        out = []
        for name, obs, null, q in (
            ("either", obs_e, null_e, qe),
            ("leader", obs_l, null_l, ql),
            ("turnout", obs_t, null_t, qt),
        ):
            s = slice(None) if sel is None else sel
            total = null.sum(axis=1) if col is None else null[:, col]
            out.append(_summarise(name, int(obs[s].sum()), total, q[s]))
        return tuple(out)

    all_names, all_counts = np.unique(labels_all, return_counts=True)
    stations_in = dict(zip(all_names.tolist(), all_counts.tolist(), strict=True))
    group_results = []
    ends = [*starts[1:].tolist(), labels.size] if starts.size else []
    for i, (name, a, b) in enumerate(zip(names.tolist(), starts.tolist(), ends, strict=True)):
        e, lt, tt = stats_for(slice(a, b), i)
        group_results.append(
            IntegerGroupResult(
                group=str(name),
                stations=int(stations_in[name]),
                included=b - a,
                either=e,
                leader=lt,
                turnout=tt,
            )
        )
    either, lead, turn = stats_for(None, None)

    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    leader_integer = np.zeros(n_all, dtype=bool)
    turnout_integer = np.zeros(n_all, dtype=bool)
    leader_integer[mask] = obs_l[inv]
    turnout_integer[mask] = obs_t[inv]
    return IntegerPercentageResult(
        statistic=either.observed,
        pvalue=either.pvalue,
        either=either,
        leader=lead,
        turnout=turn,
        groups=tuple(group_results),
        stations=n_all,
        included=int(mask.sum()),
        excluded=excluded,
        replicates=replicates,
        method=f"binomial parametric bootstrap ({method}; {convention} integer convention)",
        included_mask=mask,
        leader_integer=leader_integer,
        turnout_integer=turnout_integer,
        null_either=null_e.sum(axis=1),
    )
