"""``simulate(config) -> SimulatedElection``: the whole election as numpy arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from secki.protocol_schema import ProtocolSchema
from secki.simulator import names
from secki.simulator._types import FloatArray, IntArray
from secki.simulator.config import SimulationConfig
from secki.simulator.fraud import Truth, rewrite_integer, stuff
from secki.simulator.territory import Territory, build_territory
from secki.simulator.votes import (
    TURNOUT_TIMES,
    Latent,
    Protocols,
    simulate_votes,
    turnout_reports,
)

Progress = Callable[[str], None]

ELECTION_DATE = "2024-02-07"
TIMEZONE = "Asia/Baku"
UTC_OFFSET = timezone(timedelta(hours=4))
POLLS_OPEN = "08:00"
POLLS_CLOSE = "19:00"
POLLS_CLOSE_AT = datetime(2024, 2, 7, 19, 0, tzinfo=UTC_OFFSET)
PARTIES = tuple(english for english, _, _ in names.PARTIES)
# SeedSequence children: one independent stream per stage, so that fraud injection never
# changes the clean election of the same seed
STREAMS = ("territory", "votes", "turnout", "stuffing", "integer")


#: with ``list_seats``: the party lists of the second contest and their national shares
LIST_SHARES = (0.38, 0.24, 0.17, 0.12, 0.06, 0.03)
LIST_THRESHOLD = 0.05


@dataclass(frozen=True)
class Candidate:
    number: int
    name: str
    party: str
    name_az: str = ""
    name_ru: str = ""
    party_az: str = ""
    party_ru: str = ""
    contest: str = ""  # the protocol's contest (with ``list_seats``), else ""


@dataclass
class SimulatedElection:
    """A simulated election: settings, territory, candidates, turnout reports, protocols.

    ``clean`` holds the protocols before fraud injection, ``protocols`` the reported ones;
    ``truth`` says which stations were touched and how.
    """

    config: SimulationConfig
    settings: dict[str, Any]  # election.json
    schema: ProtocolSchema
    territory: Territory
    candidates: list[Candidate]
    turnout_times: tuple[str, ...]
    turnout: IntArray  # (N × len(turnout_times)) cumulative voters, −1 = no report
    clean: Protocols
    protocols: Protocols
    latent: Latent
    truth: Truth

    @property
    def n_stations(self) -> int:
        return self.territory.n_stations

    def station_codes(self) -> list[str]:
        t = self.territory
        return [f"{c}-{m}" for c, m in zip(t.constituency.tolist(), t.number.tolist(), strict=True)]

    def turnout_share(self, protocols: Protocols | None = None) -> FloatArray:
        """Per station (L5 + L6) / L1."""
        p = protocols or self.protocols
        share: FloatArray = p.issued / np.maximum(p["L1"], 1)
        return share

    def leader_share(self, protocols: Protocols | None = None) -> FloatArray:
        """Per station C1 / (L12 + L13): the leader's share of the ballots in the boxes."""
        p = protocols or self.protocols
        share: FloatArray = p.votes[:, 0] / np.maximum(p.in_boxes, 1)
        return share

    def completed_at(self, minutes: int) -> datetime:
        return POLLS_CLOSE_AT + timedelta(minutes=minutes)

    def summary(self) -> dict[str, Any]:
        t = self.territory
        p = self.protocols
        valid = int(p["L14"].sum())
        votes = p.votes.sum(axis=0)
        truth = self.truth
        return {
            "stations": t.n_stations,
            "constituencies": t.n_constituencies,
            "in_nax": t.n_nax,
            "abroad": int(t.abroad.sum()),
            "temporary": int(t.temporary.sum()),
            "webcam": int(t.webcam.sum()),
            "registered": int(t.registered.sum()),
            "turnout": float(p.issued.sum()) / max(int(t.registered.sum()), 1),
            "valid": valid,
            "shares": [float(v) / max(valid, 1) for v in votes],
            "stuffed_incremental": int((truth.stuffing == 1).sum()),
            "stuffed_extreme": int((truth.stuffing == 2).sum()),
            "integer_rewrites": int(truth.integer.sum()),
        }


def candidate_name(number: int) -> str:
    """Candidate A, B, …, Z, AA, AB, … (spreadsheet-style letters)."""
    return names.candidate(number)[0]


def make_candidates(n: int) -> list[Candidate]:
    """Candidates 1 … n with their names and parties in English, Azerbaijani and Russian."""
    found = []
    for i in range(1, n + 1):
        name, name_az, name_ru = names.candidate(i)
        party, party_az, party_ru = names.party(i)
        found.append(Candidate(i, name, party, name_az, name_ru, party_az, party_ru))
    return found


def contest_schema(base: ProtocolSchema, seats: int) -> ProtocolSchema:
    """``base`` (the presidential protocol) with a second contest on the same form: party
    lists (lines P1 valid and P2 invalid list ballots, ``seats`` by D'Hondt over a 5 %
    threshold). Its check tying L14 to sum(C) names the presidential contest's candidates
    instead, sum(C.president): sum(C) would add both contests' candidates."""
    data = base.to_dict()
    data["lines"] += [
        {"code": "P1", "label": "Valid party-list ballots", "kind": "count", "required": True},
        {"code": "P2", "label": "Invalid party-list ballots", "kind": "count", "required": True},
    ]
    data["checks"] = [
        {**c, "expression": c["expression"].replace("sum(C)", "sum(C.president)")}
        for c in data["checks"]
    ] + [
        {
            "code": "LIST-1",
            "expression": "P1 + P2 == L12 + L13",
            "severity": "hard",
            "scope": "station",
            "message": "the party-list ballots found differ from the ballots in the boxes",
        },
        {
            "code": "LIST-2",
            "expression": "P1 == sum(C.lists)",
            "severity": "hard",
            "scope": "station",
            "message": "the valid party-list ballots differ from the lists' votes",
        },
    ]
    data["contests"] = [
        {
            "code": "president",
            "name": "President",
            "valid": base.roles["valid"].source,
            "invalid": base.roles["invalid"].source,
            "win_rule": {"rule": "absolute_majority", "runoff_size": 2},
        },
        {
            "code": "lists",
            "name": "Party lists",
            "valid": "P1",
            "invalid": "P2",
            "win_rule": {
                "rule": "proportional",
                "method": "dhondt",
                "seats": seats,
                "threshold": LIST_THRESHOLD,
            },
        },
    ]
    return ProtocolSchema.from_dict(data, source="simulated two-contest protocol")


def list_candidates(first: int) -> list[Candidate]:
    out = []
    for i in range(len(LIST_SHARES)):
        party, party_az, party_ru = names.PARTIES[i % len(names.PARTIES)]
        out.append(
            Candidate(
                first + i,
                f"List {i + 1}",
                party,
                name_az=f"Siyahı {i + 1}",
                name_ru=f"Список {i + 1}",
                party_az=party_az,
                party_ru=party_ru,
                contest="lists",
            )
        )
    return out


def add_lists(p: Protocols, rng: np.random.Generator) -> Protocols:
    """The party-list contest of each station: the ballots in the boxes, the presidential
    invalid count again invalid, the rest split among the lists (multinomial)."""
    invalid = p["L15a"] + p["L15b"]
    valid = np.maximum(p.in_boxes - invalid, 0)
    shares = np.asarray(LIST_SHARES) / sum(LIST_SHARES)
    votes = rng.multinomial(valid, shares).astype(p.votes.dtype)
    return replace(
        p,
        lines={**p.lines, "P1": valid.astype(p.votes.dtype), "P2": (p.in_boxes - valid)},
        votes=np.concatenate([p.votes, votes], axis=1),
    )


def election_settings(config: SimulationConfig, schema: ProtocolSchema) -> dict[str, Any]:
    from secki.bundle import FORMAT

    return {
        "format": FORMAT,
        "slug": config.slug,
        "name": config.name,
        **config.translated_names(),
        "kind": "presidential",
        "country": "az",
        "date": ELECTION_DATE,
        "timezone": TIMEZONE,
        "polls_open": POLLS_OPEN,
        "polls_close": POLLS_CLOSE,
        "turnout_times": list(TURNOUT_TIMES),
        "win_rule": {
            "rule": "absolute_majority",
            "base": "valid",
            "runoff_size": 2,
            "invalid_station_share": 0.4,
        },
        "simulated": True,
        "protocol": schema.to_dict(),
    }


def simulate(
    config: SimulationConfig | None = None, progress: Progress | None = None
) -> SimulatedElection:
    """Simulate one election; the same config gives the same arrays (and bytes)."""
    config = config or SimulationConfig()
    step = progress or (lambda _name: None)
    rngs = dict(
        zip(
            STREAMS,
            (
                np.random.default_rng(s)
                for s in np.random.SeedSequence(config.seed).spawn(len(STREAMS))
            ),
            strict=True,
        )
    )
    schema = ProtocolSchema.builtin()
    if config.list_seats:
        schema = contest_schema(schema, config.list_seats)
    step("territory")
    territory = build_territory(config, rngs["territory"])
    step("votes")
    clean, latent = simulate_votes(territory, config.vote_shares, config.turnout, rngs["votes"])
    step("turnout")
    turnout = turnout_reports(rngs["turnout"], clean.issued)
    step("fraud")
    truth = Truth.clean(territory.n_stations)
    protocols = clean
    if config.fraud.any:
        protocols = clean.copy()
        if config.fraud.stuffing is not None:
            stuff(protocols, config.fraud.stuffing, rngs["stuffing"], truth)
        if config.fraud.integer is not None:
            rewrite_integer(protocols, config.fraud.integer, rngs["integer"], truth)
    candidates = make_candidates(config.candidates)
    if config.list_seats:
        # a stream of its own, after the others: the presidential contest keeps its numbers
        lists_rng = np.random.default_rng(
            np.random.SeedSequence(config.seed).spawn(len(STREAMS) + 1)[-1]
        )
        protocols = add_lists(protocols, lists_rng)
        candidates = [replace(c, contest="president") for c in candidates]
        candidates += list_candidates(len(candidates) + 1)
    return SimulatedElection(
        config=config,
        settings=election_settings(config, schema),
        schema=schema,
        territory=territory,
        candidates=candidates,
        turnout_times=TURNOUT_TIMES,
        turnout=turnout,
        clean=clean,
        protocols=protocols,
        latent=latent,
        truth=truth,
    )
