"""Read a station-level CSV (plain or zipped) through a column mapping, row by row checked.

Every row is accounted for: rows whose mapped cells are not whole non-negative numbers are an
error (exit code 2, naming row and column) unless ``skip_invalid`` is set, in which case they
are counted, listed and left out. Rows with zero registered voters are kept for the digit
tests of counts and reported; the ratio-based tests leave them out and say so.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from secki.forensics.mapping import MappingError, ResolvedMapping, load_mapping, resolve

IntArray = npt.NDArray[np.int64]


class DataError(ValueError):
    """A data file cell or row that cannot be used."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based data row (the header is row 0; the file line is row + 1)
    column: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row} (line {self.row + 1}), column {self.column!r}: {self.problem}"


@dataclass
class StationTable:
    """Mapped counts per usable row; ``rows`` are the rows' 1-based numbers in the file."""

    rows: IntArray
    registered: IntArray
    given: IntArray
    received: IntArray
    leader: IntArray
    groups: npt.NDArray[np.str_]
    ids: list[str]
    extra: dict[str, IntArray]
    mapping: ResolvedMapping
    total_rows: int
    invalid: list[RowProblem] = field(default_factory=list)
    invalid_rows: int = 0
    zero_registered: list[int] = field(default_factory=list)

    def field(self, name: str) -> IntArray:
        if name in ("registered", "given", "received", "leader"):
            arr: IntArray = getattr(self, name)
            return arr
        return self.extra[name]


def _read_text(path: Path, member: str | None, encoding: str) -> str:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if member is None:
                    csvs = [n for n in names if n.lower().endswith((".csv", ".txt"))] or names
                    if len(csvs) != 1:
                        raise DataError(
                            f"{path} holds {len(csvs)} files ({', '.join(csvs[:5])}); "
                            'name one with "member" in the mapping'
                        )
                    member = csvs[0]
                elif member not in names:
                    raise DataError(f"{path} has no member {member!r}")
                raw = zf.read(member)
        else:
            raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(enc)
    except UnicodeDecodeError as exc:
        raise DataError(
            f'{path} is not {encoding} (byte {exc.start}); set "encoding" in the mapping'
        ) from exc


def _parse(value: str) -> int | None:
    v = value.strip()
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        pass
    try:
        f = float(v)
    except ValueError:
        return None
    if f != f or f in (float("inf"), float("-inf")) or f != int(f):
        return None
    return int(f)


def load_table(
    path: Path,
    mapping_path: Path,
    *,
    skip_invalid: bool = False,
    progress: Callable[[list[list[str]]], Iterator[Any]] | None = None,
) -> StationTable:
    """Read ``path`` through the mapping at ``mapping_path``."""
    data = load_mapping(mapping_path)
    text = _read_text(path, data.get("member"), str(data.get("encoding", "utf-8")))
    delimiter = str(data.get("delimiter", ""))
    if not delimiter:
        try:
            delimiter = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise DataError(f"{path} is empty")
    header = tuple(h.strip() for h in rows[0])
    mapping = resolve(data, header)
    body = rows[1:]
    count_fields = {
        "registered": mapping.registered,
        "given": mapping.given,
        "received": mapping.received,
        "leader": mapping.leader,
    }
    extra_names = [d for d in mapping.digits if d not in count_fields]
    extra_cols = {name: mapping.field_columns(name) for name in extra_names}
    for i, name in enumerate(header):
        if i in mapping.candidates and name not in extra_cols:
            extra_cols[name] = (i,)
    needed = sorted({c for cols in (*count_fields.values(), *extra_cols.values()) for c in cols})

    n = len(body)
    values = np.zeros((n, len(header)), dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    problems: list[RowProblem] = []
    bad_rows = 0
    zeros = set(mapping.zero_values)
    iterator: Any = progress(body) if progress is not None else body
    for r, row in enumerate(iterator):
        if len(row) == 1 and not row[0].strip():
            ok[r] = False
            problems.append(RowProblem(r + 1, "(all)", "", "empty line"))
            bad_rows += 1
            continue
        row_bad = False
        for c in needed:
            cell = row[c] if c < len(row) else ""
            v = 0 if cell.strip() in zeros else _parse(cell)
            if v is None or v < 0:
                what = (
                    "missing value"
                    if c >= len(row) or not cell.strip()
                    else (
                        f"{cell.strip()!r} is not a whole number"
                        if v is None
                        else f"negative count {v}"
                    )
                )
                problems.append(RowProblem(r + 1, header[c], cell, what))
                row_bad = True
            else:
                values[r, c] = v
        if row_bad:
            ok[r] = False
            bad_rows += 1
    if problems and not skip_invalid:
        shown = "\n  ".join(str(p) for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise DataError(
            f"{bad_rows} row(s) of {path.name} cannot be used:\n  {shown}{more}\n"
            "Fix the file or the mapping, or pass --skip-invalid to leave those rows out "
            "(they are counted in the report)."
        )

    def total(cols: tuple[int, ...]) -> IntArray:
        out: IntArray = values[ok][:, list(cols)].sum(axis=1)
        return out

    usable_idx = np.flatnonzero(ok)
    registered = total(mapping.registered)
    zero = [int(i) + 1 for i in usable_idx[registered == 0]]
    if mapping.group is not None:
        g = mapping.group
        groups = np.array([body[i][g].strip() if g < len(body[i]) else "" for i in usable_idx])
    else:
        groups = np.full(usable_idx.size, "all", dtype="<U3")
    if mapping.ids:
        ids = [
            " / ".join(body[i][c].strip() for c in mapping.ids if c < len(body[i]))
            for i in usable_idx
        ]
    else:
        ids = [f"row {i + 1}" for i in usable_idx]
    return StationTable(
        rows=(usable_idx + 1).astype(np.int64),
        registered=registered,
        given=total(mapping.given),
        received=total(mapping.received),
        leader=total(mapping.leader),
        groups=groups.astype(np.str_),
        ids=ids,
        extra={name: total(cols) for name, cols in extra_cols.items()},
        mapping=mapping,
        total_rows=n,
        invalid=problems,
        invalid_rows=bad_rows,
        zero_registered=zero,
    )


__all__ = ["DataError", "MappingError", "RowProblem", "StationTable", "load_table"]
