"""The registry's API, read-only: the elections on this server and an election's settings.

It lives in the API package, not in :mod:`secki.elections`, because it answers through the API's
lookups and schemas, which sit above the registry (the lookups read accounts' memberships)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from secki.api.lookups import election_or_404
from secki.api.schemas import Out, errors
from secki.elections.models import Election
from secki.elections.names import translations
from secki.elections.serialize import election_settings

router = Router(tags=["elections"])


class ElectionOut(Out):
    slug: str
    name: str
    #: the election's name in Azerbaijani and Russian, null when not given
    name_az: str | None
    name_ru: str | None
    kind: str
    date: str
    status: str
    simulated: bool


class WinRuleOut(Out):
    #: absolute_majority, plurality, proportional or referendum
    rule: str
    base: str
    runoff_size: int
    invalid_station_share: float
    #: proportional: dhondt, sainte_lague or hare
    method: str | None = None
    #: proportional, national allocation: the seats
    seats: int | None = None
    #: proportional: national or district (every unit with seats)
    seat_scope: str | None = None
    #: proportional: the share of the valid votes a list needs
    threshold: float | None = None
    threshold_scope: str | None = None
    #: referendum: the share of the registered voters 'yes' needs
    approval_quorum: float | None = None
    #: the election is invalid below this turnout
    min_turnout: float | None = None


class LineOut(Out):
    code: str
    label: str
    kind: str
    required: bool


class CheckOut(Out):
    code: str
    expression: str
    severity: str
    scope: str
    message: str
    workflow: str | None = None


class ProtocolSchemaOut(Out):
    name: str
    lines: list[LineOut]
    checks: list[CheckOut]
    #: role (``valid``, ``participants``, …) → its expression over line codes
    roles: dict[str, str]


class ElectionSettingsOut(Out):
    """The election's settings and protocol schema, as in the bundle's election.json."""

    format: str
    slug: str
    name: str
    #: the translated names, present only when given (as in election.json)
    name_az: str | None = None
    name_ru: str | None = None
    kind: str
    country: str
    date: str
    timezone: str
    polls_open: str
    polls_close: str
    turnout_times: list[str]
    win_rule: WinRuleOut
    simulated: bool
    protocol: ProtocolSchemaOut


# operation ids as the API published them while this router lived in secki.elections.api
@router.get("", response=list[ElectionOut], operation_id="secki_elections_api_elections")
def elections(request: HttpRequest) -> list[dict[str, Any]]:
    """Every election on this server."""
    return [
        {
            "slug": e.slug,
            "name": e.name,
            **translations(e),
            "kind": e.kind,
            "date": e.date.isoformat(),
            "status": e.status,
            "simulated": e.simulated,
        }
        for e in Election.objects.all()
    ]


@router.get(
    "/{slug}",
    response={200: ElectionSettingsOut, **errors(404)},
    operation_id="secki_elections_api_election",
)
def election(request: HttpRequest, slug: str) -> dict[str, Any]:
    """An election's settings and protocol schema, as in the bundle's election.json."""
    return election_settings(election_or_404(slug))
