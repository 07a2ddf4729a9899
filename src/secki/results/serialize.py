"""The JSON shape of results, shared by the API and the static snapshots (which must be
byte-identical to what the API answers the public)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from secki.bundle import translated
from secki.elections.models import Election
from secki.elections.names import translations
from secki.results.publication import withheld_reason
from secki.results.rules import decide
from secki.results.tabulate import UnitResult


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def unit_json(r: UnitResult) -> dict[str, Any]:
    """The figures of one unit."""
    t = r.totals
    return {
        "unit": r.unit.code if r.unit else None,
        "name": r.unit.name if r.unit else None,
        **(translations(r.unit) if r.unit else dict.fromkeys(translated("name"))),
        "kind": r.unit.kind if r.unit else None,
        "stations_total": t.stations_total,
        "stations_reported": t.stations_reported,
        "registered_total": t.registered_total,
        "registered_reported": t.registered_reported,
        "participants": r.participants,
        "turnout_percent": _dec(r.turnout),
        "reporting_percent": _dec(r.reporting),
        "base": r.base,
        "candidates": [
            {
                "number": c.candidate.number,
                "name": c.candidate.name,
                **translations(c.candidate),
                "party": c.candidate.party,
                **translations(c.candidate, "party"),
                "votes": c.votes,
                "percent": _dec(c.share),
            }
            for c in r.candidates
        ],
        "lines": dict(sorted(t.lines.items())),
    }


def national_json(
    election: Election,
    result: UnitResult,
    children: Iterable[UnitResult],
    *,
    published_only: bool,
    withheld: bool = False,
    annulled: int | None = None,
) -> dict[str, Any]:
    """National figures, the win rule's outcome and the first-level units; ``withheld``: the
    publication setting holds the results back (status ``withheld``, nothing counted);
    ``annulled``: the count of annulled stations, when the caller knows it."""
    if withheld:
        outcome_json: dict[str, Any] = {
            "status": "withheld",
            "winner": None,
            "runoff": [],
            "provisional": True,
            "explanation": withheld_reason(election),
        }
    else:
        outcome = decide(election, result, annulled=annulled)
        outcome_json = {
            "status": outcome.status,
            "winner": outcome.winner.number if outcome.winner else None,
            "runoff": [c.number for c in outcome.runoff],
            "provisional": outcome.provisional,
            "explanation": outcome.explanation,
        }
    return {
        "election": election.slug,
        "simulated": election.simulated,
        "published_only": published_only,
        "outcome": outcome_json,
        **unit_json(result),
        "children": [unit_json(c) for c in children],
    }
