"""Station arrays of one election, from its counted protocols.

The protocol schema's roles say which lines hold the registered voters, the voters who
received a ballot (``participants``), the ballots found in the boxes (``cast`` = valid +
invalid), the valid and the invalid ballots, so the same code serves any country's form.
Candidate votes are the lines ``C1`` … ``Cn``.

The line values are read as flat (station, line, value) columns (:mod:`secki.integrity.store`:
a binary COPY on PostgreSQL) and summed into a stations × lines matrix with numpy indexing.

Stations are grouped by their **constituency**: the nearest unit of kind ``constituency``
above the station, or the unit holding the station when there is none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from django.utils import timezone, translation

from secki.elections.models import Candidate, Election, Station, Unit, UnitKind
from secki.integrity import store
from secki.protocol_schema.expr import CANDIDATE_GROUP, Expression
from secki.protocol_schema.schema import ROLES
from secki.protocols.models import counted_statuses

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CandidateInfo:
    number: int
    name: str
    party: str
    #: the translated names (``secki.elections.names.local`` picks by language)
    name_az: str = ""
    name_ru: str = ""
    party_az: str = ""
    party_ru: str = ""

    @classmethod
    def of(cls, c: Candidate) -> CandidateInfo:
        return cls(c.number, c.name, c.party, c.name_az, c.name_ru, c.party_az, c.party_ru)

    @property
    def code(self) -> str:
        return f"{CANDIDATE_GROUP}{self.number}"


@dataclass(frozen=True, eq=False)
class StationData:
    """One row per station with a counted protocol, in register order."""

    election_id: int
    slug: str
    public: bool
    #: ledger head the data was read at, and when
    head: int
    loaded_at: dt.datetime
    codes: list[str]
    names: list[str]
    groups: npt.NDArray[np.str_]
    registered: IntArray
    participants: IntArray
    cast: IntArray
    valid: IntArray
    invalid: IntArray
    #: stations × candidates, columns in candidate order
    votes: IntArray
    candidates: list[CandidateInfo]
    roles: dict[str, str]
    stations_total: int
    group_names: dict[str, str] = field(default_factory=dict)
    #: station code → turnout-report flag messages (secki.results.anomalies)
    turnout_flags: dict[str, list[str]] = field(default_factory=dict)
    turnout_flag_counts: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.codes)

    @property
    def leader_index(self) -> int | None:
        """Column of the candidate with the most votes in these stations (None: no votes)."""
        if self.votes.size == 0:
            return None
        totals = self.votes.sum(axis=0)
        if totals.max() <= 0:
            return None
        return int(np.argmax(totals))

    @property
    def leader(self) -> CandidateInfo | None:
        i = self.leader_index
        return None if i is None else self.candidates[i]

    def leader_votes(self) -> IntArray:
        i = self.leader_index
        if i is None:
            return np.zeros(self.n, dtype=np.int64)
        column: IntArray = self.votes[:, i]
        return column


def natural_key(code: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting "2" before "10" and "1-2" before "1-10"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", code) if part
    )


def constituency_of(units: Mapping[int, Unit]) -> dict[int, Unit]:
    """unit id → the nearest unit of kind constituency at or above it (else the unit)."""
    out: dict[int, Unit] = {}
    for unit in units.values():
        current: Unit | None = unit
        while current is not None and current.kind != UnitKind.CONSTITUENCY:
            current = units.get(current.parent_id) if current.parent_id is not None else None
        out[unit.id] = current if current is not None else unit
    return out


def station_groups(election: Election) -> dict[int, Unit]:
    """station id → its constituency unit."""
    units = {u.id: u for u in Unit.objects.filter(election=election)}
    by_unit = constituency_of(units)
    return {
        sid: by_unit[uid]
        for sid, uid in Station.objects.filter(election=election).values_list("id", "unit_id")
    }


def _station_matrix(
    station_ids: IntArray, lines: tuple[IntArray, IntArray, IntArray], width: int
) -> tuple[IntArray, IntArray]:
    """Sum the (station id, line index, value) rows into one row per station of
    ``station_ids`` that has any: (positions in ``station_ids`` kept, stations × lines)."""
    line_station, line, value = lines
    order = np.argsort(station_ids, kind="stable")
    ordered = station_ids[order]
    at = np.searchsorted(ordered, line_station)
    known = at < ordered.size
    known[known] = ordered[at[known]] == line_station[known]
    rows = order[at[known]]
    full = np.zeros((station_ids.size, width), dtype=np.int64)
    np.add.at(full, (rows, line[known]), value[known])
    present = np.zeros(station_ids.size, dtype=np.bool_)
    present[rows] = True
    kept: IntArray = np.flatnonzero(present).astype(np.int64)
    matrix: IntArray = full[kept]
    return kept, matrix


def _role_value(expr: Expression, env: Mapping[str, Any], n: int) -> IntArray:
    value = expr.evaluate(env)
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
    out: IntArray = np.rint(arr).astype(np.int64)
    return out


def load(
    election: Election, *, public: bool, head: int, with_turnout_flags: bool = True
) -> StationData:
    """Read the counted protocols (published only when ``public``) into arrays."""
    schema = election.protocol_schema()
    candidates = [
        CandidateInfo.of(c) for c in Candidate.objects.filter(election=election).order_by("number")
    ]
    line_names: set[str] = set()
    for role in ROLES:
        line_names |= schema.roles[role].names
    codes = sorted(line_names | {c.code for c in candidates})
    stations = list(
        Station.objects.filter(election=election)
        .order_by("position", "id")
        .values_list("id", "code", "name", "unit_id")
    )
    kept_at, matrix = _station_matrix(
        np.fromiter((s[0] for s in stations), dtype=np.int64, count=len(stations)),
        store.protocol_lines(election.pk, counted_statuses(public), codes),
        len(codes),
    )
    kept = [stations[i] for i in kept_at.tolist()]
    n = len(kept)
    units = {u.id: u for u in Unit.objects.filter(election=election)}
    by_unit = constituency_of(units)
    env: dict[str, Any] = {code: matrix[:, i] for i, code in enumerate(codes)}
    votes = (
        np.stack([env[c.code] for c in candidates], axis=1)
        if candidates
        else np.zeros((n, 0), dtype=np.int64)
    )
    env[CANDIDATE_GROUP] = votes.sum(axis=1)
    values = {role: _role_value(schema.roles[role], env, n) for role in ROLES}
    group_units = [by_unit[s[3]] for s in kept]
    flags: dict[str, list[str]] = {}
    flag_counts: dict[str, int] = {}
    if with_turnout_flags and n:
        from secki.results.anomalies import KIND_LABELS, anomalies

        report = anomalies(election, public=public)
        flag_counts = report.counts()
        for f in report.flags:
            with translation.override("en"):  # stored analyses are shared by every language
                label = str(KIND_LABELS[f.kind])
            flags.setdefault(f.station, []).append(f"{label}: {f.message}")
    return StationData(
        election_id=election.pk,
        slug=election.slug,
        public=public,
        head=head,
        loaded_at=timezone.now(),
        codes=[s[1] for s in kept],
        names=[s[2] for s in kept],
        groups=np.array([u.code for u in group_units], dtype=np.str_).reshape(n),
        registered=values["registered"],
        participants=values["participants"],
        cast=values["cast"],
        valid=values["valid"],
        invalid=values["invalid"],
        votes=votes,
        candidates=candidates,
        roles={role: schema.roles[role].source for role in ROLES},
        stations_total=len(stations),
        group_names={u.code: u.name for u in group_units},
        turnout_flags=flags,
        turnout_flag_counts=flag_counts,
    )
