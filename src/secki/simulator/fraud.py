"""Fraud injection with ground truth.

Ballot stuffing follows the generative model of Klimek, Yegorov, Hanel & Thurner, PNAS 109(41),
2012 (spec/statistics.md §3). With probability f_i a station gets incremental fraud
x ~ |N(0, θ)| (redrawn until ≤ 1), with probability f_e extreme fraud x = 1 − |N(0, 0.075)|.
With N registered voters, clean turnout τ and leader share ν the reported ballots become
T = N·[τ + x(1 − τ)] and the leader's votes W = N·[τν + x(1 − τ) + x^α(1 − ν)τ]: the stuffed
ballots x·(N − issued) (rounded up) all go to the leader, and a share x^α of every other
candidate's votes (rounded down) is moved to the leader. The protocol stays consistent with
every hard check: the stuffed ballots are issued (L5) and found in the stationary box (L13) as
valid votes (L14, C1); they come out of the unused ballots (L8), and L3 is raised where those
do not suffice. Turnout reports are not touched: the extra ballots arrive after 19:00.

Integer rewriting follows the pattern found by Kobak, Shpilkin & Pshenichnikov, Annals of
Applied Statistics 10(1), 2016 (spec/statistics.md §1): chosen stations report a turnout
p2 = 100·given/voters and/or a leader share p1 = 100·leader/received that is an integer
percentage (|p − round(p)| ≤ 0.05), reached by adding issued ballots for the leader (turnout)
and by moving votes from the other candidates to the leader (share), always upwards and to at
most 98 %. Only stations that the §1 test includes (received > 0, voters ≥ 100, given/voters
≤ 0.99, leader/received ≤ 0.99) and where such integers exist are eligible.

The leader is candidate 1 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from secki.simulator._types import BoolArray, FloatArray, IntArray
from secki.simulator.config import IntegerSpec, StuffingSpec
from secki.simulator.votes import Protocols

NONE, INCREMENTAL, EXTREME = 0, 1, 2
STUFFING_NAMES = {NONE: "", INCREMENTAL: "incremental", EXTREME: "extreme"}
EXTREME_SD = 0.075
MAX_INTEGER_PERCENT = 98
SEARCH_STEPS = 40


@dataclass
class Truth:
    """What fraud injection did, one entry per station (all stations, in file order)."""

    stuffing: IntArray  # NONE, INCREMENTAL or EXTREME (only where the protocol changed)
    x: FloatArray  # Klimek's x (0 where not stuffed)
    integer: BoolArray  # rewritten to integer percentages

    @classmethod
    def clean(cls, n: int) -> Truth:
        return cls(np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n, dtype=bool))

    @property
    def touched(self) -> BoolArray:
        result: BoolArray = (self.stuffing != NONE) | self.integer
        return result


def _half_normal(rng: np.random.Generator, sd: float, n: int) -> FloatArray:
    """|N(0, sd)| truncated to [0, 1] by redrawing."""
    out = np.abs(rng.normal(0.0, sd, n))
    bad = np.flatnonzero(out > 1)
    for _ in range(200):
        if len(bad) == 0:
            break
        out[bad] = np.abs(rng.normal(0.0, sd, len(bad)))
        bad = bad[out[bad] > 1]
    return np.minimum(out, 1.0)


def stuff(protocols: Protocols, spec: StuffingSpec, rng: np.random.Generator, truth: Truth) -> None:
    """Apply Klimek ballot stuffing in place; records kind and x in ``truth``."""
    n = len(protocols["L1"])
    draw = rng.random(n)
    incremental = _half_normal(rng, spec.theta, n)
    extreme = np.clip(1.0 - np.abs(rng.normal(0.0, EXTREME_SD, n)), 0.0, 1.0)
    kind = np.where(draw < spec.fe, EXTREME, np.where(draw < spec.fe + spec.fi, INCREMENTAL, NONE))
    x = np.where(kind == EXTREME, extreme, np.where(kind == INCREMENTAL, incremental, 0.0))

    sel = np.flatnonzero(x > 0)
    ln = protocols.lines
    votes = protocols.votes
    xs = x[sel]
    room = ln["L1"][sel] - (ln["L5"][sel] + ln["L6"][sel])
    extra = np.minimum(np.ceil(xs * room).astype(np.int64), room)
    moved = np.floor(votes[sel, 1:] * (xs**spec.alpha)[:, None]).astype(np.int64)
    moved = np.minimum(moved, votes[sel, 1:])
    changed = (extra > 0) | (moved.sum(axis=1) > 0)
    sel, xs, extra, moved = sel[changed], xs[changed], extra[changed], moved[changed]

    ln["L5"][sel] += extra
    ln["L13"][sel] += extra
    ln["L14"][sel] += extra
    votes[sel, 0] += extra + moved.sum(axis=1)
    votes[sel, 1:] -= moved
    protocols.settle_ballots()
    truth.stuffing[sel] = kind[sel]
    truth.x[sel] = xs


def _is_integer(count: IntArray, base: IntArray, percent: IntArray) -> BoolArray:
    """|100·count/base − percent| < 0.05, exactly in integers (strict, so floats agree)."""
    result: BoolArray = np.abs(2000 * count - 20 * percent * base) < base
    return result


def _integer_target(count: IntArray, base: IntArray, limit: IntArray) -> tuple[IntArray, BoolArray]:
    """Smallest new count ≥ ``count`` (and ≤ ``limit``) whose percentage of ``base`` is an
    integer ≤ 98 %; keeps counts that already are. Returns (new count, found)."""
    safe = np.maximum(base, 1)
    nearest = (200 * count + safe) // (2 * safe)  # round(100·count/base)
    new = count.copy()
    found = (base > 0) & _is_integer(count, safe, nearest)
    start = (100 * count) // safe + 1
    for step in range(SEARCH_STEPS):
        todo = ~found & (base > 0)
        if not todo.any():
            break
        percent = start + step
        candidate = (percent * safe + 50) // 100
        ok = (
            todo
            & (percent <= MAX_INTEGER_PERCENT)
            & (candidate >= count)
            & (candidate <= limit)
            & _is_integer(candidate, safe, percent)
        )
        new[ok] = candidate[ok]
        found |= ok
    return new, found


def rewrite_integer(
    protocols: Protocols, spec: IntegerSpec, rng: np.random.Generator, truth: Truth
) -> None:
    """Rewrite ``spec.share`` of all stations to integer percentages, in place."""
    ln = protocols.lines
    votes = protocols.votes
    n = len(ln["L1"])
    voters = ln["L1"]
    given = protocols.issued
    received = protocols.in_boxes
    leader = votes[:, 0]
    others = ln["L14"] - leader
    included = (
        (received > 0)
        & (voters >= 100)
        & (100 * given <= 99 * voters)
        & (100 * leader <= 99 * received)
    )
    ok = included.copy()
    new_given = given
    if spec.what in ("both", "turnout"):
        new_given, found = _integer_target(given, voters, voters)
        ok &= found
    added = new_given - given
    new_received = received + added
    new_leader = leader + added
    if spec.what in ("both", "leader"):
        target, found = _integer_target(new_leader, new_received, new_leader + others)
        ok &= found
        new_leader = target
    taken = new_leader - leader - added
    ok &= ((added > 0) | (taken > 0)) & (100 * new_leader <= 99 * new_received)

    wanted = min(round(spec.share * n), int(ok.sum()))
    chosen = np.sort(rng.permutation(np.flatnonzero(ok))[:wanted])
    if len(chosen) == 0:
        return
    add = added[chosen]
    ln["L5"][chosen] += add
    ln["L13"][chosen] += add
    ln["L14"][chosen] += add
    take = _take_proportionally(votes[chosen, 1:], taken[chosen])
    votes[chosen, 0] += add + take.sum(axis=1)
    votes[chosen, 1:] -= take
    protocols.settle_ballots()
    truth.integer[chosen] = True


def _take_proportionally(pool: IntArray, need: IntArray) -> IntArray:
    """Integer amounts ≤ ``pool`` per column, summing to ``need`` per row, roughly in
    proportion to the pool (the remainder from the first columns that still have votes)."""
    total = pool.sum(axis=1)
    share = np.divide(need, total, out=np.zeros(len(need)), where=total > 0)
    take: IntArray = np.minimum(np.floor(pool * share[:, None]).astype(np.int64), pool)
    rest = need - take.sum(axis=1)
    for j in range(pool.shape[1]):
        extra = np.minimum(pool[:, j] - take[:, j], rest)
        take[:, j] += extra
        rest -= extra
    return take
