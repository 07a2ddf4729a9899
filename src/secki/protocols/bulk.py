"""Many protocols at once (bulk file upload, bundle import): validate every row first, then
store all of them in one transaction with the same versions, history and ledger entries as
single submissions, or store nothing."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from secki.accounts.access import Permission, authorize_many
from secki.accounts.users import User, account_of
from secki.bundle.read import BundleError, ProtocolRow, read_protocols
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.ledger import chain, drafts
from secki.protocols import store
from secki.protocols.data import ProtocolData, check_context, recorded_checks
from secki.protocols.models import EventKind, Protocol, ProtocolStatus

#: rows stored at a time by :func:`store_accepted` (all in the caller's one transaction): what
#: a chunk builds in memory (models, line values, events, log entries) is freed before the
#: next, so that a national file's million rows do not all live as objects at once
STORE_CHUNK = 20_000


def store_accepted(
    election: Election,
    rows: Sequence[ProtocolRow],
    station_ids: dict[str, int],
    *,
    registered: Mapping[str, int],
    actor: User | None,
    source: str,
    reason: str = "bulk file",
) -> int:
    """Insert validated rows as version-1 counted protocols (caller holds the transaction),
    :data:`STORE_CHUNK` rows at a time, in the rows' order; returns how many were stored.

    Every station check is evaluated on every row and stored exactly as a single entry
    stores it (:func:`secki.protocols.data.recorded_checks`): the hard checks pass (the
    rows were validated), soft failures are recorded and shown."""
    now = timezone.now()
    for start in range(0, len(rows), STORE_CHUNK):
        _store_chunk(
            election,
            rows[start : start + STORE_CHUNK],
            station_ids,
            registered=registered,
            actor=actor,
            source=source,
            reason=reason,
            now=now,
        )
    store.analyze_after_load()
    return len(rows)


def _store_chunk(
    election: Election,
    rows: Sequence[ProtocolRow],
    station_ids: dict[str, int],
    *,
    registered: Mapping[str, int],
    actor: User | None,
    source: str,
    reason: str,
    now: dt.datetime,
) -> None:
    status = ProtocolStatus.PUBLISHED if election.auto_publish else ProtocolStatus.ACCEPTED
    schema = election.protocol_schema()
    datetime_line = schema.datetime_lines[0].code if schema.datetime_lines else None
    user = account_of(actor)
    user_id = user.pk if user is not None else None
    datas = [ProtocolData(r.counts, r.instants, tuple(r.candidates)) for r in rows]
    recorded = [
        recorded_checks(
            data.evaluate(schema, check_context(registered[r.station], election.polls_close_at))
        )
        for r, data in zip(rows, datas, strict=True)
    ]
    protocols = store.insert_protocols(
        [
            Protocol(
                election=election,
                station_id=station_ids[r.station],
                status=status,
                source=source,
                received_at=now,
                created_by=user,
                completed_at=r.instants.get(datetime_line) if datetime_line else None,
                checks=checks,
                soft_failures=soft,
            )
            for r, (checks, soft) in zip(rows, recorded, strict=True)
        ],
        settings.SECKI_BULK_BATCH,
    )
    values: list[tuple[int, str, int]] = []
    events: list[tuple[Any, ...]] = []
    entries: list[drafts.Draft] = []
    for protocol, row, data in zip(protocols, rows, datas, strict=True):
        lines = data.values()
        values.extend((protocol.pk, code, value) for code, value in lines.items())
        as_json = data.as_json()
        events.append(
            (
                election.pk,
                protocol.station_id,
                protocol.pk,
                EventKind.ACCEPTED,
                user_id,
                now,
                None,
                as_json,
                reason,
            )
        )
        if status == ProtocolStatus.PUBLISHED:
            entries.append(drafts.ProtocolPublic(election.slug, now, row.station, lines))
        else:
            entries.append(drafts.ProtocolStatus(election.slug, now, row.station, status, 1))
    store.write_values(values)
    store.write_events(events)
    chain.append_many(election, entries)


def authorize_upload(actor: User | None, election: Election) -> None:
    """What is checked before a byte of a file is read: the caller holds a role that enters
    protocols somewhere in the election (the territory needs the rows: :func:`accept_rows`),
    and the election is open and takes protocols by single entry."""
    authorize_many(actor, election, Permission.ENTER_PROTOCOL, [])
    if election.status != ElectionStatus.OPEN:
        raise IntakeError("election_closed", f"{election.slug} is not open", status=409)
    if election.double_entry:
        raise IntakeError(
            "double_entry_required",
            f"{election.slug} takes protocols by double "
            "entry; a file cannot stand for two operators",
            status=409,
        )


def accept_rows(
    election: Election, rows: Sequence[ProtocolRow], *, actor: User | None, source: str
) -> int:
    """All-or-nothing acceptance of parsed rows, with role/territory and duplicate checks;
    returns how many protocols were stored."""
    authorize_upload(actor, election)
    wanted = {r.station for r in rows}
    stations = {
        s.code: s
        for s in Station.objects.filter(election=election).only(
            "id", "code", "unit_path", "registered"
        )
        if s.code in wanted
    }
    authorize_many(actor, election, Permission.ENTER_PROTOCOL, list(stations.values()))
    with transaction.atomic():
        ids = {s.id for s in stations.values()}
        taken = [
            (code, status)
            for sid, code, status in Protocol.objects.filter(
                election=election, is_current=True
            ).values_list("station_id", "station__code", "status")
            if sid in ids
        ][:20]
        if taken:
            listing = ", ".join(f"{code} ({status})" for code, status in taken)
            raise IntakeError(
                "duplicate",
                f"these stations already have a protocol: {listing}",
                status=409,
                details=[{"station": c, "status": s} for c, s in taken],
            )
        return store_accepted(
            election,
            rows,
            {c: s.id for c, s in stations.items()},
            registered={c: s.registered for c, s in stations.items()},
            actor=actor,
            source=source,
        )


def parse_csv(election: Election, content: bytes | IO[bytes]) -> list[ProtocolRow]:
    """The rows of a protocols.csv (bytes or a binary file), read within the bounds of
    :class:`secki.bundle.read.BoundedCsv` and checked like a bundle's; ``invalid_file`` names
    every problem."""
    stream = io.BytesIO(content) if isinstance(content, bytes) else content

    def register() -> dict[str, int]:
        return dict(Station.objects.filter(election=election).values_list("code", "registered"))

    try:
        return read_protocols(
            stream,
            election.protocol_schema(),
            election.candidates.count(),
            register,
            election.timezone,
        )
    except BundleError as exc:
        raise IntakeError(
            "invalid_file",
            f"nothing was accepted: {exc.issues[0]}"
            + (f" (and {len(exc.issues) - 1} more problems)" if len(exc.issues) > 1 else ""),
            field="file",
            details=[
                {"file": i.file, "line": i.line, "field": i.column, "message": i.message}
                for i in exc.issues
            ],
        ) from None


def accept_csv(
    election: Election, content: bytes | IO[bytes], *, actor: User | None, source: str
) -> int:
    """Check the caller and the election first, then read the file, then store all or none."""
    authorize_upload(actor, election)
    return accept_rows(election, parse_csv(election, content), actor=actor, source=source)
