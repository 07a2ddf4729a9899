"""The manifest an audit fixes: every station with a published protocol, its reported votes
per candidate, its ballots and (MACRO) its error bound, in register order; the CSV that is
published and that ``secki audit-sample --manifest`` reads.

Ballots of a station: the larger of the voters who received a ballot and the ballots found in
the boxes (the protocol schema's ``participants`` and ``cast`` roles), so that the error
bound holds whichever of the two the paper shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from secki.audits.published import manifest_csv, read_manifest, sha256
from secki.elections.models import Candidate, Election, Station, Unit, UnitKind
from secki.protocol_schema.expr import CANDIDATE_GROUP
from secki.protocols.models import ProtocolStatus, ProtocolValue
from secki.stats.macro import macro_error_bounds


@dataclass(frozen=True)
class Reported:
    codes: list[str]  # station codes, manifest order
    station_ids: list[int]
    constituencies: list[str]
    candidates: list[str]  # "C1" …
    votes: np.ndarray[Any, np.dtype[np.int64]]  # stations × candidates
    ballots: np.ndarray[Any, np.dtype[np.int64]]

    def totals(self) -> dict[str, int]:
        sums = self.votes.sum(axis=0) if len(self.codes) else np.zeros(len(self.candidates))
        return {c: int(v) for c, v in zip(self.candidates, sums, strict=True)}


def winners_of(totals: Mapping[str, int], winners: int) -> list[str]:
    """The ``winners`` candidates with the most votes (ties broken by ballot order)."""
    ranked = sorted(totals, key=lambda c: (-totals[c], int(c[1:])))
    return ranked[:winners]


def _constituencies(election: Election) -> dict[int, str]:
    units = {u.id: u for u in Unit.objects.filter(election=election)}
    by_unit: dict[int, str] = {}
    for unit in units.values():
        current: Unit | None = unit
        while current is not None and current.kind != UnitKind.CONSTITUENCY:
            current = units.get(current.parent_id) if current.parent_id is not None else None
        by_unit[unit.id] = (current or unit).code
    return by_unit


def reported(election: Election) -> Reported:
    """Read every published current protocol of ``election`` (three statements)."""
    schema = election.protocol_schema()
    candidates = [
        f"{CANDIDATE_GROUP}{n}"
        for n in Candidate.objects.filter(election=election)
        .order_by("number")
        .values_list("number", flat=True)
    ]
    ballot_roles = ("participants", "cast")
    lines: set[str] = set(candidates)
    for role in ballot_roles:
        lines |= schema.roles[role].names
    values: dict[int, dict[str, int]] = {}
    for station_id, code, value in ProtocolValue.objects.filter(
        protocol__election=election,
        protocol__is_current=True,
        protocol__status=ProtocolStatus.PUBLISHED,
        code__in=lines,
    ).values_list("protocol__station_id", "code", "value"):
        values.setdefault(int(station_id), {})[code] = int(value)
    groups = _constituencies(election)
    stations = [
        s
        for s in Station.objects.filter(election=election)
        .order_by("position", "id")
        .values_list("id", "code", "unit_id")
        if s[0] in values
    ]
    n = len(stations)
    env: dict[str, Any] = {
        line: np.array([values[s[0]].get(line, 0) for s in stations], dtype=np.int64)
        for line in sorted(lines)
    }
    votes = (
        np.stack([env[c] for c in candidates], axis=1)
        if candidates and n
        else np.zeros((n, len(candidates)), dtype=np.int64)
    )
    env[CANDIDATE_GROUP] = votes.sum(axis=1)
    ballots: np.ndarray[Any, np.dtype[np.int64]] = votes.sum(axis=1)
    for role in ballot_roles:
        role_value = np.broadcast_to(np.asarray(schema.roles[role].evaluate(env)), (n,))
        ballots = np.maximum(ballots, np.rint(role_value).astype(np.int64))
    return Reported(
        codes=[s[1] for s in stations],
        station_ids=[s[0] for s in stations],
        constituencies=[groups[s[2]] for s in stations],
        candidates=candidates,
        votes=votes,
        ballots=ballots,
    )


def error_bounds(rep: Reported, winners: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """MACRO's u_p of every station (:func:`secki.stats.macro.macro_error_bounds`)."""
    columns = {c: rep.votes[:, i] for i, c in enumerate(rep.candidates)}
    out: np.ndarray[Any, np.dtype[np.float64]] = macro_error_bounds(columns, rep.ballots, winners)
    return out


__all__ = [
    "Reported",
    "error_bounds",
    "manifest_csv",
    "read_manifest",
    "reported",
    "sha256",
    "winners_of",
]
