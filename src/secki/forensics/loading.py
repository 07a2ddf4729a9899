"""Read a station-level results file through a column mapping, row by row checked.

The file is read by :mod:`.formats` (CSV, .csv.gz, .csv.zip, spreadsheets, Parquet). Every
row is accounted for: rows whose mapped cells are not whole non-negative numbers are an
error (exit code 2, naming row and columns) unless ``skip_invalid`` is set, in which case
they are counted, listed and left out. Rows with zero registered voters are kept for the
digit tests of counts and reported; the ratio-based tests leave them out and say so. Station
ids that repeat or are empty are warned about (the tests still run: some real files split
one station over several rows), or stop the run when ``unique_ids`` is set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from secki.forensics.formats import DataError, RawTable, read_table
from secki.forensics.mapping import MappingError, ResolvedMapping, load_mapping, resolve

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RowProblem:
    """The unusable cells of one data row: (column, cell text, problem) each."""

    row: int  # 1-based data row (the header is row 0; the file line is row + 1)
    cells: tuple[tuple[str, str, str], ...]

    def __str__(self) -> str:
        by_problem: dict[str, list[str]] = {}
        for column, _value, problem in self.cells:
            by_problem.setdefault(problem, []).append(column)
        parts = []
        for problem, columns in by_problem.items():
            if columns == ["(all)"]:
                parts.append(problem)
                continue
            names = ", ".join(repr(c) for c in columns)
            parts.append(f"column{'s' if len(columns) > 1 else ''} {names}: {problem}")
        return f"row {self.row} (line {self.row + 1}), " + "; ".join(parts)


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
    #: How the file was read (format, sheet, delimiter) and what to look at (duplicate ids)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def field(self, name: str) -> IntArray:
        if name in ("registered", "given", "received", "leader"):
            arr: IntArray = getattr(self, name)
            return arr
        return self.extra[name]


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


def _resolve(data: dict[str, Any], raw: RawTable) -> ResolvedMapping:
    try:
        return resolve(data, raw.header)
    except MappingError as exc:
        if raw.kind != "csv" or "no column" not in str(exc):
            raise
        hint = ""
        if raw.delimiter_detected:
            hint = (
                f"\nThe file was read with the delimiter {raw.delimiter!r} (detected), giving "
                f"{len(raw.header)} column(s): "
                + ", ".join(repr(h) for h in raw.header[:6])
                + (" …" if len(raw.header) > 6 else "")
                + '; if that is wrong, set "delimiter" in the mapping.'
            )
        elif len(raw.header) == 1:
            hint = (
                f"\nThe header has one column with the delimiter {raw.delimiter!r} from the "
                "mapping: is that the file's delimiter?"
            )
        raise MappingError(f"{exc}{hint}") from exc


def _id_warnings(ids: list[str], rows: list[int], columns: list[str]) -> list[str]:
    out = []
    names = ", ".join(repr(c) for c in columns)
    empty = [r for i, r in zip(ids, rows, strict=True) if not i.replace("/", "").strip()]
    if empty:
        shown = ", ".join(str(r) for r in empty[:10]) + (" …" if len(empty) > 10 else "")
        out.append(f"{len(empty):,} row(s) with an empty station id ({names}): rows {shown}")
    counts = Counter(i for i in ids if i.replace("/", "").strip())
    dups = [(i, n) for i, n in counts.items() if n > 1]
    if dups:
        extra = sum(n - 1 for _, n in dups)
        shown = ", ".join(f"{i!r} ×{n}" for i, n in dups[:5]) + (" …" if len(dups) > 5 else "")
        out.append(
            f"{len(dups):,} station id(s) ({names}) appear more than once ({extra:,} extra "
            f"row(s)): {shown} — a station counted twice biases every test; check the file"
        )
    return out


def load_table(
    path: Path,
    mapping_path: Path,
    *,
    skip_invalid: bool = False,
    unique_ids: bool = False,
    progress: Callable[[list[list[str]]], Iterator[Any]] | None = None,
) -> StationTable:
    """Read ``path`` through the mapping at ``mapping_path``.

    Duplicate or empty station ids are warnings, or with ``unique_ids`` an error.
    """
    data = load_mapping(mapping_path)
    raw = read_table(path, data)
    header = raw.header
    mapping = _resolve(data, raw)
    body = raw.body
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
    zeros = set(mapping.zero_values)
    iterator: Any = progress(body) if progress is not None else body
    for r, row in enumerate(iterator):
        if not any(cell.strip() for cell in row):
            ok[r] = False
            problems.append(RowProblem(r + 1, (("(all)", "", "empty line"),)))
            continue
        bad: list[tuple[str, str, str]] = []
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
                bad.append((header[c], cell, what))
            else:
                values[r, c] = v
        if bad:
            ok[r] = False
            problems.append(RowProblem(r + 1, tuple(bad)))
    bad_rows = len(problems)
    if problems and not skip_invalid:
        shown = "\n  ".join(str(p) for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more row(s)" if len(problems) > 10 else ""
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
    warnings: list[str] = []
    if mapping.ids:
        ids = [
            " / ".join(body[i][c].strip() if c < len(body[i]) else "" for c in mapping.ids)
            for i in usable_idx
        ]
        warnings = _id_warnings(ids, [int(i) + 1 for i in usable_idx], mapping.columns["id"])
        if warnings and unique_ids:
            raise DataError(
                "\n".join(warnings) + "\nStation ids must be unique and non-empty "
                '(--unique-ids); fix the file or the "id" columns of the mapping.'
            )
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
        notes=list(raw.notes),
        warnings=warnings,
    )


__all__ = ["DataError", "MappingError", "RowProblem", "StationTable", "load_table"]
