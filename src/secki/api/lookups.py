"""Resolve path parameters to objects with a 404 that names what was not found."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.http import Http404

from secki.api import store
from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError

T = TypeVar("T")


def election_or_404(slug: str) -> Election:
    election = store.election_by_slug(slug)
    if election is None:
        raise Http404(f"no election {slug!r}")
    return election


def election_station(slug: str, code: str) -> tuple[Election, Lookup[Station]]:
    """The election (or 404) and the station a write names in it, with one statement (every
    API write looks both up). The station is a :class:`Lookup`: its refusal, if any, is raised
    by the work that needs it, so that an Idempotency-Key stores it like any other answer."""
    found = store.election_and_station(slug, code.strip())
    if found is None:
        raise Http404(f"no election {slug!r}")
    election, station = found
    if station is None:  # no such station in this election: say why
        return election, Lookup(None, _no_station(election, code.strip()))
    return election, Lookup(station, None)


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
    station = store.station_by_code(election, code)
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
    station = store.station_by_code(election, code) if code else None
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
