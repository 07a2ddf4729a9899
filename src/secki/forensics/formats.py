"""Turn any station-level results file into rows of text cells, or say clearly what it is.

Read: CSV/TSV text (delimiter detected or given), the same gzip-compressed (``.csv.gz``) or
inside a zip archive (``.csv.zip``), spreadsheets (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``;
python-calamine reads them, a sheet chosen by name or 0-based index) and Parquet (pyarrow).
The kind of file is decided from its first bytes, not its name, so a gzip named ``.csv`` or a
PDF saved as ``.xlsx`` gets a message that says what it really is.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The largest CSV field accepted: a station file's cells are short, so a field this large
#: means the file is not the CSV it was taken for (the default of 128 KiB is too small for
#: long free-text cells some commissions publish).
FIELD_LIMIT = 16 * 1024 * 1024

SNIFF_DELIMITERS = ",;\t|"


class DataError(ValueError):
    """A data file cell or row that cannot be used, or a file that is not a table."""


@dataclass
class RawTable:
    """Header and body rows as text cells, plus how they were read."""

    header: tuple[str, ...]
    body: list[list[str]]
    kind: str
    notes: list[str] = field(default_factory=list)
    delimiter: str | None = None
    delimiter_detected: bool = False


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PAR1", "parquet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"%PDF", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"BM", "BMP image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"Rar!", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"BZh", "bzip2 file"),
    (b"\xfd7zXZ\x00", "xz file"),
    (b"\x28\xb5\x2f\xfd", "zstd file"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x7fELF", "executable program"),
    (b"MZ", "Windows program"),
)


def sniff_kind(head: bytes) -> str:
    """What the bytes are, from their start: one of the names above, "text" or "binary"."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP image"
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"  # UTF-16 with a byte-order mark
    sample = head[:4096]
    if b"\x00" in sample:
        return "binary"
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    if sample and controls > len(sample) // 100 + 2:
        return "binary"
    return "text"


def _zip_kind(zf: zipfile.ZipFile) -> str:
    names = set(zf.namelist())
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "xlsx"
    if "mimetype" in names:
        mime = zf.read("mimetype")[:100]
        if b"opendocument.spreadsheet" in mime:
            return "ods"
        if b"opendocument" in mime:
            return "OpenDocument file that is not a spreadsheet"
    if "word/document.xml" in names:
        return "Word document"
    return "zip"


def read_table(path: Path, options: dict[str, Any]) -> RawTable:
    """Read ``path`` as a table; ``options`` are the mapping's encoding/delimiter/member/sheet."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    if not raw:
        raise DataError(f"{path.name} is empty (0 bytes)")
    return _read_bytes(raw, path.name, options, depth=0)


def _read_bytes(raw: bytes, name: str, options: dict[str, Any], depth: int) -> RawTable:
    kind = sniff_kind(raw[:8192])
    if kind == "gzip":
        if depth > 1:
            raise DataError(f"{name} is nested compression too deep to read")
        try:
            inner = gzip.decompress(raw)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(
                f"{name} is a gzip file that is truncated or damaged ({exc}); "
                "download it again or check it with 'gzip -t'"
            ) from exc
        if not inner:
            raise DataError(f"{name} is a gzip file holding nothing (0 bytes)")
        inner_name = name[:-3] if name.lower().endswith(".gz") else f"{name} (decompressed)"
        table = _read_bytes(inner, inner_name, options, depth + 1)
        table.notes.insert(0, f"{name}: gzip-compressed")
        return table
    if kind == "zip":
        return _read_zip(raw, name, options, depth)
    if kind == "parquet":
        return _read_parquet(raw, name)
    if kind == "xls":
        return _read_spreadsheet(raw, name, "xls", options)
    if kind == "text":
        return _read_csv(raw, name, options)
    what = {"pdf": "a PDF document", "binary": "a binary file, not text"}.get(kind, f"a {kind}")
    advice = (
        "; export the results table from it as CSV or a spreadsheet"
        if kind in ("pdf", "Word document") or kind.endswith("image")
        else "; give a CSV, .csv.gz, .csv.zip, .xlsx, .ods or Parquet file"
    )
    raise DataError(f"{name} is {what}{advice}")


def _read_zip(raw: bytes, name: str, options: dict[str, Any], depth: int) -> RawTable:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        kind = _zip_kind(zf)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise DataError(f"{name} is a zip archive that is truncated or damaged ({exc})") from exc
    with zf:
        if kind in ("xlsx", "ods"):
            return _read_spreadsheet(raw, name, kind, options)
        if kind != "zip":
            raise DataError(f"{name} is a {kind}; export the results table as CSV")
        if depth > 1:
            raise DataError(f"{name} is nested archives too deep to read")
        names = [n for n in zf.namelist() if not n.endswith("/")]
        member = options.get("member")
        if member is None:
            tables = [
                n
                for n in names
                if n.lower().endswith(
                    (".csv", ".txt", ".tsv", ".csv.gz", ".xlsx", ".ods", ".parquet", ".xls")
                )
                and not n.startswith("__MACOSX/")
            ] or names
            if len(tables) != 1:
                shown = ", ".join(tables[:8]) + (" …" if len(tables) > 8 else "")
                raise DataError(
                    f"{name} holds {len(tables)} files ({shown or 'none'}); "
                    'name the one to read with "member" in the mapping'
                )
            member = tables[0]
        elif member not in names:
            shown = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
            raise DataError(f"{name} has no member {member!r} (it holds: {shown})")
        try:
            inner = zf.read(str(member))
        except (zipfile.BadZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError) as exc:
            raise DataError(f"{name}: cannot unpack {member!r} ({exc})") from exc
    if not inner:
        raise DataError(f"{name}: member {member!r} is empty (0 bytes)")
    table = _read_bytes(inner, str(member), options, depth + 1)
    table.notes.insert(0, f"{name}: zip archive, read member {member!r}")
    return table


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value).strip()


def _split(rows: list[list[str]], name: str, kind: str, notes: list[str]) -> RawTable:
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise DataError(f"{name} has no rows (not even a header)")
    header = tuple(c.strip() for c in rows[0])
    body = rows[1:]
    if not body:
        raise DataError(f"{name} has a header but no data rows")
    return RawTable(header=header, body=body, kind=kind, notes=notes)


def _read_spreadsheet(raw: bytes, name: str, kind: str, options: dict[str, Any]) -> RawTable:
    from python_calamine import CalamineError, CalamineWorkbook

    sheet = options.get("sheet")
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(raw))
    except (CalamineError, OSError, ValueError) as exc:
        raise DataError(f"{name} looks like {kind} but cannot be opened: {exc}") from exc
    sheets = list(wb.sheet_names)
    listed = ", ".join(f"{i}: {s!r}" for i, s in enumerate(sheets[:12]))
    if sheet is None:
        if not sheets:
            raise DataError(f"{name} has no sheets")
        index = 0
        notes = (
            [
                f"{name}: {kind} with {len(sheets)} sheets, read the first ({sheets[0]!r}); "
                'choose another with "sheet" in the mapping'
            ]
            if len(sheets) > 1
            else [f"{name}: {kind}, sheet {sheets[0]!r}"]
        )
    elif isinstance(sheet, bool) or not isinstance(sheet, (int, str)):
        raise DataError('"sheet" in the mapping must be a sheet name or a 0-based index')
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(sheets):
            raise DataError(
                f"{name} has no sheet number {sheet} (sheets are numbered from 0: {listed})"
            )
        index = sheet
        notes = [f"{name}: {kind}, sheet {index} ({sheets[index]!r})"]
    else:
        if sheet not in sheets:
            raise DataError(f"{name} has no sheet named {sheet!r} (it has {listed})")
        index = sheets.index(sheet)
        notes = [f"{name}: {kind}, sheet {sheet!r}"]
    try:
        data = wb.get_sheet_by_index(index).to_python(skip_empty_area=True)
    except (CalamineError, OSError, ValueError) as exc:
        raise DataError(f"{name}: cannot read sheet {sheets[index]!r}: {exc}") from exc
    rows = [[_cell_text(v) for v in row] for row in data]
    return _split(rows, f"{name}, sheet {sheets[index]!r}", kind, notes)


def _read_parquet(raw: bytes, name: str) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{name} is a Parquet file that cannot be read: {exc}") from exc
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [list(table.column_names)]
    rows += [[_cell_text(col[r]) for col in columns] for r in range(table.num_rows)]
    return _split(rows, name, "parquet", [f"{name}: Parquet, {table.num_rows:,} rows"])


def _decode(raw: bytes, name: str, encoding: str) -> str:
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8"):
        enc = "utf-8-sig"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")) and enc in ("utf-16", "utf16"):
        enc = "utf-16"
    try:
        return raw.decode(enc)
    except LookupError as exc:
        raise DataError(f'"encoding": unknown encoding {encoding!r} in the mapping') from exc
    except UnicodeDecodeError as exc:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            hint = 'it starts with a UTF-16 byte-order mark: set "encoding": "utf-16"'
        else:
            hint = (
                'set "encoding" in the mapping (e.g. "cp1251" for Russian, "cp1252" for '
                'Western European, "utf-16")'
            )
        bad = raw[exc.start : exc.start + 1]
        raise DataError(
            f"{name} is text but not {encoding} (byte {exc.start}: {bad!r}); {hint}"
        ) from exc


def _read_csv(raw: bytes, name: str, options: dict[str, Any]) -> RawTable:
    text = _decode(raw, name, str(options.get("encoding") or "utf-8"))
    if "\x00" in text:
        raise DataError(f"{name} holds NUL characters: it is not a text table")
    given = options.get("delimiter")
    if given:
        delimiter = str(given)
        detected = False
        if len(delimiter) != 1:
            raise DataError(f'"delimiter" must be one character, not {delimiter!r}')
    else:
        detected = True
        first = text[:65536]
        try:
            delimiter = csv.Sniffer().sniff(first, delimiters=SNIFF_DELIMITERS).delimiter
        except csv.Error:
            head = first.splitlines()[0] if first.strip() else ""
            counts = {d: head.count(d) for d in SNIFF_DELIMITERS}
            best = max(counts, key=lambda d: counts[d])
            delimiter = best if counts[best] else ","
    old = csv.field_size_limit()
    csv.field_size_limit(min(FIELD_LIMIT, sys.maxsize))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(
            f"{name} cannot be read as CSV with delimiter {delimiter!r}: {exc}; "
            "is it really a CSV file?"
        ) from exc
    finally:
        csv.field_size_limit(old)
    how = "detected" if detected else "from the mapping"
    table = _split(rows, name, "csv", [f"{name}: CSV, delimiter {delimiter!r} ({how})"])
    table.delimiter = delimiter
    table.delimiter_detected = detected
    return table


__all__ = ["DataError", "RawTable", "read_table", "sniff_kind"]
