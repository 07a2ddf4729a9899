"""The election's register as the bundle's files (docs/formats.md): ``units.csv``,
``stations.csv`` and ``candidates.csv`` from the models, and ``election.json``. The bundle
export writes them; the public log names their SHA-256 (``register.published``,
``election.published``) and publishes them beside it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from secki.bundle import (
    CANDIDATE_COLUMNS,
    CANDIDATE_CONTEST_COLUMN,
    CANDIDATE_EXTRA_COLUMNS,
    ELECTION_FILE,
    STATION_COLUMNS,
    STATION_EXTRA_COLUMNS,
    UNIT_COLUMNS,
    UNIT_EXTRA_COLUMNS,
)
from secki.bundle.write import election_text, table_bytes
from secki.elections.models import Candidate, Election, Station, Unit
from secki.elections.serialize import election_settings

UNITS_FILE = "units.csv"
STATIONS_FILE = "stations.csv"
CANDIDATES_FILE = "candidates.csv"

Table = tuple[list[str], list[list[object]]]


def _dec(value: Decimal | None) -> str | None:
    """Coordinates as the shortest exact decimal (40.1, 39.35682), as docs/formats.md says."""
    return None if value is None else format(value.normalize(), "f")


def unit_table(units: Sequence[Unit]) -> Table:
    """``units.csv``: the optional ``seats`` column only when some unit has seats."""
    by_id = {u.id: u for u in units}
    extra = UNIT_EXTRA_COLUMNS if any(u.seats is not None for u in units) else []
    rows: list[list[object]] = [
        [
            u.code,
            by_id[u.parent_id].code if u.parent_id else None,
            u.kind,
            u.number,
            u.name,
            u.ocd_id,
            *([u.seats] if extra else []),
        ]
        for u in units
    ]
    return [*UNIT_COLUMNS, *extra], rows


def candidate_table(candidates: Sequence[Candidate]) -> Table:
    """``candidates.csv`` in ballot order: the optional ``ballot_number`` column only when some
    candidate has an official number, ``contest`` only when the protocol has contests."""
    extra = CANDIDATE_EXTRA_COLUMNS if any(c.ballot_number is not None for c in candidates) else []
    contest = [CANDIDATE_CONTEST_COLUMN] if any(c.contest for c in candidates) else []
    rows: list[list[object]] = [
        [
            c.number,
            c.name,
            c.party,
            *([c.ballot_number] if extra else []),
            *([c.contest] if contest else []),
        ]
        for c in sorted(candidates, key=lambda c: c.number)
    ]
    return [*CANDIDATE_COLUMNS, *extra, *contest], rows


def register_tables(
    election: Election,
    units: Sequence[Unit] | None = None,
    stations: Sequence[Station] | None = None,
) -> dict[str, Table]:
    """Header and rows of each register file, by file name (units and stations in their
    register order, as given or read)."""
    if units is None:
        units = list(election.units.order_by("position"))
    if stations is None:
        stations = list(election.stations.order_by("position"))
    by_id = {u.id: u for u in units}
    # the optional webcam_url column only when some station has an address (docs/formats.md)
    extra = STATION_EXTRA_COLUMNS if any(s.webcam_url for s in stations) else []
    station_rows: list[list[object]] = [
        [
            s.code,
            by_id[s.unit_id].code,
            s.number,
            s.name,
            s.address,
            s.registered,
            _dec(s.latitude),
            _dec(s.longitude),
            s.abroad,
            s.temporary,
            s.webcam,
            s.ocd_id,
            *([s.webcam_url] if extra else []),
        ]
        for s in stations
    ]
    return {
        UNITS_FILE: unit_table(units),
        STATIONS_FILE: ([*STATION_COLUMNS, *extra], station_rows),
        CANDIDATES_FILE: candidate_table(list(election.candidates.order_by("number"))),
    }


def register_files(election: Election) -> dict[str, bytes]:
    """The register's files, by name, with the bytes the bundle export writes."""
    return {
        name: table_bytes(header, rows)
        for name, (header, rows) in register_tables(election).items()
    }


def settings_file(election: Election) -> tuple[str, bytes]:
    """``election.json``'s name and bytes, as the bundle export writes it."""
    return ELECTION_FILE, election_text(election_settings(election)).encode("utf-8")
