"""When preliminary results go public: the election's publication setting.

The commission decides when preliminary results start to be shown (``Election.publication``):
at once, once a share of the stations is counted (``publication_share``, 0-1), or from a given
instant (``publication_at``). Until then the public sees no figures from protocols: the public
tabulation is withheld (:func:`secki.results.tabulate.tabulation`), so the pages, the results
API and the outcome all show nothing counted. Officials who may see unpublished figures are not
affected. Turnout reports during the day are not results and stay public.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol as Typed

from django.utils import timezone

from secki.elections.models import Election, Publication


class Counted(Typed):
    """What the rule needs of the national totals (a ``Totals``)."""

    stations_reported: int
    stations_total: int


def time_reached(publication: str, publication_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a time-based setting lets results out at ``now`` (True for the other kinds,
    which the ledger head already keys)."""
    return publication != Publication.TIME or (publication_at is not None and now >= publication_at)


def instant(value: object) -> dt.datetime | None:
    """A datetime column as plain SQL gives it (SQLite: text, naive UTC)."""
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def row_released(
    publication: object, publication_at: object, now: dt.datetime | None = None
) -> bool:
    """:func:`time_reached` for an election row read by plain SQL (a page's ETag: a page
    cached before the instant is not reused after it)."""
    return time_reached(str(publication), instant(publication_at), now or timezone.now())


def results_public(election: Election, counted: Counted, now: dt.datetime | None = None) -> bool:
    """Whether the public may see preliminary results of ``election`` now, given the national
    ``counted`` totals (over published protocols)."""
    now = now or timezone.now()
    if election.publication == Publication.SHARE:
        total = counted.stations_total
        return (
            total > 0
            and Decimal(counted.stations_reported) >= Decimal(election.publication_share) * total
        )
    return time_reached(election.publication, election.publication_at, now)


def withheld_reason(election: Election) -> str:
    """Why the public sees no results yet (English; the pages translate their own)."""
    if election.publication == Publication.SHARE:
        return (
            f"preliminary results are shown once {Decimal(election.publication_share):.0%} "
            "of the stations are counted"
        )
    if election.publication == Publication.TIME and election.publication_at is not None:
        return f"preliminary results are shown from {election.publication_at.isoformat()}"
    return "no results yet"
