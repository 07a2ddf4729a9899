"""The election as its bundle's ``election.json`` describes it (docs/formats.md): the API's
election answer, the bundle export and the bulk downloads all give this."""

from __future__ import annotations

from typing import Any

from secki.bundle import ELECTION_NAME_KEYS, FORMAT
from secki.elections.models import Election


def win_rule(election: Election) -> dict[str, Any]:
    """The ``win_rule`` object; the keys of the proportional and referendum rules and the
    minimum turnout appear only where they apply, so that older bundles keep their bytes."""
    rule: dict[str, Any] = {
        "rule": election.win_rule,
        "base": election.majority_base,
        "runoff_size": election.runoff_size,
        "invalid_station_share": float(election.invalid_station_share),
    }
    if election.win_rule == "proportional":
        rule["method"] = election.seat_method
        rule["seats"] = election.seats
        rule["seat_scope"] = election.seat_scope
        rule["threshold"] = float(election.threshold)
        rule["threshold_scope"] = election.threshold_scope
    if election.win_rule == "referendum":
        rule["approval_quorum"] = float(election.approval_quorum)
    if election.min_turnout:
        rule["min_turnout"] = float(election.min_turnout)
    return rule


def election_settings(election: Election) -> dict[str, Any]:
    """The settings; the translated names (``name_az``, ``name_ru``) follow ``name`` when the
    election has them, so a bundle without them keeps its bytes."""
    names = {key: getattr(election, key) for key in ELECTION_NAME_KEYS if getattr(election, key)}
    return {
        "format": FORMAT,
        "slug": election.slug,
        "name": election.name,
        **names,
        "kind": election.kind,
        "country": election.country,
        "date": election.date.isoformat(),
        "timezone": election.timezone,
        "polls_open": election.polls_open.strftime("%H:%M"),
        "polls_close": election.polls_close.strftime("%H:%M"),
        "turnout_times": list(election.turnout_times),
        "win_rule": win_rule(election),
        "simulated": election.simulated,
        "protocol": election.protocol_schema().to_dict(),
    }
