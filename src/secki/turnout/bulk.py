"""Many turnout reports at once: a ``turnout.csv`` (docs/formats.md) for an election already
in the database. Every row goes through the same validation as a single report
(:func:`secki.turnout.actions.check_report`), in file order and against the reports already
stored and the file's earlier rows; then all rows are stored in one transaction, with the
same versions and ledger entries as single reports, or none is.

Columns: ``station``, ``time``, ``voters`` (the bundle's turnout.csv) and, optionally,
``reason``: a row that changes an already reported number is a correction and needs one.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from secki.accounts.access import Permission, authorize_many
from secki.accounts.users import User, account_of
from secki.bundle import TURNOUT_COLUMNS
from secki.bundle.read import EXTRA_COLUMNS, MAX_ROWS, BoundedCsv, CsvProblem
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.ledger import chain, drafts
from secki.turnout import store
from secki.turnout.actions import check_report, is_late, parse_voters
from secki.turnout.models import TurnoutReport

OPTIONAL_COLUMNS = ("reason",)
MAX_DETAILS = 200
#: above this many stations in one file, the stations are read and locked by election
WHOLE_ELECTION = 5_000
#: what the checks and the territory test read of a station
STATION_FIELDS = ("id", "code", "election_id", "unit_path", "registered")


@dataclass(frozen=True)
class Row:
    line: int  # header = line 1
    station: str
    time: str
    voters_raw: str
    reason: str


@dataclass(frozen=True)
class BulkOutcome:
    reported: int
    corrected: int

    @property
    def total(self) -> int:
        return self.reported + self.corrected


def authorize_upload(actor: User | None, election: Election) -> None:
    """What is checked before a byte of a file is read: the caller holds a role that reports
    turnout somewhere in the election (the territory needs the rows), and the election is
    open."""
    authorize_many(actor, election, Permission.REPORT_TURNOUT, [])
    if election.status != ElectionStatus.OPEN:
        raise IntakeError("election_closed", f"{election.slug} is not open", status=409)


def parse_rows(
    content: bytes | IO[bytes], max_rows: Callable[[], tuple[int, str]] | None = None
) -> list[Row]:
    """Split the file into rows; structural problems (encoding, header, the bounds of
    :class:`secki.bundle.read.BoundedCsv`, more than ``max_rows()`` rows: the limit and why,
    asked once the header is right) refuse the file."""
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    known = (*TURNOUT_COLUMNS, *OPTIONAL_COLUMNS)
    table = BoundedCsv(stream, max_columns=len(known) + EXTRA_COLUMNS)
    try:
        return _rows(table, known, max_rows or (lambda: (MAX_ROWS, "the limit of a file")))
    except CsvProblem as exc:
        where = f"line {exc.line}: " if exc.line else ""
        column = f"column {exc.column!r}: " if exc.column else ""
        raise IntakeError(
            "invalid_file", f"nothing was accepted: {where}{column}{exc.message}", field="file"
        ) from None


def _rows(
    table: BoundedCsv, known: tuple[str, ...], max_rows: Callable[[], tuple[int, str]]
) -> list[Row]:
    records = table.records()
    _, first = next(records, (1, []))
    header = [h.strip() for h in first]
    seen: set[str] = set()
    doubled: set[str] = set()
    for c in header:
        (doubled if c in seen else seen).add(c)
    missing = [c for c in TURNOUT_COLUMNS if c not in seen]
    unknown = [c for c in header if c not in known]
    problems = (
        [f"missing column {c!r}" for c in missing]
        + [f"unknown column {c!r}" for c in unknown]
        + [f"column {c!r} appears twice" for c in sorted(doubled)]
    )
    if problems:
        raise IntakeError(
            "invalid_file",
            f"nothing was accepted: line 1: {'; '.join(problems)} "
            f"(expected {', '.join(TURNOUT_COLUMNS)}[, reason])",
            field="file",
        )
    index = {name: i for i, name in enumerate(header)}
    limit, why = max_rows()
    rows: list[Row] = []
    for number, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= limit:
            raise IntakeError(
                "invalid_file",
                f"nothing was accepted: line {number}: more than {limit:,} rows ({why})",
                field="file",
            )
        if len(cells) != len(header):
            raise IntakeError(
                "invalid_file",
                f"nothing was accepted: line {number}: {len(cells)} fields, "
                f"the header has {len(header)}",
                field="file",
            )
        rows.append(
            Row(
                number,
                cells[index["station"]].strip(),
                cells[index["time"]].strip(),
                cells[index["voters"]],
                cells[index["reason"]].strip() if "reason" in index else "",
            )
        )
    if not rows:
        raise IntakeError(
            "invalid_file", "nothing was accepted: the file has no rows", field="file"
        )
    return rows


def accept_csv(
    election: Election,
    content: bytes | IO[bytes],
    *,
    actor: User | None,
    source: str = "bulk",
    received_at: dt.datetime | None = None,
) -> BulkOutcome:
    """Check the caller and the election, then validate every row, then store all of them,
    or raise ``invalid_file`` naming each bad line (``details``: line, station, time, code,
    field, message) and store nothing."""
    authorize_upload(actor, election)

    def most() -> tuple[int, str]:
        stations = Station.objects.filter(election=election).count()
        times = len(election.turnout_times)
        return stations * times, f"{stations:,} stations × {times} report times"

    rows = parse_rows(content, most)
    codes = {r.station for r in rows}
    # the columns the checks and the territory test read; a file naming more than
    # WHOLE_ELECTION stations reads (and locks) the election's stations by the election, not
    # by a list of codes as long as the file
    whole = len(codes) > WHOLE_ELECTION
    named = Station.objects.filter(election=election).only(*STATION_FIELDS)
    if not whole:
        named = named.filter(code__in=codes)
    stations = {s.code: s for s in named if s.code in codes}
    authorize_many(actor, election, Permission.REPORT_TURNOUT, list(stations.values()))
    received = received_at or timezone.now()
    with transaction.atomic():
        store.lock_stations(election.pk, None if whole else [s.pk for s in stations.values()])
        stored = store.current_reports(
            election.pk, None if whole else [s.pk for s in stations.values()]
        )
        state = {pk: {t: r.voters for t, r in by_time.items()} for pk, by_time in stored.items()}
        seen: dict[tuple[str, str], int] = {}
        problems: list[dict[str, Any]] = []
        accepted: list[tuple[Row, Station, int, bool]] = []
        for row in rows:
            try:
                station = stations.get(row.station)
                if station is None:
                    raise IntakeError(
                        "unknown_station",
                        f"no station {row.station!r} in {election.slug}",
                        field="station",
                    )
                first = seen.get((row.station, row.time))
                if first is not None:
                    raise IntakeError(
                        "duplicate_row",
                        f"station {row.station} at {row.time} is already on line {first}",
                        field="time",
                    )
                voters = parse_voters(row.voters_raw)
                current = state.setdefault(station.pk, {})
                corrected = check_report(
                    election, station, row.time, voters, current, reason=row.reason
                )
            except IntakeError as exc:
                problems.append(
                    {
                        "line": row.line,
                        "station": row.station,
                        "time": row.time,
                        "code": exc.code,
                        "field": exc.field,
                        "message": exc.message,
                    }
                )
                continue
            seen[(row.station, row.time)] = row.line
            current[row.time] = voters
            accepted.append((row, station, voters, corrected))
        if problems:
            first_problem = problems[0]
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise IntakeError(
                "invalid_file",
                f"nothing was accepted: line {first_problem['line']}: "
                f"{first_problem['message']}{more}",
                field="file",
                details=problems[:MAX_DETAILS],
            )
        corrections = [st for _, st, _, corrected in accepted if corrected]
        if corrections:
            authorize_many(actor, election, Permission.CORRECT_TURNOUT, corrections)
        return _store(election, accepted, stored, actor=actor, source=source, received=received)


def _store(
    election: Election,
    accepted: list[tuple[Row, Station, int, bool]],
    stored: dict[int, dict[str, store.Current]],
    *,
    actor: User | None,
    source: str,
    received: dt.datetime,
) -> BulkOutcome:
    replaced = [
        stored[station.pk][row.time].id for row, station, _, corrected in accepted if corrected
    ]
    if replaced:
        TurnoutReport.objects.filter(pk__in=replaced).update(is_current=False)
    user = account_of(actor)
    user_id = user.pk if user is not None else None
    store.write_reports(
        (
            election.pk,
            station.pk,
            row.time,
            voters,
            stored[station.pk][row.time].version + 1 if corrected else 1,
            True,
            received,
            is_late(election, row.time, received),
            source,
            row.reason if corrected else "",
            user_id,
        )
        for row, station, voters, corrected in accepted
    )
    chain.append_many(
        election,
        [
            drafts.TurnoutReported(
                election.slug,
                received,
                station.code,
                row.time,
                voters,
                reason=row.reason if corrected else None,
            )
            for row, station, voters, corrected in accepted
        ],
    )
    store.analyze_after_load()
    n_corrected = len(replaced)
    return BulkOutcome(len(accepted) - n_corrected, n_corrected)
