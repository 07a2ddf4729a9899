"""The election's register as the bundle's files (docs/formats.md): ``units.csv``,
``stations.csv`` and ``candidates.csv`` from the models, and ``election.json``. The bundle
export writes them; the public log names their SHA-256 (``register.published``,
``election.published``) and publishes them beside it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from secki.bundle import (
    CANDIDATE_COLUMNS,
    CANDIDATE_EXTRA_COLUMNS,
    ELECTION_FILE,
    STATION_COLUMNS,
    STATION_EXTRA_COLUMNS,
    UNIT_COLUMNS,
    UNIT_EXTRA_COLUMNS,
    filled_columns,
)
from secki.bundle.write import election_text, table_bytes
from secki.elections.models import Candidate, Election, Station, Unit
from secki.elections.serialize import election_settings

UNITS_FILE = "units.csv"
STATIONS_FILE = "stations.csv"
CANDIDATES_FILE = "candidates.csv"

Table = tuple[list[str], list[list[object]]]
#: stations read from the database at a time while their file is written
STATION_CHUNK = 10_000


def _dec(value: Decimal | None) -> str | None:
    """Coordinates as the shortest exact decimal (40.1, 39.35682), as docs/formats.md says."""
    return None if value is None else format(value.normalize(), "f")


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
    # the optional columns (webcam_url, translated names) only when some row fills them
    # (docs/formats.md)
    extra = filled_columns(STATION_EXTRA_COLUMNS, stations)
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
            *(getattr(s, c) for c in extra),
        ]
        for s in stations
    ]
    return {
        UNITS_FILE: unit_table(units),
        STATIONS_FILE: ([*STATION_COLUMNS, *extra], station_rows),
        CANDIDATES_FILE: candidate_table(list(election.candidates.order_by("number"))),
    }


def unit_table(units: Sequence[Unit]) -> Table:
    """``units.csv``'s header and rows (``units`` in register order, parents first)."""
    by_id = {u.id: u for u in units}
    extra = filled_columns(UNIT_EXTRA_COLUMNS, units)
    rows: list[list[object]] = [
        [
            u.code,
            by_id[u.parent_id].code if u.parent_id else None,
            u.kind,
            u.number,
            u.name,
            u.ocd_id,
            *(getattr(u, c) for c in extra),
        ]
        for u in units
    ]
    return [*UNIT_COLUMNS, *extra], rows


def candidate_table(candidates: Sequence[Candidate]) -> Table:
    """``candidates.csv``'s header and rows (``candidates`` in ballot order)."""
    extra = filled_columns(CANDIDATE_EXTRA_COLUMNS, candidates)
    rows: list[list[object]] = [
        [c.number, c.name, c.party, *(getattr(c, col) for col in extra)]
        for c in sorted(candidates, key=lambda c: c.number)
    ]
    return [*CANDIDATE_COLUMNS, *extra], rows


def register_files(election: Election) -> dict[str, bytes]:
    """The register's files, by name, with the bytes the bundle export writes (the same as
    :func:`register_tables`' rows; the stations read from the database in chunks as plain
    values, not held all at once)."""
    units = list(election.units.order_by("position"))
    code_of = {u.id: u.code for u in units}
    extra = [
        c
        for c in STATION_EXTRA_COLUMNS
        if election.stations.exclude(**{c: ""}).exclude(**{f"{c}__isnull": True}).exists()
    ]
    # the bundle's columns in their order, the unit as its id (written as its code below)
    fields = ["unit_id" if c == "unit" else c for c in STATION_COLUMNS]
    values = election.stations.order_by("position").values_list(*fields, *extra)
    station_rows = (
        [code, code_of[unit], number, name, address, registered, _dec(lat), _dec(lon), *rest]
        for code, unit, number, name, address, registered, lat, lon, *rest in values.iterator(
            chunk_size=STATION_CHUNK
        )
    )
    return {
        UNITS_FILE: table_bytes(*unit_table(units)),
        STATIONS_FILE: table_bytes([*STATION_COLUMNS, *extra], station_rows),
        CANDIDATES_FILE: table_bytes(
            *candidate_table(list(election.candidates.order_by("number")))
        ),
    }


def settings_file(election: Election) -> tuple[str, bytes]:
    """``election.json``'s name and bytes, as the bundle export writes it."""
    return ELECTION_FILE, election_text(election_settings(election)).encode("utf-8")
