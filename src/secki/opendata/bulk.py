"""Bulk open-data files of one election.

``stations.csv.gz``: one row per polling station with its register entry, the status of its
current public protocol and one column per protocol line and candidate (``C1`` … ``Cn``, in
ballot order; names in ``candidates.csv``). Column names and cell formats follow the election
bundle (docs/formats.md): the station columns are ``stations.csv``'s (``code`` is called
``station``), the line columns ``protocols.csv``'s, so :mod:`secki.opendata.roundtrip` turns
a download back into a bundle that ``secki import`` loads.

``turnout.csv.gz`` is the bundle's ``turnout.csv`` (station, report time, cumulative voters);
``election.json``, ``units.csv`` and ``candidates.csv`` are the bundle's own files.
Every file is written deterministically (gzip without a timestamp), so equal data gives equal
bytes and equal SHA-256.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from secki.bundle import CANDIDATE_COLUMNS, TURNOUT_COLUMNS, UNIT_COLUMNS
from secki.bundle.write import write_election, write_table
from secki.elections.bundle_io import election_settings
from secki.opendata.collect import PublicData
from secki.protocols.models import ProtocolStatus

#: the station columns: the bundle's stations.csv columns, ``code`` named ``station``, plus
#: the unit's name for readers who do not join units.csv
STATION_FIELDS = [
    "station",
    "unit",
    "unit_name",
    "number",
    "name",
    "address",
    "registered",
    "latitude",
    "longitude",
    "abroad",
    "temporary",
    "webcam",
    "ocd_id",
]
#: the protocol's public status: ``published`` (counted), ``annulled`` (decision in
#: ``annulment``, lines left empty because they are not counted), or empty (not published yet)
STATUS_FIELDS = ["status", "version", "annulment"]


def _coordinate(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def bulk_header(data: PublicData) -> list[str]:
    return [*STATION_FIELDS, *STATUS_FIELDS, *data.schema.columns(len(data.candidates))]


def bulk_rows(data: PublicData) -> Iterator[list[object]]:
    units = {u.id: u for u in data.units}
    columns = data.schema.columns(len(data.candidates))
    datetime_codes = {ln.code for ln in data.schema.datetime_lines}
    tz = data.election.tz
    for s in data.stations:
        unit = units[s.unit_id]
        protocol = data.protocols.get(s.id)
        row: list[object] = [
            s.code,
            unit.code,
            unit.name,
            s.number,
            s.name,
            s.address,
            s.registered,
            _coordinate(s.latitude),
            _coordinate(s.longitude),
            int(s.abroad),
            int(s.temporary),
            int(s.webcam),
            s.ocd_id,
        ]
        if protocol is None:
            row += [None, None, None]
            row += [None] * len(columns)
            yield row
            continue
        row += [protocol.status, protocol.version, protocol.decision_ref or None]
        lines = data.values.get(s.id) if protocol.status == ProtocolStatus.PUBLISHED else None
        for code in columns:
            if lines is None:
                row.append(None)
            elif code in datetime_codes:
                at = protocol.completed_at
                row.append(at.astimezone(tz).isoformat() if at else None)
            else:
                row.append(lines.get(code))
        yield row


def turnout_rows(data: PublicData) -> list[list[object]]:
    code_of = {s.id: s.code for s in data.stations}
    position = {s.id: i for i, s in enumerate(data.stations)}
    order = {t: i for i, t in enumerate(data.election.turnout_times)}
    reports = sorted(data.turnout, key=lambda r: (position[r[0]], order.get(r[1], 99), r[1]))
    return [[code_of[sid], time, voters] for sid, time, voters in reports]


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> tuple[bytes, int]:
    """CSV text (UTF-8, ``\\n``, RFC 4180 quoting) and its row count. Cells are str, int or
    None, which the csv module writes as the bundle does (:func:`secki.bundle.write.cell`):
    None as empty, numbers as plain digits; flags are passed as 0/1 ints."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return buffer.getvalue().encode("utf-8"), count


def gzip_bytes(raw: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(raw)
    return out.getvalue()


def write_gzip_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    raw, count = csv_bytes(header, rows)
    path.write_bytes(gzip_bytes(raw))
    return count


def write_bulk(data: PublicData, directory: Path) -> dict[str, int]:
    """Write the bulk files into ``directory``; returns rows per file."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {
        "stations.csv.gz": write_gzip_csv(
            directory / "stations.csv.gz", bulk_header(data), bulk_rows(data)
        ),
        "turnout.csv.gz": write_gzip_csv(
            directory / "turnout.csv.gz", TURNOUT_COLUMNS, turnout_rows(data)
        ),
    }
    return written


def write_registry(data: PublicData, directory: Path) -> dict[str, int]:
    """The bundle's ``election.json``, ``units.csv`` and ``candidates.csv``."""
    directory.mkdir(parents=True, exist_ok=True)
    write_election(directory, election_settings(data.election))
    by_id = {u.id: u for u in data.units}
    return {
        "election.json": 1,
        "units.csv": write_table(
            directory / "units.csv",
            UNIT_COLUMNS,
            (
                [
                    u.code,
                    by_id[u.parent_id].code if u.parent_id else None,
                    u.kind,
                    u.number,
                    u.name,
                    u.ocd_id,
                ]
                for u in data.units
            ),
        ),
        "candidates.csv": write_table(
            directory / "candidates.csv",
            CANDIDATE_COLUMNS,
            ([c.number, c.name, c.party] for c in data.candidates),
        ),
    }
