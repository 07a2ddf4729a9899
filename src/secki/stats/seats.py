"""Proportional seat allocation: D'Hondt, Sainte-Laguë and largest remainder (Hare quota).

Pure functions on whole numbers, computed exactly (fractions, never floats), so the same
votes always give the same seats on every machine.

* **D'Hondt** (highest averages, divisors 1, 2, 3, …) and **Sainte-Laguë** (divisors 1, 3,
  5, …): each seat in turn goes to the list with the highest quotient ``votes / divisor``.
* **Largest remainder, Hare quota** (``quota = votes of the qualified lists / seats``): each
  list first gets ``⌊votes / quota⌋`` seats, then the seats left go to the largest remainders.

Gallagher & Mitchell (eds.), *The Politics of Electoral Systems*, Oxford UP 2005, appendix B;
Pukelsheim, *Proportional Representation*, 2nd ed., Springer 2017, ch. 3–4.

**Threshold.** A list qualifies when its votes are at least ``threshold`` × ``valid`` (the
share of all valid votes, compared exactly as fractions). Lists below the threshold get no seat
and their votes count neither in the quotients nor in the Hare quota.

**Ties (the published rule).** When two lists have the same claim to a seat (the same
quotient, or the same remainder), the seat goes to the list with **more votes**; if their
votes are equal too, to the list **earlier on the ballot** (the lower ``order``, normally the
official ballot number). The rule needs no lot, so anyone can recompute the allocation. Each
seat the rule decided (more lists tied for it than seats were left) is listed in
:attr:`Allocation.ties`; equal claims that all get a seat are no tie.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

DHONDT = "dhondt"
SAINTE_LAGUE = "sainte_lague"
HARE = "hare"
METHODS = (DHONDT, SAINTE_LAGUE, HARE)

CITATION = (
    "Gallagher & Mitchell, The Politics of Electoral Systems (2005), appendix B; "
    "Pukelsheim, Proportional Representation (2017), ch. 3-4"
)


@dataclass(frozen=True)
class Party(Generic[K]):
    """One list on the ballot: its key, votes and ballot order (for the tie rule)."""

    key: K
    votes: int
    order: int


@dataclass(frozen=True)
class Allocation(Generic[K]):
    method: str
    seats_total: int
    threshold: Fraction
    valid: int
    #: every list's seats, in the order the lists were given (0 for those below the threshold)
    seats: dict[K, int]
    #: lists at or above the threshold, in the order given
    qualified: list[K]
    #: seats whose winner was decided by the tie rule: (seat number 1…, the lists tied, winner)
    ties: list[tuple[int, list[K], K]]
    citation: str = CITATION


def qualifies(votes: int, valid: int, threshold: Fraction) -> bool:
    """Whether ``votes`` reach ``threshold`` (a share) of ``valid`` votes, exactly."""
    if threshold <= 0:
        return True
    return valid > 0 and Fraction(votes, valid) >= threshold


def allocate(
    parties: Sequence[Party[K]],
    seats: int,
    method: str,
    *,
    threshold: Fraction | int = 0,
    valid: int | None = None,
) -> Allocation[K]:
    """Allocate ``seats`` among ``parties`` by ``method`` (``dhondt``, ``sainte_lague`` or
    ``hare``). ``valid``: the valid votes the threshold is a share of (default: the sum of the
    parties' votes); ``threshold``: a share in [0, 1)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 0:
        raise ValueError(f"seats must be a non-negative integer, not {seats!r}")
    share = Fraction(threshold)
    if not 0 <= share < 1:
        raise ValueError(f"threshold must be a share in [0, 1), not {threshold!r}")
    keys = [p.key for p in parties]
    if len(set(keys)) != len(keys):
        raise ValueError("every list needs its own key")
    for p in parties:
        if isinstance(p.votes, bool) or not isinstance(p.votes, int) or p.votes < 0:
            raise ValueError(f"votes of {p.key!r} must be a non-negative integer")
    total = sum(p.votes for p in parties) if valid is None else valid
    if total < sum(p.votes for p in parties):
        raise ValueError("valid votes cannot be fewer than the lists' votes")
    qualified = [p for p in parties if p.votes > 0 and qualifies(p.votes, total, share)]
    result: dict[K, int] = {p.key: 0 for p in parties}
    ties: list[tuple[int, list[K], K]] = []
    if qualified and seats:
        if method == HARE:
            _hare(qualified, seats, result, ties)
        else:
            _highest_averages(qualified, seats, 1 if method == DHONDT else 2, result, ties)
    return Allocation(method, seats, share, total, result, [p.key for p in qualified], ties)


def _tie_key(p: Party[K]) -> tuple[int, int]:
    """Of equal claims: more votes first, then earlier on the ballot."""
    return (-p.votes, p.order)


def _highest_averages(
    parties: list[Party[K]],
    seats: int,
    step: int,
    result: dict[K, int],
    ties: list[tuple[int, list[K], K]],
) -> None:
    """D'Hondt (divisors 1, 2, 3, …: ``step`` 1) or Sainte-Laguë (1, 3, 5, …: ``step`` 2)."""
    for seat in range(1, seats + 1):
        quotients = {p.key: Fraction(p.votes, 1 + step * result[p.key]) for p in parties}
        best = max(quotients.values())
        tied = [p for p in parties if quotients[p.key] == best]
        winner = min(tied, key=_tie_key)
        if len(tied) > seats - seat + 1:  # not every tied list can get a seat: the rule decides
            ties.append((seat, [p.key for p in tied], winner.key))
        result[winner.key] += 1


def _hare(
    parties: list[Party[K]],
    seats: int,
    result: dict[K, int],
    ties: list[tuple[int, list[K], K]],
) -> None:
    """Largest remainder with the Hare quota V / S, in integers: ``votes × S = q × V + r``."""
    votes = sum(p.votes for p in parties)
    remainders: dict[K, int] = {}
    for p in parties:
        whole, remainders[p.key] = divmod(p.votes * seats, votes)
        result[p.key] = whole
    left = seats - sum(result[p.key] for p in parties)
    ranked = sorted(parties, key=lambda p: (-remainders[p.key], *_tie_key(p)))
    given = sum(result[p.key] for p in parties)
    for p in ranked[:left]:
        result[p.key] += 1
    if 0 < left < len(ranked):
        cut = remainders[ranked[left - 1].key]
        if remainders[ranked[left].key] == cut:
            tied = [p for p in ranked if remainders[p.key] == cut]
            keys = [q.key for q in tied]
            for position, p in enumerate(ranked[:left]):
                if remainders[p.key] == cut:
                    ties.append((given + position + 1, keys, p.key))
