"""Write one small election as every file format ``secki forensics`` reads."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook

Cell = str | int
Table = list[list[Cell]]


def csv_text(table: Table, delimiter: str = ",") -> str:
    return "".join(delimiter.join(str(c) for c in row) + "\n" for row in table)


def write_csv(path: Path, table: Table, delimiter: str = ",") -> Path:
    path.write_text(csv_text(table, delimiter), encoding="utf-8")
    return path


def write_csv_gz(path: Path, table: Table) -> Path:
    path.write_bytes(gzip.compress(csv_text(table).encode("utf-8")))
    return path


def write_csv_zip(path: Path, table: Table, member: str = "results.csv") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, csv_text(table))
    return path


def write_xlsx(path: Path, sheets: dict[str, Table]) -> Path:
    wb = Workbook()
    first = True
    for name, table in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        ws.title = name
        first = False
        for row in table:
            ws.append(row)
    wb.save(path)
    return path


def _ods_cell(value: Cell) -> str:
    if isinstance(value, int):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        '<table:table-cell office:value-type="string">'
        f"<text:p>{escape(value)}</text:p></table:table-cell>"
    )


def write_ods(path: Path, sheets: dict[str, Table]) -> Path:
    """A minimal OpenDocument spreadsheet (mimetype, manifest, content), as the spec lays out."""
    body = "".join(
        f'<table:table table:name="{escape(name)}">'
        + "".join(
            "<table:table-row>" + "".join(_ods_cell(c) for c in row) + "</table:table-row>"
            for row in table
        )
        + "</table:table>"
        for name, table in sheets.items()
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{body}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:version="1.2"'
        ' manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    path.write_bytes(buf.getvalue())
    return path


def write_parquet(path: Path, table: Table) -> Path:
    header = [str(h) for h in table[0]]
    columns = {name: [row[i] for row in table[1:]] for i, name in enumerate(header)}
    pq.write_table(pa.table(columns), path)
    return path
