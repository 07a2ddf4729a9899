"""Export the public results as NIST SP 1500-100 v2 Election Results Common Data Format (JSON).

Precinct-level: one ``ReportingUnit`` per unit of the territory tree and per polling station
(``polling-place``), composed through ``ComposingGpUnitIds``; constituencies are
``Type: other, OtherType: constituency`` (spec/interop.md). One ``CandidateContest`` over the
root unit holds one ``CandidateSelection`` per candidate with a ``total`` vote count for every
unit and every station that has a published protocol; ``Election.BallotCounts`` gives ballots
cast and rejected per unit. Registered and participating voters and reporting progress are on
the units. OCD ids go out as ``ExternalIdentifier`` of type ``ocd-id``; ids below the country
are Secki's local ids and carry ``Label: local``. Names (units, stations, candidates, parties,
the election) are ``InternationalizedText`` with one ``LanguageString`` per language: English
first, then each translation the register gives (``az``, ``ru``).

**Electoral systems.** A proportional election's contest has ``VoteVariation: proportional``
and ``NumberElected`` (the seats); once the rules can decide, every list (candidate) carries
``PostElectionStatus`` (``winner`` with seats, else ``defeated``) and its seats as an
``ExternalIdentifier`` ``{Type: other, OtherType: seats-won}`` (the format has no seat count).
A referendum is a ``BallotMeasureContest`` (``Type: referendum``) with the two
``BallotMeasureSelection`` objects; its outcome (``approved``, ``rejected`` or ``invalid``) is an
``ExternalIdentifier`` ``{Type: other, OtherType: outcome}`` of the contest. A candidate's
official ballot number, where it differs from the ballot order (``SequenceOrder``), is an
``ExternalIdentifier`` ``{Type: other, OtherType: ballot-number}``.

Ids: ``gpu-<code>`` for units, ``gpu-ps-<code>`` for stations, ``cand-<n>``, ``party-<k>``,
``contest-<slug>``, ``sel-<n>``. Every ``…Id`` refers to an object in the file, and every
count of a unit equals the sum over its stations (tests check both; the schema cannot).

**Contests.** A protocol with more than one contest (a list vote and a single-member vote)
gives one ``CandidateContest`` per contest (``contest-<slug>-<code>``, named as the contest),
each with its own candidates' selections and its own rule's ``VoteVariation``,
``NumberElected`` and ``PostElectionStatus``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from secki import __version__ as secki_version
from secki.bundle import NAME_LANGUAGES
from secki.elections.models import Candidate
from secki.opendata.collect import PublicData, PublicStation
from secki.results.rules import ElectionOutcome, decide, decide_contests

LICENCE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
STATION_TYPE = "polling-place"
#: bytes of the stations' items :func:`write_nist` gathers before it writes them: a release
#: while results arrive runs beside the publisher's states, and every byte it holds at its
#: peak stays in the process (the allocator keeps it). Formerly 10,000 items at a time, about
#: 32 MB held at once at 6,537 stations (the items as text, joined, encoded, prefixed): the
#: publisher's RSS grew by that much at the first release of a soak (issue 15)
WRITE_BYTES = 1 << 20


def _text(value: str, language: str = "en") -> dict[str, Any]:
    return {
        "@type": "ElectionResults.InternationalizedText",
        "Text": [
            {"@type": "ElectionResults.LanguageString", "Content": value, "Language": language}
        ],
    }


def _names(record: Any, field: str = "name") -> dict[str, Any]:
    """``record``'s ``field`` in English (first, so a reader taking the first string gets the
    name as the register has it), then in each language it is translated into
    (``name_az`` → ``Language: az``)."""
    text = _text(getattr(record, field))
    for language in NAME_LANGUAGES:
        translation = getattr(record, f"{field}_{language}", "")
        if translation:
            text["Text"].append(
                {
                    "@type": "ElectionResults.LanguageString",
                    "Content": translation,
                    "Language": language,
                }
            )
    return text


def _ocd(value: str) -> list[dict[str, Any]]:
    if not value:
        return []
    ident: dict[str, Any] = {
        "@type": "ElectionResults.ExternalIdentifier",
        "Type": "ocd-id",
        "Value": value,
    }
    # only ocd-division/country:xx itself is registered; anything below is our local id
    if value.count("/") > 1:
        ident["Label"] = "local"
    return [ident]


def _other(kind: str, value: str) -> dict[str, Any]:
    """An ``ExternalIdentifier`` of type ``other``: what the format has no field for."""
    return {
        "@type": "ElectionResults.ExternalIdentifier",
        "Type": "other",
        "OtherType": kind,
        "Value": value,
    }


def unit_id(code: str) -> str:
    return f"gpu-{code}"


def station_id(code: str) -> str:
    return f"gpu-ps-{code}"


def _unit_type(kind: str, is_root: bool) -> dict[str, str]:
    if is_root or kind == "country":
        return {"Type": "country"}
    if kind == "constituency":
        return {"Type": "other", "OtherType": "constituency"}
    return {"Type": "other", "OtherType": kind}


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _Stream:
    """A list of the report whose items are produced as it is written (:func:`write_nist`):
    ``head`` (the units' items), then one item per station from ``station``; a national
    election's stations are never all held as documents at once."""

    def __init__(
        self,
        head: list[dict[str, Any]],
        stations: list[PublicStation],
        station: Callable[[PublicStation], dict[str, Any] | None],
    ) -> None:
        self.head, self.stations, self.station = head, stations, station

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.head
        for s in self.stations:
            item = self.station(s)
            if item is not None:
                yield item


def export_nist(data: PublicData) -> dict[str, Any]:
    """The NIST SP 1500-100 v2 election report of ``data`` (every item in memory)."""
    report = _report(data)
    _materialise(report)
    return report


def write_nist(data: PublicData, out: Writable) -> None:
    """Write :func:`export_nist`'s report as compact JSON (the same bytes as dumping it with
    ``separators=(",", ":")`` and ``ensure_ascii=False``), the stations' items a few at a
    time."""
    streams: list[_Stream] = []

    def mark(o: object) -> str:
        if isinstance(o, _Stream):
            streams.append(o)
            return f"\x00{len(streams) - 1}\x00"
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")

    text = json.dumps(_report(data), ensure_ascii=False, separators=(",", ":"), default=mark)
    parts = _PLACE.split(text)
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.write(part.encode("utf-8"))
            continue
        out.write(b"[")
        batch: list[bytes] = []  # the items not written yet, with their commas
        gathered, first = 0, True
        for item in streams[int(part)]:
            if not first:
                batch.append(b",")
            encoded = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
            batch.append(encoded)
            gathered, first = gathered + len(encoded) + 1, False
            if gathered >= WRITE_BYTES:
                out.write(b"".join(batch))
                batch, gathered = [], 0
        if batch:
            out.write(b"".join(batch))
        out.write(b"]")


_PLACE = re.compile(r'"\\u0000(\d+)\\u0000"')


def _materialise(value: Any) -> Any:
    """Replace every :class:`_Stream` in the report by the list of its items."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _materialise(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _materialise(item)
    elif isinstance(value, _Stream):
        return list(value)
    return value


def _report(data: PublicData) -> dict[str, Any]:
    election = data.election
    schema = data.schema
    root = data.root
    national = data.unit_result(root)
    outcome = decide(
        election,
        national,
        annulled=data.annulled_count,
        districts=[data.unit_result(u) for u in data.units if u.seats is not None],
    )
    gp_units: list[dict[str, Any]] = []
    unit_counts: dict[int, list[dict[str, Any]]] = {c.number: [] for c in data.candidates}
    unit_ballots: list[dict[str, Any]] = []

    def vote_count(c: Candidate, gpu: str, lines: dict[str, int]) -> dict[str, Any]:
        return {
            "@type": "ElectionResults.VoteCounts",
            "GpUnitId": gpu,
            "Type": "total",
            "Count": lines.get(c.line_code, 0),
        }

    def ballot_count(gpu: str, lines: dict[str, int]) -> dict[str, Any]:
        return {
            "@type": "ElectionResults.BallotCounts",
            "GpUnitId": gpu,
            "Type": "total",
            "BallotsCast": int(schema.role("cast", lines)),
            "BallotsRejected": int(schema.role("invalid", lines)),
        }

    for u in data.units:
        t = data.totals[u.id]
        r = data.unit_result(u)
        gpu: dict[str, Any] = {
            "@id": unit_id(u.code),
            "@type": "ElectionResults.ReportingUnit",
            **_unit_type(u.kind, u.parent_id is None),
            "Name": _names(u),
            "ComposingGpUnitIds": [unit_id(c.code) for c in data.children(u)]
            + [station_id(s.code) for s in data.stations_of(u)],
            "VotersRegistered": t.registered_total,
            "VotersParticipated": r.participants,
            "SubUnitsReported": t.stations_reported,
            "TotalSubUnits": t.stations_total,
        }
        if u.number is not None:
            gpu["Number"] = str(u.number)
        ocd = _ocd(u.ocd_id)
        if ocd:
            gpu["ExternalIdentifier"] = ocd
        if not gpu["ComposingGpUnitIds"]:
            del gpu["ComposingGpUnitIds"]
        gp_units.append(gpu)
        if t.stations_reported:
            for c in data.candidates:
                unit_counts[c.number].append(vote_count(c, unit_id(u.code), t.lines))
            unit_ballots.append(ballot_count(unit_id(u.code), t.lines))

    def station_unit(s: PublicStation) -> dict[str, Any]:
        gps: dict[str, Any] = {
            "@id": station_id(s.code),
            "@type": "ElectionResults.ReportingUnit",
            "Type": STATION_TYPE,
            "Name": _names(s),
            "Number": str(s.number),
            "VotersRegistered": s.registered,
        }
        ocd = _ocd(s.ocd_id)
        if ocd:
            gps["ExternalIdentifier"] = ocd
        lines = data.values.get(s.id)
        if lines is not None:
            gps["VotersParticipated"] = int(schema.role("participants", lines))
        return gps

    def station_count(c: Candidate) -> Callable[[PublicStation], dict[str, Any] | None]:
        def count(s: PublicStation) -> dict[str, Any] | None:
            lines = data.values.get(s.id)
            return None if lines is None else vote_count(c, station_id(s.code), lines)

        return count

    def station_ballots(s: PublicStation) -> dict[str, Any] | None:
        lines = data.values.get(s.id)
        return None if lines is None else ballot_count(station_id(s.code), lines)

    units = _Stream(gp_units, data.stations, station_unit)
    counts = {
        c.number: _Stream(unit_counts[c.number], data.stations, station_count(c))
        for c in data.candidates
    }
    ballots = _Stream(unit_ballots, data.stations, station_ballots)

    parties: dict[str, str] = {}
    party_names: dict[str, dict[str, Any]] = {}  # a party's name from its first candidate
    for c in data.candidates:
        if c.party and c.party not in parties:
            parties[c.party] = f"party-{len(parties) + 1}"
            party_names[c.party] = _names(c, "party")
    decided = decide_contests(election, national, annulled=data.annulled_count)
    outcome_of: dict[int, ElectionOutcome] = {
        c.number: next((d.outcome for d in decided if d.contest.code == c.contest), outcome)
        for c in data.candidates
    }
    candidates = []
    for c in data.candidates:
        item: dict[str, Any] = {
            "@id": f"cand-{c.number}",
            "@type": "ElectionResults.Candidate",
            "BallotName": _names(c),
        }
        identifiers = []
        if c.ballot_number is not None:
            identifiers.append(_other("ballot-number", str(c.ballot_number)))
        if c.party:
            item["PartyId"] = parties[c.party]
        own = outcome_of[c.number]
        final = not own.provisional
        seats = {row.candidate.number: row.seats for row in own.seats}
        if final and own.status == "winner" and own.winner == c:
            item["PostElectionStatus"] = "winner"
        elif final and own.status == "runoff":
            item["PostElectionStatus"] = "advanced-to-runoff" if c in own.runoff else "defeated"
        elif final and own.status == "winner":
            item["PostElectionStatus"] = "defeated"
        elif final and own.status == "seats":
            item["PostElectionStatus"] = "winner" if seats.get(c.number) else "defeated"
            identifiers.append(_other("seats-won", str(seats.get(c.number, 0))))
        if identifiers:
            item["ExternalIdentifier"] = identifiers
        candidates.append(item)
    contest: dict[str, Any]
    contests: list[dict[str, Any]] = []
    for d in decided:
        rule = d.contest.rule
        majority = rule["rule"] == "absolute_majority"
        proportional = rule["rule"] == "proportional"
        item = {
            "@id": f"contest-{election.slug}-{d.contest.code}",
            "@type": "ElectionResults.CandidateContest",
            "Name": d.contest.name,
            "ElectionDistrictId": unit_id(root.code),
            "VotesAllowed": 1,
            "VoteVariation": (
                "majority" if majority else "proportional" if proportional else "plurality"
            ),
            "SubUnitsReported": national.totals.stations_reported,
            "TotalSubUnits": national.totals.stations_total,
            "ContestSelection": [
                {
                    "@id": f"sel-{c.number}",
                    "@type": "ElectionResults.CandidateSelection",
                    "SequenceOrder": c.number,
                    "CandidateIds": [f"cand-{c.number}"],
                    "VoteCounts": counts[c.number],
                }
                for c in data.candidates
                if c.contest == d.contest.code
            ],
            "NumberElected": rule["seats"] if proportional else 1,
        }
        if majority:
            item["NumberRunoff"] = rule["runoff_size"]
        contests.append(item)
    if contests:
        contest = contests[0]
    elif election.win_rule == "referendum":
        contest = {
            "@id": f"contest-{election.slug}",
            "@type": "ElectionResults.BallotMeasureContest",
            "Name": election.name,
            "ElectionDistrictId": unit_id(root.code),
            "Type": "referendum",
            "VoteVariation": "majority",
            "SubUnitsReported": national.totals.stations_reported,
            "TotalSubUnits": national.totals.stations_total,
            "ContestSelection": [
                {
                    "@id": f"sel-{c.number}",
                    "@type": "ElectionResults.BallotMeasureSelection",
                    "Selection": _text(c.name),
                    "SequenceOrder": c.number,
                    "VoteCounts": counts[c.number],
                }
                for c in data.candidates
            ],
        }
        if not outcome.provisional and outcome.status in ("approved", "rejected", "invalid"):
            contest["ExternalIdentifier"] = [_other("outcome", outcome.status)]
        candidates = []
    else:
        majority = election.win_rule == "absolute_majority"
        proportional = election.win_rule == "proportional"
        variation = "majority" if majority else "proportional" if proportional else "plurality"
        contest = {
            "@id": f"contest-{election.slug}",
            "@type": "ElectionResults.CandidateContest",
            "Name": election.name,
            "ElectionDistrictId": unit_id(root.code),
            "VotesAllowed": 1,
            "VoteVariation": variation,
            "SubUnitsReported": national.totals.stations_reported,
            "TotalSubUnits": national.totals.stations_total,
            "ContestSelection": [
                {
                    "@id": f"sel-{c.number}",
                    "@type": "ElectionResults.CandidateSelection",
                    "SequenceOrder": c.number,
                    "CandidateIds": [f"cand-{c.number}"],
                    "VoteCounts": counts[c.number],
                }
                for c in data.candidates
            ],
        }
        if majority:
            contest["NumberRunoff"] = election.runoff_size
        if proportional:
            contest["NumberElected"] = (
                election.seats
                if election.seat_scope == "national"
                else sum(u.seats or 0 for u in data.units)
            )
    notes = f"Published protocols only. Licence: {LICENCE}."
    if election.simulated:
        notes = "SIMULATED DATA: not a real election. " + notes
    report: dict[str, Any] = {
        "@type": "ElectionResults.ElectionReport",
        "Format": "precinct-level",
        "GeneratedDate": data.generated_at.astimezone(election.tz).isoformat(timespec="seconds"),
        "Issuer": "Secki open data",
        "IssuerAbbreviation": "Secki",
        "SequenceStart": 1,
        "SequenceEnd": 1,
        "Status": "unofficial-complete" if data.complete else "unofficial-partial",
        "VendorApplicationId": f"Secki {secki_version}",
        "IsTest": bool(election.simulated),
        "Notes": notes,
        "GpUnit": units,
        "Party": [
            {"@id": pid, "@type": "ElectionResults.Party", "Name": party_names[name]}
            for name, pid in parties.items()
        ],
        "Election": [
            {
                "@type": "ElectionResults.Election",
                "Name": _names(election),
                "StartDate": election.date.isoformat(),
                "EndDate": election.date.isoformat(),
                "Type": "general",
                "ElectionScopeId": unit_id(root.code),
                "Candidate": candidates,
                "Contest": contests or [contest],
                "BallotCounts": ballots,
            }
        ],
    }
    if election.simulated:
        report["TestType"] = "simulated"
    if not candidates:
        del report["Election"][0]["Candidate"]
    if not report["Party"]:
        del report["Party"]
    return report
