"""The register files a ``register.published`` entry names (``units.csv``, ``stations.csv``,
``candidates.csv``, in the election bundle's format: docs/formats.md) read by the verifier:
which units every station lies under (for the per-unit totals of ``results/<N>.json``), and
each station's and candidate's row (for the open-data release's files)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

UNITS_FILE = "units.csv"
STATIONS_FILE = "stations.csv"
CANDIDATES_FILE = "candidates.csv"
#: the line code of candidate ``n`` in protocols, results files and the bulk CSV
CANDIDATE_PREFIX = "C"


class RegisterError(ValueError):
    """A register file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Row:
    """One data row of a CSV file: its line number (the header is line 1) and its cells."""

    line: int
    cells: dict[str, str]


def read_table(data: bytes, name: str) -> list[Row]:
    """The rows of a UTF-8 CSV file with a header, keyed by column name."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegisterError(f"{name} is not UTF-8 ({exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise RegisterError(f"{name} is empty")
        rows = []
        for cells in reader:
            if len(cells) != len(header):
                raise RegisterError(
                    f"{name} line {reader.line_num}: {len(cells)} fields, the header has "
                    f"{len(header)}"
                )
            rows.append(Row(reader.line_num, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise RegisterError(f"{name} line {reader.line_num}: {exc}") from None
    return rows


@dataclass(frozen=True)
class Register:
    """The register as the log published it: units (code → parent code), stations and
    candidates (code or number → row)."""

    parents: dict[str, str]
    stations: dict[str, Row]
    candidates: dict[str, Row]

    def units_of(self) -> dict[str, list[str]]:
        """Station code → the codes of its unit and every unit above it."""
        out: dict[str, list[str]] = {}
        for code, row in self.stations.items():
            chain: list[str] = []
            unit: str | None = row.cells.get("unit", "")
            while unit and unit not in chain:
                chain.append(unit)
                unit = self.parents.get(unit)
            out[code] = chain
        return out


def read_register(files: Mapping[str, bytes]) -> Register:
    """The register from its files' bytes, by file name."""
    for name in (UNITS_FILE, STATIONS_FILE, CANDIDATES_FILE):
        if name not in files:
            raise RegisterError(f"the register has no {name}")
    parents = {
        row.cells["code"]: row.cells.get("parent", "")
        for row in _keyed(files[UNITS_FILE], UNITS_FILE, "code")
    }
    stations = {
        row.cells["code"]: row for row in _keyed(files[STATIONS_FILE], STATIONS_FILE, "code")
    }
    candidates = {
        row.cells["number"]: row
        for row in _keyed(files[CANDIDATES_FILE], CANDIDATES_FILE, "number")
    }
    return Register(parents, stations, candidates)


def _keyed(data: bytes, name: str, key: str) -> list[Row]:
    rows = read_table(data, name)
    seen: set[str] = set()
    for row in rows:
        if key not in row.cells:
            raise RegisterError(f"{name} has no column {key}")
        if row.cells[key] in seen:
            raise RegisterError(f"{name} line {row.line}: {key} {row.cells[key]!r} twice")
        seen.add(row.cells[key])
    return rows


def first_difference(published: bytes, logged: bytes, name: str, logged_as: str) -> str | None:
    """Where two versions of one text file first differ (None when equal), as a message
    naming the line and both versions of it."""
    if published == logged:
        return None
    a = published.decode("utf-8", "replace").split("\n")
    b = logged.decode("utf-8", "replace").split("\n")
    for number, (x, y) in enumerate(zip(a, b, strict=False), 1):
        if x != y:
            return f"{name} line {number} is {x!r}, {logged_as} has {y!r}"
    shorter, longer = (name, logged_as) if len(a) < len(b) else (logged_as, name)
    return f"{shorter} ends at line {min(len(a), len(b))}, {longer} goes on"
