"""The integrity app's hand-written SQL (docs/architecture.md, "Persistence").

:func:`protocol_lines` reads the line values of an election's counted protocols as three
flat numpy columns (station id, line index, value), the shape the station arrays are
scattered from: on PostgreSQL one binary ``COPY … TO STDOUT`` of one row holding three
arrays, read straight into numpy (no Python object per value, which matters at a million
stations); on SQLite (the demo) the ORM's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from django.db import connection

from secki.protocols.models import Protocol, ProtocolValue

IntArray = npt.NDArray[np.int64]

#: {values}, {protocols}: the tables (names from the models). One row of three arrays, so
#: that the client reads a few large messages rather than one message per line value.
_LINES = (
    "COPY (SELECT COALESCE(array_agg(p.station_id::int8), '{{}}'), "
    "COALESCE(array_agg(array_position(%s::text[], v.code)::int8 - 1), '{{}}'), "
    "COALESCE(array_agg(v.value::int8), '{{}}') "
    "FROM {values} v JOIN {protocols} p ON p.id = v.protocol_id "
    "WHERE p.election_id = %s AND p.is_current AND p.status = ANY(%s::text[]) "
    "AND v.code = ANY(%s::text[])) TO STDOUT (FORMAT BINARY)"
)
#: PGCOPY\n\377\r\n\0, flags (int32) and header extension length (int32)
_HEADER = 11 + 4 + 4
#: an int8[] element in binary: its length (8), then the value, both big-endian
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])
_INT8_OID = 20


def _lines_sql() -> str:
    return _LINES.format(values=ProtocolValue._meta.db_table, protocols=Protocol._meta.db_table)


def _int(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "big", signed=True)


def _decode_copy(data: bytes) -> tuple[IntArray, IntArray, IntArray]:
    """The three int8[] of the one row of a binary COPY, as int64 arrays."""
    if not data.startswith(b"PGCOPY\n\xff\r\n\x00") or _int(data, _HEADER, 2) != 3:
        raise ValueError("unexpected binary COPY layout")
    at = _HEADER + 2
    out: list[IntArray] = []
    for _ in range(3):
        length = _int(data, at, 4)
        at += 4
        end = at + length
        ndim, _flags, oid = _int(data, at, 4), _int(data, at + 4, 4), _int(data, at + 8, 4)
        if oid != _INT8_OID or ndim not in (0, 1):
            raise ValueError("unexpected binary COPY layout")
        count = _int(data, at + 12, 4) if ndim else 0
        first = at + 12 + 8 * ndim
        elements = np.frombuffer(data, dtype=_ELEMENT, count=count, offset=first)
        if first + count * _ELEMENT.itemsize != end or (elements["length"] != 8).any():
            raise ValueError("unexpected binary COPY layout")
        out.append(elements["value"].astype(np.int64))
        at = end
    return out[0], out[1], out[2]


def protocol_lines(
    election_id: int, statuses: Sequence[str], codes: Sequence[str]
) -> tuple[IntArray, IntArray, IntArray]:
    """(station id, index of the code in ``codes``, value) of every line with a code in
    ``codes`` of the current protocols of the election whose status is in ``statuses``."""
    if connection.vendor == "postgresql":
        chunks: list[bytes] = []
        with connection.cursor() as wrapper:
            raw = wrapper.cursor
            params = [list(codes), election_id, list(statuses), list(codes)]
            with raw.copy(_lines_sql(), params) as copy:
                for chunk in copy:
                    chunks.append(bytes(chunk))
        return _decode_copy(b"".join(chunks))
    index = {code: i for i, code in enumerate(codes)}
    rows = ProtocolValue.objects.filter(
        protocol__election_id=election_id,
        protocol__is_current=True,
        protocol__status__in=list(statuses),
        code__in=list(codes),
    ).values_list("protocol__station_id", "code", "value")
    station: list[int] = []
    line: list[int] = []
    value: list[int] = []
    for sid, code, v in rows.iterator(chunk_size=10_000):
        station.append(sid)
        line.append(index[code])
        value.append(v)
    return (
        np.array(station, dtype=np.int64),
        np.array(line, dtype=np.int64),
        np.array(value, dtype=np.int64),
    )
