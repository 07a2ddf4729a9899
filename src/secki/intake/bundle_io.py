"""Load a validated bundle into the database, and write an election back out as a bundle.

``import_bundle`` runs in one transaction: either the whole election is stored or nothing.
``export_bundle`` writes the same files byte for byte (docs/formats.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings as django_settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from secki.accounts import actions
from secki.accounts.users import User
from secki.bundle import (
    ELECTION_NAME_KEYS,
    TURNOUT_COLUMNS,
)
from secki.bundle.read import Bundle, BundleError, BundleIssue
from secki.bundle.write import write_election, write_table
from secki.dbcopy import analyze, write_rows
from secki.elections.models import (
    Candidate,
    Election,
    ElectionStatus,
    Station,
    Unit,
    bump_schema_revision,
    install_schema,
)
from secki.elections.register import CANDIDATES_FILE, register_tables
from secki.elections.serialize import election_settings
from secki.errors import IntakeError
from secki.ledger import chain, drafts
from secki.protocols.bulk import store_accepted
from secki.protocols.models import Protocol, ProtocolSource, ProtocolStatus, ProtocolValue
from secki.turnout.models import TurnoutReport

Advance = Callable[[int], None]
T = TypeVar("T")


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bulk(model: Any, objects: Sequence[Any], advance: Advance | None) -> list[Any]:
    created: list[Any] = []
    for batch in _batches(objects, django_settings.SECKI_BULK_BATCH):
        created.extend(model.objects.bulk_create(batch))
        if advance:
            advance(len(batch))
    return created


def import_bundle(
    bundle: Bundle,
    *,
    replace: bool = False,
    advance: Advance | None = None,
    user: User | None = None,
    status: str = ElectionStatus.OPEN,
    request: HttpRequest | None = None,
) -> Election:
    """Store a bundle read by :func:`secki.bundle.read.read_bundle`, all or nothing.

    ``user`` None is the command line (the machine's operator); a new election needs a
    superuser, a replaced one the manager's role. Replacing an election is refused once it
    holds protocols or turnout reports, and while its register is frozen (status not
    ``setup``): :func:`secki.accounts.actions.check_replace`. The import is audited as
    ``election.imported`` in the same transaction."""
    s = bundle.settings
    rule = s["win_rule"]
    if status not in ElectionStatus.values:
        raise BundleError([BundleIssue("election.json", None, "status", f"unknown {status!r}")])
    with transaction.atomic():
        existing = Election.objects.select_for_update().filter(slug=bundle.slug).first()
        replaced = None
        if existing is None:
            actions.check_create(user)
        else:
            if not replace:
                raise BundleError(
                    [
                        BundleIssue(
                            "election.json",
                            None,
                            "slug",
                            f"an election {bundle.slug!r} already exists "
                            "(use --replace to load it anew)",
                        )
                    ]
                )
            try:
                actions.check_replace(user, existing)
            except IntakeError as exc:
                raise BundleError(
                    [BundleIssue("election.json", None, "slug", f"{exc.message}; nothing changed")]
                ) from None
            replaced = actions.settings_of(existing)
            existing.delete()
        election = Election.objects.create(
            slug=bundle.slug,
            name=s["name"],
            **{key: s.get(key, "").strip() for key in ELECTION_NAME_KEYS},
            kind=s["kind"],
            country=s["country"],
            date=dt.date.fromisoformat(s["date"]),
            timezone=s["timezone"],
            polls_open=dt.time.fromisoformat(s["polls_open"]),
            polls_close=dt.time.fromisoformat(s["polls_close"]),
            turnout_times=list(s["turnout_times"]),
            win_rule=rule["rule"],
            majority_base=rule.get("base", "valid"),
            runoff_size=rule.get("runoff_size", 2),
            invalid_station_share=Decimal(str(rule.get("invalid_station_share", 0.4))),
            seat_method=rule.get("method", "dhondt"),
            seats=rule.get("seats", 0),
            seat_scope=rule.get("seat_scope", "national"),
            threshold=Decimal(str(rule.get("threshold", 0))),
            threshold_scope=rule.get("threshold_scope", "national"),
            min_turnout=Decimal(str(rule.get("min_turnout", 0))),
            approval_quorum=Decimal(str(rule.get("approval_quorum", 0))),
            simulated=bool(s.get("simulated", False)),
            status=status,
        )
        install_schema(election, bundle.schema)

        units: dict[str, Unit] = {}
        for position, row in enumerate(bundle.units):
            parent = units[row.parent] if row.parent else None
            unit = Unit.objects.create(
                election=election,
                parent=parent,
                kind=row.kind,
                code=row.code,
                number=row.number,
                name=row.name,
                ocd_id=row.ocd_id,
                seats=row.seats,
                **row.translations,
                depth=parent.depth + 1 if parent else 0,
                position=position,
            )
            unit.path = f"{parent.path if parent else '/'}{unit.id}/"
            unit.save(update_fields=["path"])
            units[row.code] = unit

        stored = _store_stations(election, bundle, units, advance)
        station_ids = (
            dict(Station.objects.filter(election=election).values_list("code", "id"))
            if bundle.turnout or bundle.protocols
            else {}
        )
        Candidate.objects.bulk_create(
            Candidate(
                election=election,
                number=c.number,
                name=c.name,
                party=c.party,
                ballot_number=c.ballot_number,
                **c.translations,
                contest=c.contest,
            )
            for c in bundle.candidates
        )
        if bundle.schema.contests:
            # the schema knows its candidates' contests (sum(C.code)): none cached without them
            bump_schema_revision(election.pk)
            election.refresh_from_db(fields=["schema_revision"])
        now = timezone.now()
        _bulk(
            TurnoutReport,
            [
                TurnoutReport(
                    election=election,
                    station_id=station_ids[t.station],
                    time=t.time,
                    voters=t.voters,
                    received_at=now,
                )
                for t in bundle.turnout
            ],
            advance,
        )
        if election.status == ElectionStatus.OPEN:
            chain.election_status(election, ElectionStatus.SETUP, ElectionStatus.OPEN)
        chain.append_many(
            election,
            [
                drafts.TurnoutReported(election.slug, now, t.station, t.time, t.voters)
                for t in bundle.turnout
            ],
        )
        analyze(Unit, Station, TurnoutReport)
        store_accepted(
            election,
            bundle.protocols,
            station_ids,
            registered={s.code: s.registered for s in bundle.stations} if bundle.protocols else {},
            actor=None,
            source=ProtocolSource.IMPORT,
            reason="bulk import",
        )
        if advance:
            advance(len(bundle.protocols))
        actions.record_import(
            user,
            election,
            replaced=replaced,
            counts={
                "units": len(bundle.units),
                "stations": stored.stations,
                "registered": stored.registered,
                "candidates": len(bundle.candidates),
                "turnout": len(bundle.turnout),
                "protocols": len(bundle.protocols),
            },
            request=request,
        )
    return election


@dataclass
class _Stored:
    stations: int = 0
    registered: int = 0


def _store_stations(
    election: Election, bundle: Bundle, units: dict[str, Unit], advance: Advance | None
) -> _Stored:
    """Write the bundle's stations as plain rows (COPY on PostgreSQL), chunk by chunk: no
    model instance per station. Returns how many and their registered voters."""
    fields = [f for f in Station._meta.concrete_fields if not f.primary_key]
    defaults = Station(election=election)
    template = [getattr(defaults, f.attname) for f in fields]
    at = {f.attname: i for i, f in enumerate(fields)}
    given = [
        at[name]
        for name in (
            "unit_id",
            "code",
            "number",
            "name",
            "address",
            "registered",
            "latitude",
            "longitude",
            "abroad",
            "temporary",
            "webcam",
            "webcam_url",
            "ocd_id",
            "unit_path",
            "position",
        )
    ]
    stored = _Stored()
    step = django_settings.SECKI_BULK_BATCH

    def rows() -> Iterator[list[Any]]:
        for i, r in enumerate(bundle.stations):
            unit = units[r.unit]
            row = template.copy()
            for index, value in zip(
                given,
                (
                    unit.id,
                    r.code,
                    r.number,
                    r.name,
                    r.address,
                    r.registered,
                    r.latitude,
                    r.longitude,
                    r.abroad,
                    r.temporary,
                    r.webcam,
                    r.webcam_url,
                    r.ocd_id,
                    unit.path,
                    i,
                ),
                strict=True,
            ):
                row[index] = value
            for name, value in r.translations.items():
                row[at[name]] = value
            stored.stations += 1
            stored.registered += r.registered
            if advance and stored.stations % step == 0:
                advance(step)
            yield row

    write_rows(Station, [f.column for f in fields], rows())
    if advance and stored.stations % step:
        advance(stored.stations % step)
    return stored


def import_work(bundle: Bundle) -> int:
    """How many rows :func:`import_bundle` reports through ``advance`` (for a progress bar)."""
    return len(bundle.stations) + len(bundle.turnout) + len(bundle.protocols)


def export_bundle(election: Election, directory: Path) -> dict[str, int]:
    """Write the election as a bundle; returns rows written per file."""
    schema = election.protocol_schema()
    written: dict[str, int] = {}
    write_election(directory, election_settings(election))
    units = list(election.units.order_by("position"))
    stations = list(election.stations.order_by("position"))
    for name, (header, rows) in register_tables(election, units, stations).items():
        written[name] = write_table(directory / name, header, rows)
    candidates = written[CANDIDATES_FILE]
    code_of = {s.id: s.code for s in stations}
    position = {s.id: s.position for s in stations}
    times = {t: i for i, t in enumerate(election.turnout_times)}
    reports = sorted(
        TurnoutReport.objects.filter(election=election, is_current=True).values_list(
            "station_id", "time", "voters"
        ),
        key=lambda r: (position[r[0]], times.get(r[1], 99)),
    )
    written["turnout.csv"] = write_table(
        directory / "turnout.csv",
        TURNOUT_COLUMNS,
        ([code_of[sid], time, voters] for sid, time, voters in reports),
    )
    written["protocols.csv"] = write_table(
        directory / "protocols.csv",
        ["station", *schema.columns(candidates)],
        _protocol_rows(election, schema.columns(candidates), code_of, position),
    )
    return written


def _protocol_rows(
    election: Election, columns: list[str], code_of: dict[int, str], position: dict[int, int]
) -> Iterable[list[object]]:
    schema = election.protocol_schema()
    datetime_codes = {ln.code for ln in schema.datetime_lines}
    tz = election.tz
    protocols = {
        p.id: p
        for p in Protocol.objects.filter(election=election, is_current=True).exclude(
            status=ProtocolStatus.ANNULLED
        )
    }
    values: dict[int, dict[str, int]] = {pid: {} for pid in protocols}
    for pid, code, value in ProtocolValue.objects.filter(
        protocol__election=election, protocol__is_current=True
    ).values_list("protocol_id", "code", "value"):
        if pid in values:
            values[pid][code] = value
    for pid in sorted(protocols, key=lambda p: position[protocols[p].station_id]):
        p = protocols[pid]
        row: list[object] = [code_of[p.station_id]]
        for col in columns:
            if col in datetime_codes:
                row.append(p.completed_at.astimezone(tz).isoformat() if p.completed_at else None)
            else:
                row.append(values[pid].get(col))
        yield row
