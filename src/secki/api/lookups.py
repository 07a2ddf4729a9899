"""Resolve path parameters to objects with a 404 that names what was not found."""

from __future__ import annotations

from django.http import Http404

from secki.elections.models import Election, Station, Unit


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
