"""``write_bundle(election, out_dir)``: the bundle of docs/formats.md, through the canonical
writers of :mod:`secki.bundle.write` (rows are produced in chunks to bound memory).

Row order: units parent first (AZ, NAX, constituencies 1…K); stations by constituency and
number (abroad stations last in their constituency); turnout by station, then report time;
protocols and truth in station order.

``truth.csv``: one row per station whose reported protocol differs from the clean one.
``stuffing`` is ``incremental``/``extreme`` (empty if not stuffed) with Klimek's x in
``stuffing_x``; ``integer_rewrite`` is 1 for integer-percentage rewrites. The shares are
fractions (6 decimals) with the definitions of spec/statistics.md §1: turnout = given / voters =
(L5 + L6) / L1 and leader share = leader / received = C1 / (L12 + L13), before and after fraud.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np

from secki.bundle import (
    CANDIDATE_COLUMNS,
    CANDIDATE_CONTEST_COLUMN,
    STATION_COLUMNS,
    TRUTH_COLUMNS,
    TURNOUT_COLUMNS,
    UNIT_COLUMNS,
    translated,
)
from secki.bundle.write import write_election, write_table
from secki.simulator import names
from secki.simulator.fraud import STUFFING_NAMES
from secki.simulator.model import POLLS_CLOSE_AT, Progress, SimulatedElection
from secki.simulator.votes import MAX_COMPLETION_MINUTES, Protocols

CHUNK = 50_000
COUNTRY_OCD = "ocd-division/country:az"
Row = Sequence[object]


#: the optional columns the simulator fills: the names in Azerbaijani and Russian
UNIT_HEADER = [*UNIT_COLUMNS, *translated("name")]
STATION_HEADER = [*STATION_COLUMNS, *translated("name")]
CANDIDATE_HEADER = [*CANDIDATE_COLUMNS, *translated("name"), *translated("party")]


def unit_rows(election: SimulatedElection) -> list[Row]:
    """Every unit with its name in English, Azerbaijani and Russian (:data:`UNIT_HEADER`)."""
    t = election.territory
    en, az, ru = names.COUNTRY
    rows: list[Row] = [("AZ", None, "country", None, en, COUNTRY_OCD, az, ru)]
    if t.n_nax:
        en, az, ru = names.NAX
        rows.append(("NAX", "AZ", "region", None, en, None, az, ru))
    for number in range(1, t.n_constituencies + 1):
        parent = t.region_of(number) or "AZ"
        en, az, ru = names.constituency(number)
        rows.append(
            (str(number), parent, "constituency", number, en, f"{COUNTRY_OCD}/ed:{number}", az, ru)
        )
    return rows


def station_rows(election: SimulatedElection, codes: list[str]) -> Iterator[Row]:
    t = election.territory
    for lo in range(0, t.n_stations, CHUNK):
        hi = min(lo + CHUNK, t.n_stations)
        const = t.constituency[lo:hi].tolist()
        number = t.number[lo:hi].tolist()
        abroad = t.abroad[lo:hi].tolist()
        lat = t.latitude[lo:hi].tolist()
        lon = t.longitude[lo:hi].tolist()
        columns = zip(
            codes[lo:hi],
            const,
            number,
            t.registered[lo:hi].tolist(),
            lat,
            lon,
            abroad,
            t.temporary[lo:hi].tolist(),
            t.webcam[lo:hi].tolist(),
            strict=True,
        )
        for code, c, m, reg, la, lo_, ab, tmp, cam in columns:
            en, az, ru = names.station(m, ab)
            yield (
                code,
                c,
                m,
                en,
                None,
                reg,
                None if ab else la,
                None if ab else lo_,
                ab,
                tmp,
                cam,
                f"{COUNTRY_OCD}/ed:{c}/polling_station:{m}",
                az,
                ru,
            )


def turnout_rows(election: SimulatedElection, codes: list[str]) -> Iterator[Row]:
    times = election.turnout_times
    n_times = len(times)
    flat = election.turnout.ravel()
    for lo in range(0, len(flat), CHUNK * n_times):
        block = flat[lo : lo + CHUNK * n_times]
        index = np.flatnonzero(block >= 0)
        position = (index + lo).tolist()
        for pos, voters in zip(position, block[index].tolist(), strict=True):
            station, slot = divmod(pos, n_times)
            yield codes[station], times[slot], voters


def completion_table() -> list[str]:
    return [
        (POLLS_CLOSE_AT + timedelta(minutes=m)).isoformat()
        for m in range(MAX_COMPLETION_MINUTES + 1)
    ]


def protocol_header(election: SimulatedElection) -> list[str]:
    return ["station", *election.schema.columns(len(election.candidates))]


def protocol_rows(election: SimulatedElection, codes: list[str]) -> Iterator[Row]:
    p: Protocols = election.protocols
    header = protocol_header(election)[1:]
    stamps = completion_table()
    n_lines = len(election.schema.lines)
    for lo in range(0, election.n_stations, CHUNK):
        hi = min(lo + CHUNK, election.n_stations)
        columns: list[list[object]] = []
        for code in header[:n_lines]:
            if code in p.lines:
                columns.append(p.lines[code][lo:hi].tolist())
            elif code == "L17":
                columns.append([stamps[m] for m in p.completed[lo:hi].tolist()])
            else:
                columns.append([None] * (hi - lo))
        columns.extend(p.votes[lo:hi, j].tolist() for j in range(p.votes.shape[1]))
        yield from zip(codes[lo:hi], *columns, strict=True)


def truth_rows(election: SimulatedElection, codes: list[str]) -> Iterator[Row]:
    truth = election.truth
    index = np.flatnonzero(truth.touched)
    turnout_before = election.turnout_share(election.clean)[index]
    turnout_after = election.turnout_share(election.protocols)[index]
    leader_before = election.leader_share(election.clean)[index]
    leader_after = election.leader_share(election.protocols)[index]
    for j, i in enumerate(index.tolist()):
        kind = int(truth.stuffing[i])
        yield (
            codes[i],
            STUFFING_NAMES[kind] or None,
            f"{truth.x[i]:.6f}" if kind else None,
            bool(truth.integer[i]),
            f"{turnout_before[j]:.6f}",
            f"{turnout_after[j]:.6f}",
            f"{leader_before[j]:.6f}",
            f"{leader_after[j]:.6f}",
        )


def write_bundle(
    election: SimulatedElection, out_dir: str | Path, progress: Progress | None = None
) -> dict[str, int]:
    """Write the bundle; returns the number of data rows per file."""
    out = Path(out_dir)
    step = progress or (lambda _name: None)
    codes = election.station_codes()
    counts: dict[str, int] = {}
    step("election.json")
    write_election(out, election.settings)
    counts["election.json"] = 1
    step("units.csv")
    counts["units.csv"] = write_table(out / "units.csv", UNIT_HEADER, unit_rows(election))
    step("stations.csv")
    counts["stations.csv"] = write_table(
        out / "stations.csv", STATION_HEADER, station_rows(election, codes)
    )
    step("candidates.csv")
    contest = [CANDIDATE_CONTEST_COLUMN] if any(c.contest for c in election.candidates) else []
    counts["candidates.csv"] = write_table(
        out / "candidates.csv",
        [*CANDIDATE_HEADER, *contest],
        [
            (
                c.number,
                c.name,
                c.party,
                c.name_az,
                c.name_ru,
                c.party_az,
                c.party_ru,
                *([c.contest] if contest else []),
            )
            for c in election.candidates
        ],
    )
    step("turnout.csv")
    counts["turnout.csv"] = write_table(
        out / "turnout.csv", TURNOUT_COLUMNS, turnout_rows(election, codes)
    )
    step("protocols.csv")
    counts["protocols.csv"] = write_table(
        out / "protocols.csv", protocol_header(election), protocol_rows(election, codes)
    )
    step("truth.csv")
    counts["truth.csv"] = write_table(out / "truth.csv", TRUTH_COLUMNS, truth_rows(election, codes))
    return counts
