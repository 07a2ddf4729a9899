"""Turnout report actions: report and correct, with role/territory checks and the ledger.

One validation (:func:`check_report`) serves every intake channel: the operator's form, the
API, the bulk file and the demo replay. A report is refused with a stable code:

``invalid_value`` / ``negative_value``  voters is not a whole number ≥ 0
``value_too_large``                     voters is not below the technical limit of a count
``invalid_text`` / ``reason_too_long``  the reason holds NUL or is over 500 characters
``other_election``                      the station belongs to another election
``election_closed``                     the election takes no more intake
``unknown_time``                        the time is not one of the election's report times
``above_registered``                    more than registered voters plus the allowance
``decreasing``                          below an earlier report, or above a later one
``duplicate``                           the same number again for the same time
``reason_required``                     a different number for a reported time (a correction)
                                        without a reason
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki.accounts.access import AccessDenied, Permission, authorize
from secki.accounts.users import User, account_of
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.inputs import REASON_MAX, clean_text, count_in_range
from secki.ledger import chain, drafts
from secki.protocol_schema.schema import MAX_COUNT
from secki.turnout import store
from secki.turnout.models import TurnoutReport

#: the last report time of the day is late this long after polls close (or after the time
#: itself, when the last report time is after polls close)
LAST_REPORT_GRACE = dt.timedelta(hours=1)
_DIGITS = re.compile(r"-?[0-9]+")
_NOT_INTEGER = gettext_noop("voters: %(value)s is not an integer")
_NEGATIVE = gettext_noop("voters: %(value)s is negative")


def parse_voters(raw: Any) -> int:
    """A whole number from a form field, a CSV cell or JSON (``"431"``, ``431``), below the
    technical limit of every count."""
    shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:40] + "…"
    if isinstance(raw, bool):
        raise IntakeError("invalid_value", _NOT_INTEGER, params={"value": shown}, field="voters")
    if isinstance(raw, str):
        text = raw.strip()
        if not _DIGITS.fullmatch(text):
            raise IntakeError(
                "invalid_value",
                gettext_noop("voters: %(value)s is not a whole number"),
                params={"value": shown},
                field="voters",
            )
        if len(text.lstrip("-0")) > 12:  # far above any limit: not worth converting
            if text.startswith("-"):
                raise IntakeError(
                    "negative_value", _NEGATIVE, params={"value": shown}, field="voters"
                )
            return count_in_range("voters", MAX_COUNT, shown=shown)
        raw = int(text)
    if isinstance(raw, float) and raw.is_integer():  # JSON: 431.0 is the integer 431
        return count_in_range("voters", int(raw), shown=shown)
    if not isinstance(raw, int):
        raise IntakeError("invalid_value", _NOT_INTEGER, params={"value": shown}, field="voters")
    if raw < 0:
        raise IntakeError("negative_value", _NEGATIVE, params={"value": raw}, field="voters")
    return count_in_range("voters", raw)


def ceiling(election: Election, station: Station) -> int:
    """Registered voters plus the additional-list allowance."""
    return int(station.registered * (1 + float(election.turnout_allowance)))


def deadline(election: Election, time: str) -> dt.datetime:
    """When a report for ``time`` becomes late: at the next report time; the last report
    time of the day is late :data:`LAST_REPORT_GRACE` after polls close."""
    times = list(election.turnout_times)
    index = times.index(time)
    if index + 1 < len(times):
        return dt.datetime.combine(
            election.date, dt.time.fromisoformat(times[index + 1]), tzinfo=election.tz
        )
    last = max(dt.time.fromisoformat(time), election.polls_close)
    return dt.datetime.combine(election.date, last, tzinfo=election.tz) + LAST_REPORT_GRACE


def is_late(election: Election, time: str, received_at: dt.datetime) -> bool:
    """Late = received after :func:`deadline` (accepted all the same, and marked)."""
    return received_at > deadline(election, time)


def check_report(
    election: Election,
    station: Station,
    time: str,
    voters: int,
    current: Mapping[str, int],
    *,
    reason: str = "",
) -> bool:
    """Validate one report against the station's current reports (``time → voters``).

    Returns True when the report is a correction (the time already has a report). Raises
    :class:`IntakeError` with one of the codes listed in the module docstring.
    """
    check_static(election, station, time, voters)
    reason = clean_text("reason", reason, REASON_MAX)
    times = list(election.turnout_times)
    index = times.index(time)
    for other_time, other in current.items():
        if other_time not in times:  # a report time since removed from the election
            continue
        other_index = times.index(other_time)
        if other_index < index and other > voters:
            raise IntakeError(
                "decreasing",
                gettext_noop(
                    "voters: %(voters)s at %(time)s is below the %(other)s already reported at "
                    "%(other_time)s; turnout is cumulative"
                ),
                params={"voters": voters, "time": time, "other": other, "other_time": other_time},
                field="voters",
            )
        if other_index > index and other < voters:
            raise IntakeError(
                "decreasing",
                gettext_noop(
                    "voters: %(voters)s at %(time)s is above the %(other)s already reported at "
                    "the later time %(other_time)s"
                ),
                params={"voters": voters, "time": time, "other": other, "other_time": other_time},
                field="voters",
            )
    previous = current.get(time)
    if previous is None:
        return False
    if previous == voters:
        raise IntakeError(
            "duplicate",
            gettext_noop("station %(station)s already reported %(voters)s at %(time)s"),
            params={"station": station.code, "voters": voters, "time": time},
            status=409,
        )
    if not reason:
        raise IntakeError(
            "reason_required",
            gettext_noop(
                "station %(station)s already reported %(voters)s at %(time)s; "
                "a correction needs a reason"
            ),
            params={"station": station.code, "voters": previous, "time": time},
            field="reason",
            status=409,
        )
    return True


def check_static(election: Election, station: Station, time: str, voters: int) -> None:
    """The checks that do not depend on the station's other reports."""
    if station.election_id != election.id:
        raise IntakeError(
            "other_election",
            gettext_noop("station %(station)s belongs to another election"),
            params={"station": station.code},
            field="station",
        )
    if election.status != ElectionStatus.OPEN:
        raise IntakeError(
            "election_closed",
            gettext_noop("%(election)s is not open"),
            params={"election": election.slug},
            status=409,
        )
    if time not in election.turnout_times:
        raise IntakeError(
            "unknown_time",
            gettext_noop("%(time)s is not one of the report times %(times)s"),
            params={"time": repr(time), "times": ", ".join(election.turnout_times)},
            field="time",
        )
    count_in_range("voters", voters)
    limit = ceiling(election, station)
    if voters > limit:
        raise IntakeError(
            "above_registered",
            gettext_noop(
                "voters: %(voters)s exceeds the %(registered)s registered voters plus the "
                "%(allowance)s additional-list allowance (%(limit)s)"
            ),
            params={
                "voters": voters,
                "registered": station.registered,
                "allowance": f"{float(election.turnout_allowance):.0%}",
                "limit": limit,
            },
            field="voters",
        )


def ledger_draft(
    election: Election, report: TurnoutReport, station_code: str, corrected: bool
) -> drafts.TurnoutReported:
    """The log entry of a stored report: ``turnout.reported``, a correction with its reason
    (its version and the report it replaces come from the log when it is written)."""
    return drafts.TurnoutReported(
        election.slug,
        report.received_at,
        station_code,
        report.time,
        report.voters,
        reason=report.reason if corrected else None,
    )


def batchable(election: Election) -> bool:
    """Whether :func:`report_turnout` may share its transaction with other requests
    (:mod:`secki.groupcommit`): it writes nothing before its last refusal."""
    return True


def report_turnout(
    election: Election,
    station: Station,
    time: str,
    voters: int,
    *,
    actor: User | None,
    source: str = "api",
    reason: str = "",
    received_at: dt.datetime | None = None,
) -> TurnoutReport:
    """Record (or correct, with a reason) a station's cumulative turnout at a report time."""
    authorize(actor, election, Permission.REPORT_TURNOUT, station)
    check_static(election, station, time, voters)
    received = received_at or timezone.now()
    refusal: IntakeError | AccessDenied | None = None
    # Nothing is written before the last refusal, so no savepoint is needed when this runs
    # inside another transaction (the API's Idempotency-Key record): a refusal is raised after
    # the block has closed cleanly.
    with transaction.atomic(savepoint=False):
        current = store.lock_station(station.pk)
        previous = current.get(time)
        try:
            if previous is not None and previous.voters != voters:
                authorize(actor, election, Permission.CORRECT_TURNOUT, station)
            corrected = check_report(
                election,
                station,
                time,
                voters,
                {t: r.voters for t, r in current.items()},
                reason=reason,
            )
        except (IntakeError, AccessDenied) as exc:
            refusal = exc
        else:
            if previous is not None:
                TurnoutReport.objects.filter(pk=previous.id).update(is_current=False)
            report = store.insert_report(
                election=election,
                station=station,
                time=time,
                voters=voters,
                version=previous.version + 1 if previous else 1,
                is_current=True,
                received_at=received,
                late=is_late(election, time, received),
                source=source,
                reason=reason.strip() if corrected else "",
                created_by=account_of(actor),
            )
            chain.record(election, ledger_draft(election, report, station.code, corrected))
    if refusal is not None:
        raise refusal
    return report
