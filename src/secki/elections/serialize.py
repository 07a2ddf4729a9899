"""The election as its bundle's ``election.json`` describes it (docs/formats.md): the API's
election answer, the bundle export and the bulk downloads all give this."""

from __future__ import annotations

from typing import Any

from secki.bundle import ELECTION_NAME_KEYS, FORMAT
from secki.elections.models import Election


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
        "win_rule": {
            "rule": election.win_rule,
            "base": election.majority_base,
            "runoff_size": election.runoff_size,
            "invalid_station_share": float(election.invalid_station_share),
        },
        "simulated": election.simulated,
        "protocol": election.protocol_schema().to_dict(),
    }
