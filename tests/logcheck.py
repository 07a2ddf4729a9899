"""Checks of an election's public log in the database (issue 14): its entries are valid
(spec §5.3), and the totals rule over them (§5.4) gives exactly the public tabulation."""

from __future__ import annotations

import json
from typing import Any

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.protocols.models import Protocol, ProtocolStatus, ProtocolValue
from secki.results.tabulate import Tabulation
from secki.tlog import entries
from secki.tlog.merkle import leaf_hash
from secki.turnout.models import TurnoutReport


def log_of(election: Election) -> list[bytes]:
    """The election's leaves in index order (indexes 0, 1, 2 … and leaf hashes checked)."""
    rows = list(
        LedgerEntry.objects.filter(election=election)
        .order_by("index")
        .values_list("index", "body", "leaf_hash")
    )
    assert [index for index, _, _ in rows] == list(range(len(rows))), "a gap in the indexes"
    for index, body, digest in rows:
        assert leaf_hash(body.encode()).hex() == digest, f"entry {index}: leaf_hash"
    return [body.encode() for _, body, _ in rows]


def bodies(election: Election, kind: str | None = None) -> list[dict[str, Any]]:
    """The election's entries as JSON objects, in index order (only those whose kind starts
    with ``kind``)."""
    query = LedgerEntry.objects.filter(election=election).order_by("index")
    if kind is not None:
        query = query.filter(kind__startswith=kind)
    return [json.loads(body) for body in query.values_list("body", flat=True)]


def check_log(election: Election, *, turnout: bool = True) -> entries.Tally:
    """Assert that the election's log is valid and that its tally equals the public
    tabulation (national lines, stations reported, every station's lines) and (``turnout``)
    the current turnout reports; returns it."""
    leaves = log_of(election)
    invalid = entries.first_invalid(leaves)
    assert invalid is None, str(invalid)
    tally = entries.tally(leaves, election.slug)
    national = Tabulation(election, public=True).result().totals
    assert tally.totals == dict(sorted(national.lines.items()))
    assert tally.stations_counted == national.stations_reported
    published: dict[str, dict[str, int]] = {}
    current = Protocol.objects.filter(
        election=election, is_current=True, status=ProtocolStatus.PUBLISHED
    )
    for code, line, value in ProtocolValue.objects.filter(protocol__in=current).values_list(
        "protocol__station__code", "code", "value"
    ):
        published.setdefault(code, {})[line] = value
    assert tally.stations == dict(sorted(published.items()))
    if turnout:
        reports: dict[str, dict[str, int]] = {}
        for code, time, voters in TurnoutReport.objects.filter(
            election=election, is_current=True
        ).values_list("station__code", "time", "voters"):
            reports.setdefault(code, {})[time] = voters
        assert tally.turnout == reports
    return tally
