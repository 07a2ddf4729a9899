"""Resolve path parameters to objects with a 404 that names what was not found."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.http import Http404, HttpRequest

from secki.accounts.access import hold_memberships, holds_memberships
from secki.accounts.models import hash_token
from secki.accounts.users import User
from secki.api import store
from secki.api.auth import bearer, token_user, touched, user_from_request
from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError

T = TypeVar("T")
#: the longest Idempotency-Key (secki.api.idempotency refuses a longer one)
KEY_MAX = 200


def election_or_404(slug: str) -> Election:
    election = store.election_by_slug(slug)
    if election is None:
        raise Http404(f"no election {slug!r}")
    return election


def election_station(
    slug: str, code: str, user: User | None = None
) -> tuple[Election, Lookup[Station]]:
    """The election (or 404) and the station a write names in it, with one statement (every
    API write looks both up); with ``user``, the same statement reads the caller's memberships
    in the election too, kept for this request's access checks
    (:func:`secki.accounts.access.hold_memberships`). The station is a :class:`Lookup`: its
    refusal, if any, is raised by the work that needs it, so that an Idempotency-Key stores it
    like any other answer."""
    account = user.pk if user is not None and holds_memberships(user) else None
    found = store.election_and_station(slug, code.strip(), account)
    if found is None:
        raise Http404(f"no election {slug!r}")
    election, station, held = found
    if account is not None:
        hold_memberships(user, election, held)
    return election, _looked_up(election, station, code)


def caller_election_station(
    request: HttpRequest, slug: str, code: str
) -> tuple[User, Election, Lookup[Station]]:
    """:func:`secki.api.auth.user_from_request` and :func:`election_station` for an API write:
    with a bearer token, the token, the election, the station and the caller's memberships
    are read with one statement (:func:`store.token_election_and_station`), the token touched
    as ``user_from_request`` touches it, and so is the caller's record of the request's
    ``Idempotency-Key`` if it sends one (PostgreSQL: kept on the request for
    :func:`secki.api.idempotency.respond`); otherwise by those two functions. As they do, an
    unknown election is a 404 whoever calls, and an unknown or revoked token a caller that
    every access check refuses."""
    raw = bearer(request)
    if raw is None or getattr(request, "_secki_user", None) is not None:
        user = user_from_request(request)
        election, named = election_station(slug, code, user)
        return user, election, named
    key = request.headers.get("Idempotency-Key", "").strip()
    read = store.token_election_and_station(
        hash_token(raw),
        slug,
        code.strip(),
        touch_before=touched(),
        idempotency_key=key if 0 < len(key) <= KEY_MAX else None,
    )
    user = token_user(request, read.token)
    if read.keyed:
        # the key's committed record (or its absence) as the same statement read it, for
        # secki.api.idempotency.respond
        request._secki_key_read = (key, read.stored)  # type: ignore[attr-defined]
    found = read.found
    if found is None:
        raise Http404(f"no election {slug!r}")
    election, station, held = found
    if holds_memberships(user):
        hold_memberships(user, election, held)
    return user, election, _looked_up(election, station, code)


def _looked_up(election: Election, station: Station | None, code: str) -> Lookup[Station]:
    if station is None:  # no such station in this election: say why
        return Lookup(None, _no_station(election, code.strip()))
    return Lookup(station, None)


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
