"""The published manifest's CSV (written by the app, read by ``secki audit-sample``): no
Django, so that anyone can redo a sample with the manifest file and the seed alone."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

HEADER_MACRO = ["position", "station", "constituency", "ballots", "error_bound"]
HEADER_BRAVO = ["position", "station", "constituency", "ballots"]


def manifest_csv(
    codes: Sequence[str],
    constituencies: Sequence[str],
    ballots: Sequence[int],
    bounds: Sequence[float] | None,
) -> bytes:
    """The published manifest: one row per station in manifest order; the error bound is
    written with ``repr`` (the shortest text that reads back as the same double)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER_MACRO if bounds is not None else HEADER_BRAVO)
    for i, (code, group, b) in enumerate(zip(codes, constituencies, ballots, strict=True)):
        row: list[object] = [i, code, group, int(b)]
        if bounds is not None:
            row.append(repr(float(bounds[i])))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ManifestFile:
    """A manifest read back from its CSV (for the CLI)."""

    codes: list[str]
    ballots: list[int]
    bounds: list[float] | None


def read_manifest(text: str) -> ManifestFile:
    """Parse a published manifest; ValueError names the line and the column."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header not in (HEADER_MACRO, HEADER_BRAVO):
        raise ValueError(
            f"line 1: the header must be {','.join(HEADER_MACRO)} or {','.join(HEADER_BRAVO)}"
        )
    macro = header == HEADER_MACRO
    codes: list[str] = []
    ballots: list[int] = []
    bounds: list[float] = []
    for number, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise ValueError(f"line {number}: {len(header)} columns expected, {len(row)} found")
        if row[0] != str(len(codes)):
            raise ValueError(f"line {number}: position must be {len(codes)}")
        codes.append(row[1])
        try:
            ballots.append(int(row[3]))
        except ValueError:
            raise ValueError(f"line {number}: ballots {row[3]!r} is not a whole number") from None
        if ballots[-1] < 0:
            raise ValueError(f"line {number}: ballots is negative")
        if macro:
            try:
                bounds.append(float(row[4]))
            except ValueError:
                raise ValueError(f"line {number}: error_bound {row[4]!r} is not a number") from None
    if not codes:
        raise ValueError("the manifest has no station")
    return ManifestFile(codes, ballots, bounds if macro else None)
