"""Bulk open-data files of one election.

``stations.csv.gz``: one row per polling station with its register entry, the status of its
current public protocol and one column per protocol line and candidate (``C1`` … ``Cn``, in
ballot order; names in ``candidates.csv``). Column names and cell formats follow the election
bundle (docs/formats.md): the station columns are ``stations.csv``'s (``code`` is called
``station``), the line columns ``protocols.csv``'s, so :mod:`secki.opendata.roundtrip` turns
a download back into a bundle that ``secki import`` loads.

``turnout.csv.gz`` is the bundle's ``turnout.csv`` (station, report time, cumulative voters);
``scans.csv`` lists the public scans of the paper protocols with their SHA-256 and address;
``election.json``, ``units.csv`` and ``candidates.csv`` are the bundle's own files.
Every file is written deterministically (gzip without a timestamp), so equal data gives equal
bytes and equal SHA-256.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from secki.bundle import (
    STATION_COLUMNS,
    STATION_EXTRA_COLUMNS,
    TURNOUT_COLUMNS,
)
from secki.bundle.write import write_election, write_table
from secki.elections.register import candidate_table, unit_table
from secki.elections.serialize import election_settings
from secki.opendata.collect import PublicData, PublicStation
from secki.protocols.models import ProtocolStatus
from secki.protocols.scans import published_url, scan_path

#: the station columns: the bundle's stations.csv columns, ``code`` named ``station``, plus
#: the unit's name for readers who do not join units.csv; the optional columns
#: (``webcam_url``, the translated names) are always present here
STATION_FIELDS = ["station", "unit", "unit_name", *STATION_COLUMNS[2:], *STATION_EXTRA_COLUMNS]
#: the columns of scans.csv: one row per public scan of a paper protocol
SCAN_FIELDS = ["station", "version", "scan", "sha256", "size", "content_type", "uploaded_at", "url"]
#: the protocol's public status: ``published`` (counted), ``annulled`` (decision in
#: ``annulment``, lines left empty because they are not counted), or empty (not published yet)
STATUS_FIELDS = ["status", "version", "annulment"]


def _coordinate(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def bulk_header(data: PublicData) -> list[str]:
    return [*STATION_FIELDS, *STATUS_FIELDS, *data.schema.columns(len(data.candidates))]


def bulk_rows(
    data: PublicData, stations: Iterable[PublicStation] | None = None
) -> Iterator[list[object]]:
    """The bulk CSV rows of ``stations`` (default: every station, in bundle order)."""
    units = {u.id: u for u in data.units}
    columns = data.schema.columns(len(data.candidates))
    datetime_codes = {ln.code for ln in data.schema.datetime_lines}
    tz = data.election.tz
    for s in data.stations if stations is None else stations:
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
            *(getattr(s, c) for c in STATION_EXTRA_COLUMNS),
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


def turnout_rows(data: PublicData) -> Iterator[list[object]]:
    """The turnout CSV rows: stations in bundle order, report times in the election's order."""
    order = {t: i for i, t in enumerate(data.election.turnout_times)}
    for s in data.stations:
        reports = data.turnout.get(s.id)
        if reports:
            for time in sorted(reports, key=lambda t: (order.get(t, len(order)), t)):
                yield [s.code, time, reports[time]]


def scan_rows(data: PublicData) -> Iterator[list[object]]:
    """The scans CSV rows: stations in bundle order, each station's scans in upload order."""
    tz = data.election.tz
    slug = data.election.slug
    for s in data.stations:
        for scan in data.scans.get(s.id, ()):
            yield [
                s.code,
                scan.version,
                scan.number,
                scan.sha256,
                scan.size,
                scan.content_type,
                scan.uploaded_at.astimezone(tz).isoformat(),
                published_url(scan_path(slug, s.code, scan.number)),
            ]


def scans_bytes(data: PublicData) -> bytes:
    return "".join(render([SCAN_FIELDS, *scan_rows(data)])).encode("utf-8")


def render(rows: Iterable[Sequence[object]]) -> list[str]:
    """Each row as one CSV line (UTF-8 text, ``\\n``, RFC 4180 quoting). Cells are str, int or
    None, which the csv module writes as the bundle does (:func:`secki.bundle.write.cell`):
    None as empty, numbers as plain digits; flags are passed as 0/1 ints."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    ends = []
    for row in rows:
        writer.writerow(row)
        ends.append(buffer.tell())
    text = buffer.getvalue()
    return [text[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def station_lines(
    data: PublicData, stations: Iterable[PublicStation] | None = None
) -> dict[int, bytes]:
    """Station id → its line of the bulk CSV (UTF-8), rendered a few thousand at a time."""
    chosen = list(data.stations if stations is None else stations)
    out: dict[int, bytes] = {}
    for start in range(0, len(chosen), 10_000):
        part = chosen[start : start + 10_000]
        for s, line in zip(part, render(bulk_rows(data, part)), strict=True):
            out[s.id] = line.encode("utf-8")
    return out


def gzip_bytes(raw: bytes, level: int = 6) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=level) as gz:
        gz.write(raw)
    return out.getvalue()


def bulk_bytes(data: PublicData, lines: dict[int, bytes] | None = None) -> bytes:
    """The uncompressed bulk CSV, from pre-rendered station lines when given."""
    lines = lines if lines is not None else station_lines(data)
    header = "".join(render([bulk_header(data)])).encode("utf-8")
    return header + b"".join(lines[s.id] for s in data.stations)


def turnout_bytes(data: PublicData) -> bytes:
    """The turnout CSV (a row per report: millions for a national election, rendered a few
    tens of thousands at a time)."""
    out = ["".join(render([TURNOUT_COLUMNS])).encode("utf-8")]
    rows = turnout_rows(data)
    while chunk := list(itertools.islice(rows, 50_000)):
        out.append("".join(render(chunk)).encode("utf-8"))
    return b"".join(out)


def write_bulk(data: PublicData, directory: Path, lines: dict[int, bytes] | None = None) -> None:
    """Write ``stations.csv.gz``, ``turnout.csv.gz`` and ``scans.csv`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stations.csv.gz").write_bytes(gzip_bytes(bulk_bytes(data, lines)))
    (directory / "turnout.csv.gz").write_bytes(gzip_bytes(turnout_bytes(data)))
    (directory / "scans.csv").write_bytes(scans_bytes(data))


def write_registry(data: PublicData, directory: Path) -> dict[str, int]:
    """The bundle's ``election.json``, ``units.csv`` and ``candidates.csv``."""
    directory.mkdir(parents=True, exist_ok=True)
    write_election(directory, election_settings(data.election))
    return {
        "election.json": 1,
        "units.csv": write_table(directory / "units.csv", *unit_table(data.units)),
        "candidates.csv": write_table(
            directory / "candidates.csv", *candidate_table(data.candidates)
        ),
    }
