"""Resolve path parameters to objects with a 404 that names what was not found."""

from __future__ import annotations

from django.http import Http404

from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError


def election_or_404(slug: str) -> Election:
    election = Election.objects.filter(slug=slug).first()
    if election is None:
        raise Http404(f"no election {slug!r}")
    return election


def station_or_404(election: Election, code: str) -> Station:
    station = Station.objects.filter(election=election, code=code).select_related("unit").first()
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
    if not code:
        raise IntakeError(
            "missing_station", "choose a polling station", status=400, field="station"
        )
    station = Station.objects.filter(election=election, code=code).select_related("unit").first()
    if station is not None:
        return station
    elsewhere = (
        Station.objects.filter(code=code)
        .exclude(election=election)
        .select_related("election")
        .first()
    )
    if elsewhere is not None:
        raise IntakeError(
            "other_election",
            f"station {code!r} belongs to election {elsewhere.election.slug}, not {election.slug}",
            field="station",
        )
    raise IntakeError("unknown_station", f"no station {code!r} in {election.slug}", field="station")
