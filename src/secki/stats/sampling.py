"""Reproducible sampling from a public seed (SHA-256), for PVT samples and audits.

Anyone holding the published seed can redo the draw with nothing but SHA-256, so the sample
does not depend on a library's random-number stream (which may change between versions).

* **Ticket** of an item: ``int(SHA-256("{seed},{item_id},{ticket}").hexdigest(), 16) /
  2**256`` (UTF-8, ticket numbers start at 1) — the "consistent sampling" construction of
  Rivest, *Consistent sampling with replacement* (arXiv:1808.10016, 2018).
* **Sample without replacement** of n items: the n items with the smallest first tickets.
  Stratified: done within each stratum (the stratum name is not part of the hash, so a
  station keeps its ticket whatever the stratification).
* **Draws with replacement, probability proportional to weights** (PPEB for MACRO): draw j
  (1-based) takes ``u_j = int(SHA-256("{seed},draw,{j}").hexdigest(), 16) / 2**256`` and
  picks the first item whose cumulative weight share exceeds ``u_j`` (items in the given
  order).
* **Ballots drawn with replacement from a ballot manifest** (BRAVO): with B ballots in all,
  batches in the given order and the ballots of a batch numbered from 1, draw j takes
  ``k = (int(SHA-256("{seed},draw,{j}").hexdigest(), 16) * B) >> 256`` (exact integers,
  0 <= k < B) and picks the batch holding the (k+1)-th ballot and its number there.
* Draw numbers run on over rounds (``first``): round 2 continues where round 1 stopped, so
  the sample of every round is reproduced from the seed alone.

Example
-------
>>> sample_without_replacement(["a", "b", "c", "d"], 2, seed="20240601")
['d', 'c']
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np
import numpy.typing as npt

CITATION = "Rivest (2018), Consistent sampling with replacement, arXiv:1808.10016"
_SCALE = 2**256


def sha256_int(*parts: object) -> int:
    """SHA-256 of the parts joined with commas (UTF-8), as an integer in [0, 2**256)."""
    text = ",".join(str(p) for p in parts)
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)


def ticket(seed: str | int, item_id: object, number: int = 1) -> float:
    """The ``number``-th ticket of ``item_id``: a uniform value in [0, 1)."""
    return sha256_int(seed, item_id, number) / _SCALE


def sample_without_replacement(ids: Sequence[object], n: int, *, seed: str | int) -> list[object]:
    """The ``n`` items with the smallest first tickets (ties impossible in practice)."""
    if n < 0 or n > len(ids):
        raise ValueError(f"cannot draw {n} of {len(ids)} items")
    if len(set(map(str, ids))) != len(ids):
        raise ValueError("item ids must be unique")
    keyed = sorted(ids, key=lambda i: sha256_int(seed, i, 1))
    return list(keyed[:n])


def stratified_sample(
    ids: Sequence[object],
    strata: Sequence[object],
    sizes: Mapping[str, int],
    *,
    seed: str | int,
) -> dict[str, list[object]]:
    """Sample ``sizes[stratum]`` items without replacement in every stratum."""
    if len(ids) != len(strata):
        raise ValueError("ids and strata must have the same length")
    members: dict[str, list[object]] = {}
    for item, stratum in zip(ids, strata, strict=True):
        members.setdefault(str(stratum), []).append(item)
    missing = set(sizes) - set(members)
    if missing:
        raise ValueError(f"no items in strata {sorted(missing)}")
    return {
        name: sample_without_replacement(members[name], sizes[name], seed=seed)
        for name in sorted(sizes)
    }


def proportional_allocation(strata_sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """Split ``n`` over strata proportionally to their size (largest remainders)."""
    total = sum(strata_sizes.values())
    quotas = {k: Fraction(n * v, total) for k, v in strata_sizes.items()}
    alloc = {k: int(q) for k, q in quotas.items()}
    rest = n - sum(alloc.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - alloc[k]), k))[:rest]:
        alloc[k] += 1
    return alloc


def draw_uniforms(n: int, *, seed: str | int, first: int = 1) -> list[float]:
    """u_first..u_(first+n-1) for draws with replacement: SHA-256("{seed},draw,{j}") / 2**256."""
    return [sha256_int(seed, "draw", j) / _SCALE for j in range(first, first + n)]


def sample_with_replacement(
    weights: npt.ArrayLike, n: int, *, seed: str | int, first: int = 1
) -> list[int]:
    """Indices of ``n`` draws with replacement, probability proportional to ``weights``
    (draws ``first`` … ``first + n - 1``)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    cum = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    u = np.array(draw_uniforms(n, seed=seed, first=first))
    return [int(i) for i in np.searchsorted(cum, u, side="right")]


def ballot_draws(
    ballots: npt.ArrayLike, n: int, *, seed: str | int, first: int = 1
) -> list[tuple[int, int]]:
    """``n`` ballots drawn uniformly with replacement from a manifest of ``ballots`` per
    batch: (batch index, ballot number from 1) of draws ``first`` … ``first + n - 1``."""
    b = np.asarray(ballots, dtype=np.int64)
    if b.ndim != 1 or b.size == 0 or np.any(b < 0) or int(b.sum()) <= 0:
        raise ValueError("ballots must be non-negative counts, not all zero")
    if n < 0 or first < 1:
        raise ValueError("need n >= 0 and first >= 1")
    cum = np.cumsum(b)
    total = int(cum[-1])
    ks = np.array(
        [(sha256_int(seed, "draw", j) * total) >> 256 for j in range(first, first + n)],
        dtype=np.int64,
    )
    batches = np.searchsorted(cum, ks, side="right")
    starts = cum[batches] - b[batches]
    return [(int(i), int(k - s) + 1) for i, k, s in zip(batches, ks, starts, strict=True)]
