"""The audit's published sampling rule (spec/statistics.md §7), for the app and the CLI.

Draw j (1, 2, … over all rounds) has the ticket SHA-256("{seed},draw,{j}") (64 hex digits).

* MACRO: the station is the first, in manifest order, whose cumulative share of the error
  bounds exceeds ticket / 2**256 (PPEB, :func:`secki.stats.macro.ppeb_draws`).
* BRAVO: with B ballots in the manifest, k = (ticket × B) >> 256; the ballot is the
  (k+1)-th of the manifest, i.e. a station and the ballot's number in its box
  (:func:`secki.stats.sampling.ballot_draws`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from secki.stats.macro import ppeb_draws
from secki.stats.sampling import ballot_draws, sha256_int

RULE = (
    'draw j: ticket = SHA-256("{seed},draw,{j}"); batch comparison: the first station (in '
    "manifest order) whose cumulative share of the error bounds exceeds ticket/2^256; ballot "
    "polling: k = (ticket × total ballots) >> 256, the (k+1)-th ballot of the manifest"
)


@dataclass(frozen=True)
class Drawn:
    number: int
    ticket: str  # hex
    position: int  # manifest row
    ballot: int | None


def ticket_hex(seed: str, number: int) -> str:
    return f"{sha256_int(seed, 'draw', number):064x}"


def draw(
    seed: str,
    *,
    n: int,
    first: int,
    bounds: Sequence[float] | None = None,
    ballots: Sequence[int] | None = None,
) -> list[Drawn]:
    """Draws ``first`` … ``first + n - 1``: PPEB over ``bounds`` (MACRO) or ballots of the
    ``ballots`` manifest (BRAVO)."""
    if bounds is not None:
        rows = ppeb_draws(list(bounds), n, seed=seed, first=first)
        return [
            Drawn(first + i, ticket_hex(seed, first + i), row, None) for i, row in enumerate(rows)
        ]
    if ballots is None:
        raise ValueError("give the error bounds (MACRO) or the ballots (BRAVO)")
    picks = ballot_draws(list(ballots), n, seed=seed, first=first)
    return [
        Drawn(first + i, ticket_hex(seed, first + i), row, ballot)
        for i, (row, ballot) in enumerate(picks)
    ]
