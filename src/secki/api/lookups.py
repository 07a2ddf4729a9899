"""Resolve path parameters to objects with a 404 that names what was not found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.http import Http404

from secki import rawsql
from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError

T = TypeVar("T")


def election_or_404(slug: str) -> Election:
    election = rawsql.fetch_one(Election, "t.slug = %s", [slug])
    if election is None:
        raise Http404(f"no election {slug!r}")
    return election


def _station(election: Election, code: str) -> Station | None:
    """The election's station with this code, its unit and election attached (plain SQL:
    every API write looks one up)."""
    scols, ucols = rawsql.columns(Station), rawsql.columns(Unit)
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {scols.select('s')}, {ucols.select('u')} FROM {scols.table} s "  # noqa: S608 - model metadata
            f"JOIN {ucols.table} u ON u.id = s.unit_id WHERE s.election_id = %s AND s.code = %s",
            [election.pk, code],
        )
        row = cursor.fetchone()
    return None if row is None else _built_station(row, 0, election)


def _built_station(row: Sequence[Any], start: int, election: Election) -> Station:
    """The station (its unit and election attached) from ``row[start:]``: station columns,
    then unit columns."""
    scols, ucols = rawsql.columns(Station), rawsql.columns(Unit)
    station: Station = scols.build(row, start)
    station.unit = ucols.build(row, start + len(scols))
    station.election = election
    return station


def election_station(slug: str, code: str) -> tuple[Election, Lookup[Station]]:
    """The election (or 404) and the station a write names in it, with one statement (every
    API write looks both up). The station is a :class:`Lookup`: its refusal, if any, is raised
    by the work that needs it, so that an Idempotency-Key stores it like any other answer."""
    ecols, scols, ucols = (rawsql.columns(m) for m in (Election, Station, Unit))
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {ecols.select('e')}, {scols.select('s')}, {ucols.select('u')} "  # noqa: S608 - model metadata
            f"FROM {ecols.table} e LEFT JOIN {scols.table} s "
            "ON s.election_id = e.id AND s.code = %s "
            f"LEFT JOIN {ucols.table} u ON u.id = s.unit_id WHERE e.slug = %s",
            [code.strip(), slug],
        )
        row = cursor.fetchone()
    if row is None:
        raise Http404(f"no election {slug!r}")
    election: Election = ecols.build(row)
    if row[len(ecols)] is None:  # no such station in this election: say why
        return election, Lookup(None, _no_station(election, code.strip()))
    return election, Lookup(_built_station(row, len(ecols), election), None)


def station_lock(station: Lookup[Station]) -> list[tuple[type[Station], int]]:
    """The row a write to this station will lock (for :func:`secki.groupcommit.run`)."""
    found = station.found
    return [] if found is None else [(Station, found.pk)]


class Lookup(Generic[T]):
    """A read done before the work (outside its transaction): the value, or the refusal the
    work raises in turn when it needs the value."""

    def __init__(self, value: T | None, error: IntakeError | None) -> None:
        self._value, self._error = value, error

    def get(self) -> T:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    @property
    def found(self) -> T | None:
        return self._value


def station_or_404(election: Election, code: str) -> Station:
    station = _station(election, code)
    if station is None:
        raise Http404(f"no station {code!r} in {election.slug}")
    return station


def unit_or_404(election: Election, code: str) -> Unit:
    unit = Unit.objects.filter(election=election, code=code).first()
    if unit is None:
        raise Http404(f"no unit {code!r} in {election.slug}")
    return unit


def station_in(election: Election, code: str) -> Station:
    """The station a form or a request body names, or an IntakeError that says what is wrong
    with the code (missing, another election's, unknown)."""
    code = code.strip()
    station = _station(election, code) if code else None
    if station is None:
        raise _no_station(election, code)
    return station


def _no_station(election: Election, code: str) -> IntakeError:
    """Why ``code`` (stripped) names no station of ``election``: missing, another election's,
    unknown."""
    if not code:
        return IntakeError(
            "missing_station", "choose a polling station", status=400, field="station"
        )
    elsewhere = (
        Station.objects.filter(code=code)
        .exclude(election=election)
        .select_related("election")
        .first()
    )
    if elsewhere is not None:
        return IntakeError(
            "other_election",
            f"station {code!r} belongs to election {elsewhere.election.slug}, not {election.slug}",
            field="station",
        )
    return IntakeError(
        "unknown_station", f"no station {code!r} in {election.slug}", field="station"
    )
