"""Read and validate a bundle directory (docs/formats.md) before anything is stored.

Every problem becomes a :class:`BundleIssue` naming the file, the line (header = line 1) and
the column; :func:`read_bundle` raises :class:`BundleError` with all issues found (up to a
limit) so that a clerk can fix the files in one pass.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import json
import pickle
import re
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from secki.bundle import (
    CANDIDATE_CONTEST_COLUMN,
    CANDIDATE_EXTRA_COLUMNS,
    ELECTION_FILE,
    ELECTION_KINDS,
    ELECTION_NAME_KEYS,
    FORMAT,
    SEAT_METHODS,
    SEAT_SCOPES,
    STATION_COLUMNS,
    STATION_EXTRA_COLUMNS,
    TURNOUT_COLUMNS,
    UNIT_EXTRA_COLUMNS,
    UNIT_KINDS,
    WIN_RULES,
    translated,
)
from secki.protocol_schema import ProtocolSchema, SchemaError
from secki.protocol_schema.schema import (
    MAX_COUNT,
    REGISTER_FACTOR,
    REGISTER_MARGIN,
    candidate_code,
    count_bound,
)

MAX_ISSUES = 50
MAX_URL = 500
# Bounds of every file read here (bundle import and bulk uploads alike): a file breaking one
# is refused after reading at most the offending line, in time linear in what was read.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # one uploaded file (bulk uploads)
MAX_LINE_BYTES = 64 * 1024  # one line of a CSV file
CHUNK_BYTES = 1024 * 1024  # read at a time after the header line
MAX_FIELD = 1000  # characters of one CSV field (twice the longest text column, webcam_url)
EXTRA_COLUMNS = 16  # columns a header may have beyond the file's known ones
MAX_ROWS = 1_000_000  # rows of one file (station counts bound most files more tightly)
MAX_CANDIDATES = 1_000
SPOOL_CHUNK = 10_000  # stations pickled at a time to the reader's temporary file
MAX_JSON_BYTES = 1024 * 1024  # election.json
#: the longest text of each text column (the database's column lengths)
TEXT_LIMITS = {"code": 64, "unit": 64, "parent": 64, "station": 64, "name": 200}
TEXT_LIMITS |= {"address": 300, "ocd_id": 300, "party": 200}
TEXT_LIMITS |= dict.fromkeys([*translated("name"), *translated("party")], 200)
#: turnout reports of a bundle: at most the registered voters plus this share (the default
#: additional-list allowance of an election, which a bundle does not set)
TURNOUT_ALLOWANCE = 0.05
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class BundleIssue:
    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class BundleError(Exception):
    """The bundle cannot be imported; ``issues`` says every place that is wrong."""

    def __init__(self, issues: list[BundleIssue]) -> None:
        self.issues = issues
        lines = [str(i) for i in issues[:MAX_ISSUES]]
        if len(issues) >= MAX_ISSUES:
            lines.append(f"(stopped after {MAX_ISSUES} problems)")
        super().__init__("\n".join(lines))


class _TooMany(Exception):
    pass


class CsvProblem(Exception):
    """A CSV file breaks a structural rule or a bound; says where (``line``: None for the
    whole file) and which rule."""

    def __init__(self, line: int | None, column: str | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


class BoundedCsv:
    """A UTF-8 CSV file read line by line within bounds, in time linear in what it reads.

    A line longer than ``max_line`` bytes is refused after reading at most that many bytes
    of it (a megabyte-long header is never read whole, let alone split); a record with more
    than ``max_columns`` fields or a field longer than ``max_field`` characters, NUL bytes and
    text that is not UTF-8 are refused too, each by raising :class:`CsvProblem`. A byte-order
    mark opening the file is skipped.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        max_columns: int,
        max_line: int = MAX_LINE_BYTES,
        max_field: int = MAX_FIELD,
    ) -> None:
        self.stream = stream
        self.max_columns = max_columns
        self.max_line = max_line
        self.max_field = max_field
        self.line = 0  # lines read so far (by the reader, ahead of the records)
        self.header: list[str] = []

    def _lines(self) -> Iterator[str]:
        """The file's lines: the first read alone with a line's bound (a huge header costs no
        more than that), the rest in chunks split in C; every check is per chunk."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        data = self.stream.readline(self.max_line + 2)  # room for the line's CR LF
        offset = 0  # bytes of the file before ``data``
        if data.startswith(codecs.BOM_UTF8):
            data, offset = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
        tail = b""  # an unfinished line, carried to the next chunk
        at_end = False
        while not at_end:
            at_end = not data
            data, tail = tail + data, b""
            if not at_end:
                cut = data.rfind(b"\n") + 1
                data, tail = data[:cut], data[cut:]
            self._check_lengths(data, tail)
            if b"\x00" in data:
                raise CsvProblem(None, None, "not a CSV file: contains NUL bytes (binary data)")
            try:
                text = decoder.decode(data, final=at_end)
            except UnicodeDecodeError as exc:
                raise CsvProblem(
                    None, None, f"not a CSV file: not UTF-8 text (byte {offset + exc.start})"
                ) from None
            offset += len(data)
            self.line += data.count(b"\n")
            yield from io.StringIO(text, newline="")
            data = b"" if at_end else self.stream.read(CHUNK_BYTES)

    def _check_lengths(self, complete: bytes, tail: bytes) -> None:
        """Refuse the first line of ``complete`` (whole lines) or the unfinished ``tail`` that
        is longer than the bound."""
        lines = complete.split(b"\n")
        if max(map(len, lines)) <= self.max_line + 1 and len(tail) <= self.max_line + 1:
            return
        index = next(
            (i for i, ln in enumerate(lines) if len(ln.rstrip(b"\r")) > self.max_line), None
        )
        if index is None:
            if len(tail.rstrip(b"\r")) <= self.max_line:
                return
            index = len(lines) - 1  # the tail continues the (empty) last piece
        raise CsvProblem(
            self.line + index + 1,
            None,
            f"the line is longer than {self.max_line:,} bytes (the limit of a line)",
        )

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every record (the header first) with the line it starts on; a blank line is an
        empty record."""
        reader = csv.reader(self._lines(), strict=True)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader, None)
            except csv.Error as exc:
                raise CsvProblem(reader.line_num, None, f"not a CSV file: {exc}") from None
            if record is None:
                return
            if len(record) > self.max_columns:
                raise CsvProblem(
                    start,
                    None,
                    f"{len(record):,} fields: a line of this file has at most {self.max_columns:,}",
                )
            if record and max(map(len, record)) > self.max_field:
                index = next(i for i, cell in enumerate(record) if len(cell) > self.max_field)
                where = self.header[index] if index < len(self.header) else f"#{index + 1}"
                raise CsvProblem(
                    start,
                    where,
                    f"the field is longer than {self.max_field:,} characters "
                    "(the limit of a field)",
                )
            if start == 1:
                self.header = [h.strip() for h in record]
            yield start, record


@dataclass
class UnitRow:
    code: str
    parent: str | None
    kind: str
    number: int | None
    name: str
    ocd_id: str
    seats: int | None = None  # proportional per district: the seats it elects
    #: the translated names given (``name_az`` → text), empty ones left out
    translations: dict[str, str] = field(default_factory=dict)


@dataclass
class BundleStation:
    code: str
    unit: str
    number: int
    name: str
    address: str
    registered: int
    latitude: Decimal | None
    longitude: Decimal | None
    abroad: bool
    temporary: bool
    webcam: bool
    ocd_id: str
    webcam_url: str = ""
    translations: dict[str, str] = field(default_factory=dict)


class Spool:
    """Stations in their file's order, kept in an anonymous temporary file of this process
    (pickled chunks of :data:`SPOOL_CHUNK` rows, unlinked at creation) instead of as objects
    in memory: a national register is a million rows. ``append`` while reading; iterate as
    often as needed afterwards."""

    def __init__(self, chunk: int | None = None) -> None:
        self._chunk = chunk or SPOOL_CHUNK
        self._pending: list[tuple[Any, ...]] = []
        self._file: IO[bytes] | None = None
        self._count = 0

    def append(self, station: BundleStation) -> None:
        values = list(vars(station).values())
        # coordinates as their exact text: Decimal objects pickle slowly
        values[_LATITUDE : _LONGITUDE + 1] = [
            None if v is None else str(v) for v in values[_LATITUDE : _LONGITUDE + 1]
        ]
        self._pending.append(tuple(values))
        self._count += 1
        if len(self._pending) >= self._chunk:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="secki-bundle-")  # noqa: SIM115 - closed by its finalizer
                weakref.finalize(self, self._file.close)
            self._file.seek(0, io.SEEK_END)
            pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._pending = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[BundleStation]:
        if self._file is not None:
            self._file.flush()
            end = self._file.seek(0, io.SEEK_END)
            position = 0
            while position < end:
                self._file.seek(position)
                chunk = pickle.load(self._file)  # noqa: S301 - this process's own temporary file
                position = self._file.tell()
                yield from map(_station, chunk)
        yield from map(_station, list(self._pending))


_LATITUDE, _LONGITUDE = 6, 7


def _station(values: tuple[Any, ...]) -> BundleStation:
    station = BundleStation(*values)
    if station.latitude is not None:
        station.latitude = Decimal(station.latitude)
    if station.longitude is not None:
        station.longitude = Decimal(station.longitude)
    return station


@dataclass
class CandidateRow:
    number: int
    name: str
    party: str
    ballot_number: int | None = None  # the official number on the ballot, when given
    #: the translated names and parties given (``party_ru`` → text), empty ones left out
    translations: dict[str, str] = field(default_factory=dict)
    contest: str = ""  # the protocol's contest (a protocol with more than one), else ""


@dataclass
class TurnoutRow:
    station: str
    time: str
    voters: int


@dataclass
class ProtocolRow:
    station: str
    counts: dict[str, int]  # line code → value, empty optional lines absent
    instants: dict[str, dt.datetime]  # datetime lines
    candidates: list[int]  # C1 … Cn
    line: int  # line number in protocols.csv


@dataclass
class Bundle:
    settings: dict[str, Any]
    schema: ProtocolSchema
    units: list[UnitRow] = field(default_factory=list)
    stations: Spool = field(default_factory=lambda: Spool())
    candidates: list[CandidateRow] = field(default_factory=list)
    turnout: list[TurnoutRow] = field(default_factory=list)
    protocols: list[ProtocolRow] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return str(self.settings["slug"])


def is_web_address(text: str) -> bool:
    """An http(s) URL with a host name, no white space or control character, at most
    :data:`MAX_URL` characters: what a page may link to and the webcam check may fetch."""
    parts = urlsplit(text)
    return (
        parts.scheme.lower() in ("http", "https")
        and bool(parts.hostname)
        and not any(ch.isspace() or ord(ch) < 32 for ch in text)
        and len(text) <= MAX_URL
    )


class _Reader:
    def __init__(
        self,
        directory: Path,
        progress: Progress | None,
        sources: Mapping[str, IO[bytes]] | None = None,
    ) -> None:
        self.directory = directory
        self.issues: list[BundleIssue] = []
        self.progress = progress
        self.sources = dict(sources or {})  # files given as streams instead of in directory

    def issue(self, file: str, line: int | None, column: str | None, message: str) -> None:
        self.issues.append(BundleIssue(file, line, column, message))
        if len(self.issues) >= MAX_ISSUES:
            raise _TooMany

    def exists(self, name: str) -> bool:
        return name in self.sources or (self.directory / name).exists()

    # -- CSV ---------------------------------------------------------------------------
    def rows(
        self,
        name: str,
        required: list[str],
        optional: list[str],
        *,
        must_exist: bool = True,
        max_rows: Callable[[], tuple[int, str]] = lambda: (MAX_ROWS, "the limit of a file"),
        unknown: Callable[[str], str | None] = lambda column: None,
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """The rows of a CSV file as dicts, once its header is right; every problem is an
        issue. ``max_rows`` gives the most rows the file may have and why (asked once the
        header is right); ``unknown`` may say more about an unknown column."""
        if not self.exists(name):
            if must_exist:
                self.issue(name, None, None, "file is missing")
            return
        allowed = set(required) | set(optional)
        with contextlib.ExitStack() as stack:
            stream = (
                self.sources[name]
                if name in self.sources
                else stack.enter_context((self.directory / name).open("rb"))
            )
            table = BoundedCsv(stream, max_columns=len(allowed) + EXTRA_COLUMNS)
            try:
                yield from self._rows(name, table, required, allowed, max_rows, unknown)
            except CsvProblem as exc:
                self.issue(name, exc.line, exc.column, exc.message)

    def _rows(
        self,
        name: str,
        table: BoundedCsv,
        required: list[str],
        allowed: set[str],
        max_rows: Callable[[], tuple[int, str]],
        unknown: Callable[[str], str | None],
    ) -> Iterator[tuple[int, dict[str, str]]]:
        records = table.records()
        _, first = next(records, (1, []))
        if not first:
            self.issue(name, 1, None, "file is empty: a header row is required")
            return
        header = [h.strip() for h in first]
        seen: set[str] = set()
        dupes: set[str] = set()
        for h in header:
            (dupes if h in seen else seen).add(h)
        for d in sorted(dupes):
            self.issue(name, 1, d, "column appears more than once")
        for col in required:
            if col not in seen:
                self.issue(name, 1, col, "required column is missing")
        strangers = [c for c in header if c not in allowed]
        for col in strangers:
            if col not in dupes:
                self.issue(name, 1, col, unknown(col) or "unknown column")
        if dupes or strangers or any(c not in seen for c in required):
            return
        width = len(header)
        limited = [(c, TEXT_LIMITS[c]) for c in header if c in TEXT_LIMITS]
        limit, why = max_rows()
        count = 0
        for number, record in records:
            if not record:
                continue
            count += 1
            if count > limit:
                self.issue(name, number, None, f"more than {limit:,} rows ({why})")
                return
            if len(record) != width:
                self.issue(
                    name,
                    number,
                    None,
                    f"not a CSV row of this file: {len(record)} fields, the header has {width}",
                )
                continue
            row = dict(zip(header, record, strict=True))
            for col, longest in limited:
                if len(row[col]) > longest and len(row[col].strip()) > longest:
                    self.issue(name, number, col, f"is longer than {longest} characters")
            yield number, row

    # -- field parsers ---------------------------------------------------------------------
    def count(
        self,
        file: str,
        line: int,
        column: str,
        text: str,
        bound: Bound | None = None,
    ) -> int | None:
        """An integer 0 ≤ n < MAX_COUNT, and at most ``bound`` if given."""
        text = text.strip()
        if not text.isdigit() or not text.isascii():
            if text.startswith("-") and text[1:].isdigit():
                self.issue(file, line, column, f"{text!r} is negative: counts are integers >= 0")
            else:
                self.issue(file, line, column, f"{text!r} is not a non-negative integer")
            return None
        value = int(text) if len(text) <= 20 else MAX_COUNT  # longer: not worth converting
        if value >= MAX_COUNT:
            shown = text if len(text) <= 30 else text[:30] + "…"
            self.issue(
                file, line, column, f"{shown} is too large: every count is below {MAX_COUNT:,}"
            )
            return None
        if bound is not None and value > bound.limit:
            self.issue(file, line, column, f"{value:,} is more than the station can have: {bound}")
            return None
        return value

    def text(self, file: str, line: int, column: str, text: str) -> str | None:
        if not text.strip():
            self.issue(file, line, column, "must not be empty")
            return None
        return text.strip()

    def flag(self, file: str, line: int, column: str, text: str) -> bool:
        if text not in ("0", "1"):
            self.issue(file, line, column, f"{text!r} is not a flag: use 0 or 1")
        return text == "1"

    def web_address(self, file: str, line: int, column: str, text: str) -> str:
        """An http(s) URL or empty; anything a browser would run or resolve locally is refused."""
        text = text.strip()
        if not text:
            return ""
        if not is_web_address(text):
            self.issue(
                file,
                line,
                column,
                f"{text[:80]!r} is not a web address: use http:// or https:// with a host name "
                f"(at most {MAX_URL} characters)",
            )
            return ""
        return text

    def decimal(self, file: str, line: int, column: str, text: str, limit: int) -> Decimal | None:
        if not text.strip():
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.issue(file, line, column, f"{text!r} is not a decimal number")
            return None
        if not value.is_finite() or abs(value) > limit:
            self.issue(file, line, column, f"{text} is outside -{limit}..{limit}")
            return None
        return value


def _parse_settings(reader: _Reader) -> tuple[dict[str, Any], ProtocolSchema] | None:
    path = reader.directory / ELECTION_FILE
    name = ELECTION_FILE
    if not path.exists():
        reader.issue(name, None, None, "file is missing")
        return None
    with path.open("rb") as handle:
        raw = handle.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        reader.issue(name, None, None, f"is larger than {MAX_JSON_BYTES:,} bytes")
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reader.issue(name, getattr(exc, "lineno", None), None, f"not valid JSON: {exc}")
        return None
    except RecursionError:
        reader.issue(name, None, None, "not valid JSON: nested too deeply")
        return None
    if not isinstance(data, dict):
        reader.issue(name, None, None, "must hold a JSON object")
        return None

    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in data:
            reader.issue(name, None, key, "required key is missing")
            return None
        if not isinstance(data[key], kind):
            reader.issue(name, None, key, f"{data[key]!r} has the wrong type")
            return None
        return data[key]

    if data.get("format") != FORMAT:
        reader.issue(name, None, "format", f"{data.get('format')!r} is not {FORMAT!r}")
    slug = need("slug", str)
    if slug is not None and not SLUG_RE.match(slug):
        reader.issue(name, None, "slug", f"{slug!r}: use lower-case letters, digits and '-'")
    need("name", str)
    for key in ELECTION_NAME_KEYS:
        value = data.get(key, "")
        if not isinstance(value, str):
            reader.issue(name, None, key, f"{value!r} has the wrong type: a text is required")
        elif len(value.strip()) > TEXT_LIMITS["name"]:
            reader.issue(name, None, key, f"is longer than {TEXT_LIMITS['name']} characters")
    kind = need("kind", str)
    if kind is not None and kind not in ELECTION_KINDS:
        reader.issue(name, None, "kind", f"{kind!r} is not one of {', '.join(ELECTION_KINDS)}")
    country = need("country", str)
    if country is not None and not re.fullmatch(r"[a-z]{2}", country):
        reader.issue(name, None, "country", f"{country!r} is not a lower-case ISO 3166 code")
    date = need("date", str)
    if date is not None:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            reader.issue(name, None, "date", f"{date!r} is not a date YYYY-MM-DD")
    zone = need("timezone", str)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.issue(name, None, "timezone", f"{zone!r} is not an IANA time zone")
    for key in ("polls_open", "polls_close"):
        value = need(key, str)
        if value is not None and not _is_hhmm(value):
            reader.issue(name, None, key, f"{value!r} is not a time HH:MM")
    times = need("turnout_times", list)
    if times is not None:
        if not all(isinstance(t, str) and _is_hhmm(t) for t in times):
            reader.issue(name, None, "turnout_times", "every entry must be a time HH:MM")
        elif times != sorted(set(times)):
            reader.issue(name, None, "turnout_times", "times must be strictly ascending")
    rule = need("win_rule", dict)
    if rule is not None:
        if rule.get("rule") not in WIN_RULES:
            reader.issue(
                name,
                None,
                "win_rule.rule",
                f"{rule.get('rule')!r} is not one of {', '.join(WIN_RULES)}",
            )
        _check_rule_options(reader, name, rule)
        if rule.get("base", "valid") not in ("valid", "cast", "participants"):
            reader.issue(
                name,
                None,
                "win_rule.base",
                f"{rule.get('base')!r} is not valid, cast or participants",
            )
        size = rule.get("runoff_size", 2)
        if not isinstance(size, int) or isinstance(size, bool) or size < 2:
            reader.issue(name, None, "win_rule.runoff_size", f"{size!r} must be an integer >= 2")
        share = rule.get("invalid_station_share", 0.4)
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
            reader.issue(
                name,
                None,
                "win_rule.invalid_station_share",
                f"{share!r} must be a number in (0, 1]",
            )
    if not isinstance(data.get("simulated", False), bool):
        reader.issue(name, None, "simulated", "must be true or false")
    protocol = need("protocol", dict)
    schema = None
    if protocol is not None:
        try:
            schema = ProtocolSchema.from_dict(protocol, source=f"{name} protocol")
        except SchemaError as exc:
            reader.issue(name, None, "protocol", str(exc))
    if reader.issues or schema is None:
        return None
    return data, schema


def _share(value: object, *, below_one: bool = False) -> bool:
    """A share: a number from 0 to 1 (below 1 with ``below_one``)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    if Decimal(str(value)) != Decimal(str(value)).quantize(Decimal("0.001")):
        return False  # the settings keep three decimals (0.05 = 5 %, 0.525 = 52.5 %)
    return 0 <= value < 1 if below_one else 0 <= value <= 1


def _check_rule_options(reader: _Reader, name: str, rule: dict[str, Any]) -> None:
    """The proportional and referendum settings and the minimum turnout (all optional)."""
    choices = {"method": SEAT_METHODS, "seat_scope": SEAT_SCOPES, "threshold_scope": SEAT_SCOPES}
    for key, allowed in choices.items():
        if key in rule and rule[key] not in allowed:
            reader.issue(
                name, None, f"win_rule.{key}", f"{rule[key]!r} is not one of {', '.join(allowed)}"
            )
    seats = rule.get("seats", 0)
    if not isinstance(seats, int) or isinstance(seats, bool) or not 0 <= seats < MAX_COUNT:
        reader.issue(name, None, "win_rule.seats", f"{seats!r} must be a whole number >= 0")
    elif (
        rule.get("rule") == "proportional"
        and rule.get("seat_scope", "national") == "national"
        and seats < 1
    ):
        reader.issue(
            name,
            None,
            "win_rule.seats",
            "a proportional election allocated nationally needs 1 or more seats",
        )
    if not _share(rule.get("threshold", 0), below_one=True):
        reader.issue(
            name,
            None,
            "win_rule.threshold",
            f"{rule.get('threshold')!r} must be a share of the valid votes in [0, 1), "
            "at most 3 decimals",
        )
    for key in ("min_turnout", "approval_quorum"):
        if not _share(rule.get(key, 0)):
            reader.issue(
                name,
                None,
                f"win_rule.{key}",
                f"{rule.get(key)!r} must be in [0, 1], at most 3 decimals",
            )


@dataclass(frozen=True)
class Bound:
    """The most a count of one station may be: ``limit``, from the station's ``registered``
    voters by ``rule`` (``protocol``: any line of its protocol, :func:`count_bound`;
    ``turnout``: a turnout report)."""

    limit: int
    registered: int
    rule: str

    def __str__(self) -> str:
        if self.rule == "turnout":
            return (
                f"at most {self.limit:,} ({self.registered:,} registered voters plus the "
                f"{TURNOUT_ALLOWANCE:.0%} additional-list allowance)"
            )
        return (
            f"at most {self.limit:,} ({REGISTER_FACTOR} × {self.registered:,} registered "
            f"voters + {REGISTER_MARGIN:,})"
        )


def turnout_bound(registered: int) -> Bound:
    """The most voters a bundle's turnout report may give for a station."""
    return Bound(int(registered * (1 + TURNOUT_ALLOWANCE)), registered, "turnout")


def protocol_bound(registered: int) -> Bound:
    """The most any count line of a station's protocol may give."""
    return Bound(count_bound(registered), registered, "protocol")


def _translations(row: Mapping[str, str], columns: list[str]) -> dict[str, str]:
    """The translated names a row gives (a column's text stripped; empty ones left out)."""
    found = ((c, row.get(c, "").strip()) for c in columns)
    return {c: text for c, text in found if text}


def _is_hhmm(value: str) -> bool:
    return bool(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value))


def read_bundle(directory: str | Path, progress: Progress | None = None) -> Bundle:
    """Parse and validate every file; raise :class:`BundleError` listing what is wrong."""
    reader = _Reader(Path(directory), progress)
    if not reader.directory.is_dir():
        raise BundleError([BundleIssue(str(directory), None, None, "is not a directory")])
    try:
        bundle = _read(reader)
    except _TooMany:
        bundle = None
    if reader.issues or bundle is None:
        raise BundleError(reader.issues)
    return bundle


def _step(reader: _Reader, label: str, n: int) -> None:
    if reader.progress is not None:
        reader.progress(label, n)


def _read(reader: _Reader) -> Bundle | None:
    parsed = _parse_settings(reader)
    if parsed is None:
        return None
    settings, schema = parsed
    bundle = Bundle(settings, schema)
    _step(reader, "election.json", 1)

    # units
    f = "units.csv"
    unit_codes: set[str] = set()
    roots = 0
    for line, row in reader.rows(
        f, ["code", "parent", "kind", "name"], ["number", "ocd_id", *UNIT_EXTRA_COLUMNS]
    ):
        code = reader.text(f, line, "code", row["code"])
        name = reader.text(f, line, "name", row["name"])
        parent = row["parent"].strip() or None
        kind = row["kind"].strip()
        if kind not in UNIT_KINDS:
            reader.issue(f, line, "kind", f"{kind!r} is not one of {', '.join(UNIT_KINDS)}")
        number = reader.count(f, line, "number", row["number"]) if row.get("number") else None
        seats = reader.count(f, line, "seats", row["seats"]) if row.get("seats") else None
        if code is not None and code in unit_codes:
            reader.issue(f, line, "code", f"unit {code!r} is defined twice")
        if parent is None:
            roots += 1
            if roots > 1:
                reader.issue(f, line, "parent", "only one unit (the root) may have no parent")
        elif parent not in unit_codes:
            reader.issue(
                f,
                line,
                "parent",
                f"parent unit {parent!r} does not exist (or comes later in the file)",
            )
        if code is not None:
            unit_codes.add(code)
        if code is not None and name is not None:
            bundle.units.append(
                UnitRow(
                    code,
                    parent,
                    kind,
                    number,
                    name,
                    row.get("ocd_id", "").strip(),
                    seats,
                    _translations(row, translated("name")),
                )
            )
    if roots == 0 and (reader.directory / f).exists() and not reader.issues:
        reader.issue(f, None, "parent", "no root unit: exactly one unit must have an empty parent")
    rule = settings["win_rule"]
    if (
        rule["rule"] == "proportional"
        and rule.get("seat_scope") == "district"
        and bundle.units
        and not any(u.seats for u in bundle.units)
    ):
        reader.issue(
            f,
            None,
            "seats",
            "seats are allocated per district (win_rule.seat_scope): give the districts' seats",
        )
    _step(reader, f, len(bundle.units))

    # stations
    f = "stations.csv"
    station_codes: set[str] = set()
    numbers: set[tuple[str, int]] = set()
    required = ["code", "unit", "number", "name", "registered"]
    optional = [c for c in [*STATION_COLUMNS, *STATION_EXTRA_COLUMNS] if c not in required]
    for line, row in reader.rows(f, required, optional):
        code = reader.text(f, line, "code", row["code"])
        unit = reader.text(f, line, "unit", row["unit"])
        number = reader.count(f, line, "number", row["number"])
        name = reader.text(f, line, "name", row["name"])
        registered = reader.count(f, line, "registered", row["registered"])
        lat = reader.decimal(f, line, "latitude", row.get("latitude", ""), 90)
        lon = reader.decimal(f, line, "longitude", row.get("longitude", ""), 180)
        flags = [
            reader.flag(f, line, c, row.get(c, "0") or "0")
            for c in ("abroad", "temporary", "webcam")
        ]
        webcam_url = reader.web_address(f, line, "webcam_url", row.get("webcam_url", ""))
        if webcam_url and not flags[2]:
            reader.issue(f, line, "webcam_url", "a stream address needs webcam = 1")
        if unit is not None and unit not in unit_codes:
            reader.issue(f, line, "unit", f"unit {unit!r} does not exist in units.csv")
        if code is not None:
            if code in station_codes:
                reader.issue(f, line, "code", f"station {code!r} is defined twice")
            station_codes.add(code)
        if unit is not None and number is not None:
            if (unit, number) in numbers:
                reader.issue(
                    f, line, "number", f"station number {number} appears twice in unit {unit!r}"
                )
            numbers.add((unit, number))
        if None in (code, unit, number, name, registered):
            continue
        assert code is not None and unit is not None and number is not None
        assert name is not None and registered is not None
        bundle.stations.append(
            BundleStation(
                code,
                unit,
                number,
                name,
                row.get("address", "").strip(),
                registered,
                lat,
                lon,
                flags[0],
                flags[1],
                flags[2],
                row.get("ocd_id", "").strip(),
                webcam_url,
                _translations(row, translated("name")),
            )
        )
    _step(reader, f, len(bundle.stations))

    # candidates
    f = "candidates.csv"
    ballot_numbers: set[int] = set()
    contest_codes = {c.code for c in schema.contests} if schema is not None else set()
    for line, row in reader.rows(
        f,
        ["number", "name"],
        ["party", *CANDIDATE_EXTRA_COLUMNS, CANDIDATE_CONTEST_COLUMN],
        max_rows=lambda: (MAX_CANDIDATES, "the limit of a ballot"),
    ):
        contest = row.get(CANDIDATE_CONTEST_COLUMN, "").strip()
        if schema is not None and schema.contests and contest not in contest_codes:
            reader.issue(
                f,
                line,
                CANDIDATE_CONTEST_COLUMN,
                f"contest {contest!r} is not one of the protocol's contests "
                f"({', '.join(sorted(contest_codes))})"
                if contest
                else "the protocol has contests: name the candidate's contest",
            )
        elif contest and (schema is None or not schema.contests):
            reader.issue(
                f, line, CANDIDATE_CONTEST_COLUMN, "the protocol schema declares no contests"
            )
        number = reader.count(f, line, "number", row["number"])
        name = reader.text(f, line, "name", row["name"])
        official = None
        if row.get("ballot_number", "").strip():
            official = reader.count(f, line, "ballot_number", row["ballot_number"])
            if official is not None and official < 1:
                reader.issue(f, line, "ballot_number", "an official ballot number is 1 or more")
            elif official is not None and official in ballot_numbers:
                reader.issue(f, line, "ballot_number", f"ballot number {official} appears twice")
            if official is not None:
                ballot_numbers.add(official)
        expected = len(bundle.candidates) + 1
        if number is not None and number != expected:
            reader.issue(
                f,
                line,
                "number",
                f"ballot order must run 1…n without gaps: expected {expected}, got {number}",
            )
            continue
        if number is not None and name is not None:
            bundle.candidates.append(
                CandidateRow(
                    number,
                    name,
                    row.get("party", "").strip(),
                    official,
                    _translations(row, [*translated("name"), *translated("party")]),
                    contest,
                )
            )
    if not bundle.candidates and (reader.directory / f).exists() and not reader.issues:
        reader.issue(f, None, None, "no candidates: at least one is required")
    if schema is not None and schema.contests and bundle.candidates and not reader.issues:
        for contest_code in sorted(contest_codes - {c.contest for c in bundle.candidates}):
            reader.issue(
                f, None, CANDIDATE_CONTEST_COLUMN, f"contest {contest_code!r} has no candidate"
            )
    if rule["rule"] == "referendum" and bundle.candidates and len(bundle.candidates) != 2:
        reader.issue(
            f,
            None,
            None,
            f"a referendum has two options, 1 = yes and 2 = no, not {len(bundle.candidates)}",
        )
    _step(reader, f, len(bundle.candidates))

    # the stations' registered voters, built once and only if turnout or protocols need them
    @functools.cache
    def register() -> dict[str, int]:
        return {s.code: s.registered for s in bundle.stations}

    # turnout
    f = "turnout.csv"
    times = set(settings["turnout_times"])
    seen_reports: set[tuple[str, str]] = set()
    ceilings: dict[str, Bound] = {}
    most = (
        len(bundle.stations) * len(times),
        f"{len(bundle.stations):,} stations × {len(times)} report times",
    )
    for line, row in reader.rows(
        f, list(TURNOUT_COLUMNS), [], must_exist=False, max_rows=lambda: most
    ):
        station = row["station"].strip()
        time = row["time"].strip()
        if station not in register():
            reader.issue(f, line, "station", f"station {station!r} does not exist in stations.csv")
            continue
        if station not in ceilings:
            ceilings[station] = turnout_bound(register()[station])
        voters = reader.count(f, line, "voters", row["voters"], ceilings[station])
        if time not in times:
            reader.issue(
                f,
                line,
                "time",
                f"{time!r} is not one of the election's turnout times "
                f"({', '.join(settings['turnout_times'])})",
            )
            continue
        if (station, time) in seen_reports:
            reader.issue(f, line, "time", f"station {station!r} already has a report at {time}")
            continue
        seen_reports.add((station, time))
        if voters is not None:
            bundle.turnout.append(TurnoutRow(station, time, voters))
    _step(reader, f, len(bundle.turnout))

    # protocols
    _read_protocols(reader, bundle, register)
    return bundle


def read_protocols(
    source: IO[bytes],
    schema: ProtocolSchema,
    n_candidates: int,
    register: Callable[[], Mapping[str, int]],
    timezone: str,
    *,
    name: str = "protocols.csv",
) -> list[ProtocolRow]:
    """Parse and check one protocols.csv (a binary stream) against an election already in the
    database (bulk upload); raise BundleError naming every bad line. ``register`` (station
    code → registered voters) is called once the file's header is right, so that a file
    refused for its header costs nothing more."""
    reader = _Reader(Path(), None, {name: source})
    bundle = Bundle(
        {"timezone": timezone},
        schema,
        candidates=[CandidateRow(i, f"C{i}", "") for i in range(1, n_candidates + 1)],
    )
    with contextlib.suppress(_TooMany):
        _read_protocols(reader, bundle, register, name=name, must_exist=True)
    if reader.issues:
        raise BundleError(reader.issues)
    if not bundle.protocols:
        raise BundleError([BundleIssue(name, None, None, "no protocols in the file")])
    return bundle.protocols


def _read_protocols(
    reader: _Reader,
    bundle: Bundle,
    register: Callable[[], Mapping[str, int]],
    *,
    name: str = "protocols.csv",
    must_exist: bool = False,
) -> None:
    f = name
    schema = bundle.schema
    n = len(bundle.candidates)
    candidate_cols = [candidate_code(i) for i in range(1, n + 1)]
    required = [ln.code for ln in schema.lines if ln.required] + candidate_cols
    optional = [ln.code for ln in schema.lines if not ln.required]
    known_register = functools.cache(register)

    def unknown(column: str) -> str | None:
        # a candidate column beyond the candidates file is an unknown candidate, said plainly
        if n and re.fullmatch(r"C\d+", column):
            return f"unknown candidate: candidates.csv has {n} candidates (C1…C{n})"
        return None

    def most() -> tuple[int, str]:
        stations = len(known_register())
        return stations, f"{stations:,} stations, one protocol each"

    tz = ZoneInfo(bundle.settings["timezone"])
    seen: set[str] = set()
    rows = reader.rows(
        f, ["station", *required], optional, must_exist=must_exist, max_rows=most, unknown=unknown
    )
    for line, row in rows:
        registered = known_register()
        station = row["station"].strip()
        if station not in registered:
            reader.issue(f, line, "station", f"station {station!r} does not exist in stations.csv")
            continue
        if station in seen:
            reader.issue(f, line, "station", f"station {station!r} has a second protocol")
            continue
        seen.add(station)
        bound = protocol_bound(registered[station])
        counts: dict[str, int] = {}
        instants: dict[str, dt.datetime] = {}
        ok = True
        for ln in schema.lines:
            raw = row.get(ln.code, "").strip()
            if not raw:
                if ln.required:
                    reader.issue(f, line, ln.code, f"required line {ln.code} ({ln.label}) is empty")
                    ok = False
                continue
            if ln.kind == "datetime":
                instant = _instant(raw, tz)
                if isinstance(instant, str):
                    reader.issue(f, line, ln.code, instant)
                    ok = False
                    continue
                instants[ln.code] = instant
            else:
                value = reader.count(f, line, ln.code, raw, bound)
                if value is None:
                    ok = False
                else:
                    counts[ln.code] = value
        votes = []
        for col in candidate_cols:
            value = reader.count(f, line, col, row[col], bound)
            ok = ok and value is not None
            votes.append(value or 0)
        if ok:
            bundle.protocols.append(ProtocolRow(station, counts, instants, votes, line))
    if bundle.protocols and not reader.issues:
        _check_protocols(reader, bundle, known_register(), f)
    _step(reader, f, len(bundle.protocols))


def _instant(raw: str, tz: dt.tzinfo) -> dt.datetime | str:
    """An ISO 8601 date and time (in ``tz`` when it has no offset), or what is wrong with it."""
    try:
        instant = dt.datetime.fromisoformat(raw)
    except ValueError:
        return f"{raw[:40]!r} is not an ISO 8601 date and time"
    instant = instant if instant.tzinfo else instant.replace(tzinfo=tz)
    try:
        instant.astimezone(dt.UTC)
    except OverflowError:
        return f"{raw!r} is outside the range of dates and times that can be stored"
    return instant


def _check_protocols(
    reader: _Reader,
    bundle: Bundle,
    registered: Mapping[str, int],
    file_name: str = "protocols.csv",
) -> None:
    """Every hard station check, vectorised over all protocols; then one message per failure."""
    schema = bundle.schema
    if not schema.candidate_contests:  # a bundle's own candidates (an upload: the election's)
        schema = schema.with_candidates([c.contest for c in bundle.candidates])
    rows = bundle.protocols
    columns = {
        ln.code: np.array([r.counts.get(ln.code, np.nan) for r in rows], dtype=float)
        for ln in schema.count_lines
    }
    candidates = np.array([r.candidates for r in rows], dtype=float).reshape(len(rows), -1)
    context: dict[str, Any] = {"REGISTERED": np.array([registered[r.station] for r in rows])}
    hard = {c.code for c in schema.station_checks() if c.severity == "hard"}
    for code, failing in schema.failures(columns, candidates, context).items():
        if code not in hard:
            continue
        check = next(c for c in schema.checks if c.code == code)
        for index in np.flatnonzero(failing):
            r = rows[index]
            values = ", ".join(
                f"{name}={r.counts.get(name, '')}"
                for name in sorted(check.expression.names)
                if name in r.counts
            )
            if check.expression.uses_candidates:
                values += f", sum(C)={sum(r.candidates)}"
            sums = schema.candidate_sums(r.candidates)
            for contest in sorted(check.expression.contest_sums):
                values += f", sum(C.{contest})={sums[f'C.{contest}']}"
            reader.issue(
                file_name,
                r.line,
                ",".join(sorted(check.expression.names)) or None,
                f"station {r.station} fails hard check {code}: {check.message} ({values})",
            )
