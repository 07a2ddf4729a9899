"""Canonical writers for bundle files: the same bytes from the simulator and the exporter."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from secki.bundle import ELECTION_FILE


def cell(value: object) -> str:
    """Canonical text of one field: None → empty, bool → 0/1, everything else str()."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def election_text(settings: dict[str, Any]) -> str:
    """The text of ``election.json``."""
    return json.dumps(settings, indent=2, ensure_ascii=False) + "\n"


def write_election(directory: Path, settings: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ELECTION_FILE
    path.write_text(election_text(settings), encoding="utf-8")
    return path


def _write_csv(handle: Any, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        count += 1
    return count


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write one CSV file; returns the number of data rows. Rows may hold ints, str, None, bool."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        return _write_csv(handle, header, rows)


def table_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """The bytes :func:`write_table` writes to its file."""
    buffer = io.BytesIO()
    handle = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    _write_csv(handle, header, rows)
    handle.flush()
    content = buffer.getvalue()
    handle.close()
    return content
