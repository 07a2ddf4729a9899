"""Models and migrations agree: a model change without its migration fails here. The hash
chain's rows become the entries of each election's log (ledger 0002-0004)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from secki.elections.models import Election
from secki.ledger import chain
from secki.ledger.models import LedgerEntry
from secki.protocols.models import Protocol, ProtocolScan, ProtocolValue
from secki.turnout.models import TurnoutReport


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


# -- the hash chain becomes each election's log (ledger 0002-0004) ------------------------------

OLD = [("ledger", "0001_initial"), ("protocols", "0006_legal_record_foreign_keys")]
GENESIS = "0" * 64
SCAN = "5c" * 32


def _old_chain(apps: Any, rows: list[tuple[Election | None, str, dict[str, Any]]]) -> str:
    """The rows as the hash chain wrote them (body = canonical JSON of seq, at, kind,
    election, payload; hash = SHA-256 of the previous hash, a newline and the body)."""
    entry_model = apps.get_model("ledger", "LedgerEntry")
    prev = GENESIS
    at = dt.datetime(2024, 2, 7, 19, 0, tzinfo=dt.UTC)
    for seq, (election, kind, payload) in enumerate(rows, start=1):
        moment = at + dt.timedelta(minutes=seq)
        body = json.dumps(
            {
                "seq": seq,
                "at": moment.isoformat(),
                "kind": kind,
                "election": election.slug if election else None,
                "payload": payload,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()
        entry_model.objects.create(
            seq=seq,
            election_id=election.pk if election else None,
            at=moment,
            kind=kind,
            body=body,
            prev_hash=prev,
            hash=digest,
        )
        prev = digest
    return prev


def _protocol(
    election: Election, code: str, version: int, status: str, current: bool, **lines: int
) -> Protocol:
    protocol = Protocol.objects.create(
        election=election,
        station=election.stations.get(code=code),
        version=version,
        is_current=current,
        status=status,
        source="api",
        received_at=timezone.now(),
    )
    values = {"L1": 1000, "L2": 3, "C1": 500, "C2": 100, "C3": 20, **lines}
    ProtocolValue.objects.bulk_create(
        ProtocolValue(protocol=protocol, code=k, value=v) for k, v in values.items()
    )
    return protocol


def _report(election: Election, code: str, voters: int, version: int, current: bool) -> None:
    TurnoutReport.objects.create(
        election=election,
        station=election.stations.get(code=code),
        time="10:00",
        voters=voters,
        version=version,
        is_current=current,
        received_at=timezone.now(),
    )


@pytest.mark.django_db(transaction=True)
def test_the_hash_chain_becomes_each_elections_log(tmp_path: Path) -> None:
    from tests.logcheck import bodies, check_log
    from tests.turnout.conftest import load_register

    election = load_register(tmp_path / "a")
    other = load_register(tmp_path / "b", slug="otherland-2024")
    LedgerEntry.objects.all().delete()  # the imports' entries: this log starts as a chain
    # the database as the old code left it (these tables do not change in the migration)
    _protocol(election, "1-1", 1, "published", False)
    _protocol(election, "1-1", 2, "published", True, L2=7)
    v12 = _protocol(election, "1-2", 1, "published", True, C1=450)
    _protocol(election, "2-1", 1, "published", False, C1=80)
    _protocol(election, "2-1", 2, "annulled", False, C1=80)
    Protocol.objects.filter(station__code="2-1", version=2).update(is_current=True)
    _protocol(other, "1-1", 1, "published", True, C2=111)
    _report(election, "1-1", 150, 1, False)
    _report(election, "1-1", 160, 2, True)
    _report(other, "1-2", 80, 1, True)

    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    try:
        apps = executor.loader.project_state(OLD).apps

        def published(code: str, version: int, status: str = "published") -> dict[str, Any]:
            return {"station": code, "version": version, "status": status, "values_sha256": "0"}

        head = _old_chain(
            apps,
            [
                (None, "election.imported", {"slug": "gone"}),
                (election, "election.status", {"from": "setup", "to": "open", "reason": ""}),
                (election, "protocol.accepted", published("1-1", 1)),
                (
                    election,
                    "turnout.reported",
                    {"station": "1-1", "time": "10:00", "voters": 150, "version": 1, "late": False},
                ),
                (other, "protocol.accepted", published("1-1", 1)),
                (election, "protocol.accepted", published("1-2", 1, "accepted")),
                (
                    election,
                    "scan.uploaded",
                    {
                        "station": "1-2",
                        "version": 1,
                        "scan": 1,
                        "sha256": SCAN,
                        "size": 10,
                        "content_type": "application/pdf",
                    },
                ),
                (election, "protocol.published", published("1-2", 1)),
                (
                    election,
                    "protocol.amended",
                    {**published("1-1", 2), "previous_version": 1, "reason": "line 2 misread"},
                ),
                (
                    election,
                    "turnout.corrected",
                    {
                        "station": "1-1",
                        "time": "10:00",
                        "voters": 160,
                        "version": 2,
                        "late": False,
                        "reason": "typo",
                    },
                ),
                (
                    other,
                    "turnout.reported",
                    {"station": "1-2", "time": "10:00", "voters": 80, "version": 1, "late": True},
                ),
                (election, "protocol.accepted", published("2-1", 1)),
                (
                    election,
                    "protocol.annulled",
                    {
                        **published("2-1", 2, "annulled"),
                        "decision": "CEC 4/1",
                        "reason": "stuffing",
                    },
                ),
                (election, "election.settings", {"changes": {"double_entry": True, "share": 0.4}}),
            ],
        )
        apps.get_model("protocols", "ProtocolScan").objects.create(
            election_id=election.pk,
            station_id=v12.station_id,
            protocol_id=v12.pk,
            number=1,
            file="scans/x.pdf",
            sha256=SCAN,
            size=10,
            content_type="application/pdf",
            source="api",
            uploaded_at=timezone.now(),
            ledger_id=apps.get_model("ledger", "LedgerEntry").objects.get(seq=7).pk,
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    logged = bodies(election)
    assert [b["kind"] for b in logged] == [
        "chain.anchor",
        "election.status",
        "protocol.accepted",
        "turnout.reported",
        "protocol.status",
        "scan.uploaded",
        "protocol.accepted",
        "protocol.amended",
        "turnout.reported",
        "protocol.accepted",
        "protocol.annulled",
        "election.settings",
    ]
    assert [b["kind"] for b in bodies(other)] == [
        "chain.anchor",
        "protocol.accepted",
        "turnout.reported",
    ]
    # entry 0 binds the old chain (its last row, the dropped global one included)
    anchor = logged[0]
    assert (anchor["seq"], anchor["head"]) == (14, head)
    assert bodies(other)[0]["head"] == head
    # seq renumbered in the old order, each anchor before its election's first row
    assert list(LedgerEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 16)
    )
    assert LedgerEntry.objects.get(election=other, index=0).seq == 5
    # the entries the new code writes, line values from the protocols' rows
    accepted, amended = logged[2], logged[7]
    assert accepted["lines"] == {"L1": 1000, "L2": 3, "C1": 500, "C2": 100, "C3": 20}
    assert amended["lines"]["L2"] == 7 and amended["reason"] == "line 2 misread"
    first = LedgerEntry.objects.get(election=election, index=2)
    assert amended["prev"] == {"index": 2, "leaf_hash": first.leaf_hash}
    assert logged[4]["status"] == "accepted" and "lines" not in logged[4]
    assert logged[6]["scan_sha256"] == SCAN and logged[6]["lines"]["C1"] == 450
    assert (logged[8]["version"], logged[8]["prev"]["index"], logged[8]["reason"]) == (2, 3, "typo")
    assert (logged[10]["decision"], logged[10]["prev"]["index"]) == ("CEC 4/1", 9)
    assert logged[11]["changes"] == {"double_entry": "true", "share": "0.4"}
    assert logged[1]["at"] == "2024-02-07T19:02:00Z"
    # the scan still names its entry
    scan = ProtocolScan.objects.get()
    assert scan.ledger.kind == "scan.uploaded" and scan.ledger.index == 5
    # valid logs whose tallies are the public tabulation and turnout
    check_log(election)
    check_log(other)
    assert chain.verify().ok
