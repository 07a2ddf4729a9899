"""The JSON shape of results, shared by the API and the static snapshots (which must be
byte-identical to what the API answers the public)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from secki.bundle import translated
from secki.elections.models import Election
from secki.elections.names import translations
from secki.results.publication import withheld_reason
from secki.results.rules import ElectionOutcome, SeatResult, decide, decide_contests
from secki.results.tabulate import UnitResult, contest_result


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
                "ballot_number": c.candidate.official_number,
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


def _seats_json(rows: Sequence[SeatResult]) -> list[dict[str, Any]]:
    return [
        {
            "number": row.candidate.number,
            "ballot_number": row.candidate.official_number,
            "name": row.candidate.name,
            "votes": row.votes,
            "qualified": row.qualified,
            "seats": row.seats,
        }
        for row in rows
    ]


def outcome_json(outcome: ElectionOutcome) -> dict[str, Any]:
    """The outcome as the results API and the snapshots give it: proportional seats (per
    district too), the tie rule's decisions, a referendum's yes and no."""
    return {
        "status": outcome.status,
        "winner": outcome.winner.number if outcome.winner else None,
        "runoff": [c.number for c in outcome.runoff],
        "provisional": outcome.provisional,
        "explanation": outcome.explanation,
        "reason": outcome.reason or None,
        "seats": _seats_json(outcome.seats),
        "districts": [
            {
                "unit": d.unit.code,
                "name": d.unit.name,
                "seats": d.seats,
                "lists": _seats_json(d.lists),
            }
            for d in outcome.districts
        ],
        "ties": [
            {
                "unit": t.unit.code if t.unit else None,
                "seat": t.seat,
                "tied": [c.number for c in t.tied],
                "winner": t.winner.number,
            }
            for t in outcome.ties
        ],
        "referendum": (
            {"yes": outcome.yes, "no": outcome.no}
            if outcome.status in ("approved", "rejected")
            else None
        ),
    }


def national_json(
    election: Election,
    result: UnitResult,
    children: Iterable[UnitResult],
    *,
    published_only: bool,
    withheld: bool = False,
    annulled: int | None = None,
    districts: Sequence[UnitResult] = (),
) -> dict[str, Any]:
    """National figures, the win rule's outcome and the first-level units; ``withheld``: the
    publication setting holds the results back (status ``withheld``, nothing counted);
    ``annulled``: the count of annulled stations, when the caller knows it; ``districts``: the
    results of the units with seats (a per-district proportional allocation).

    A protocol with more than one contest adds ``contests``: each contest's candidates, base
    (its valid ballots) and outcome by its own rule; ``outcome`` is then the first contest's."""
    contests: list[dict[str, Any]] = []
    if withheld:
        outcome_doc: dict[str, Any] = {
            "status": "withheld",
            "winner": None,
            "runoff": [],
            "provisional": True,
            "explanation": withheld_reason(election),
            "reason": None,
            "seats": [],
            "districts": [],
            "ties": [],
            "referendum": None,
        }
        contests = [
            {
                "contest": c.code,
                "name": c.name,
                "outcome": outcome_doc,
                **_contest_figures(contest_result(result, c)),
            }
            for c in election.protocol_schema().contests
        ]
    else:
        decided = decide_contests(election, result, annulled=annulled)
        if decided:
            outcome_doc = outcome_json(decided[0].outcome)
        else:
            outcome_doc = outcome_json(
                decide(election, result, annulled=annulled, districts=districts)
            )
        contests = [
            {
                "contest": d.contest.code,
                "name": d.contest.name,
                "outcome": outcome_json(d.outcome),
                **_contest_figures(d.result),
            }
            for d in decided
        ]
    return {
        "election": election.slug,
        "simulated": election.simulated,
        "published_only": published_only,
        "outcome": outcome_doc,
        **unit_json(result),
        **({"contests": contests} if contests else {}),
        "children": [unit_json(c) for c in children],
    }


def _contest_figures(r: UnitResult) -> dict[str, Any]:
    """A contest's base and candidates, as :func:`unit_json` gives them."""
    doc = unit_json(r)
    return {"base": doc["base"], "candidates": doc["candidates"]}
