"""The demo's replay: national turnout at each report time, with stations reporting, equals
what the simulated turnout.csv says."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from secki.bundle.read import read_bundle
from secki.demo.replay import replay
from secki.intake.bundle_io import import_bundle
from secki.results.turnout import turnout_summary
from secki.simulator import SimulationConfig, simulate, write_bundle

pytestmark = pytest.mark.django_db


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_replayed_turnout_matches_the_simulated_files(
    tmp_path: Path, django_user_model: Any
) -> None:
    directory = tmp_path / "bundle"
    write_bundle(simulate(SimulationConfig(seed=11, stations=150)), directory)
    bundle = read_bundle(directory)
    election = import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))
    actor = django_user_model.objects.create_superuser("replay", "replay@example.org", "pw")

    stats = replay(bundle, election, actor, speed=0)
    assert stats.refused == 0 and stats.turnout == len(bundle.turnout)

    registered = {r["code"]: int(r["registered"]) for r in read_csv(directory / "stations.csv")}
    voters: dict[str, int] = defaultdict(int)
    reg: dict[str, int] = defaultdict(int)
    stations: dict[str, int] = defaultdict(int)
    for row in read_csv(directory / "turnout.csv"):
        voters[row["time"]] += int(row["voters"])
        reg[row["time"]] += registered[row["station"]]
        stations[row["time"]] += 1
    summary = turnout_summary(election, public=False)
    assert summary["times"] == ["10:00", "12:00", "15:00", "17:00", "19:00"]
    assert summary["stations_total"] == len(registered) == 150
    for figures in summary["reports"]:
        t = figures["time"]
        assert figures["voters"] == voters[t]
        assert figures["registered_reporting"] == reg[t]
        assert figures["stations_reporting"] == stations[t]
        assert figures["stations_total"] == 150
        assert figures["turnout"] == round(100 * voters[t] / reg[t], 2)
        assert figures["late"] == 0  # each report arrived within 15 minutes of its time
    # some stations missed an early report, so the counts differ between times
    assert stations["10:00"] < 150 == stations["19:00"]
    # beside it, the final turnout of the protocols (L5 + L6 over their stations' register)
    protocols = read_csv(directory / "protocols.csv")
    participants = sum(int(p["L5"]) + int(p["L6"]) for p in protocols)
    assert summary["final"]["participants"] == participants
    assert summary["final"]["stations_reporting"] == len(protocols)
    assert summary["final"]["turnout"] == round(
        100 * participants / sum(registered[p["station"]] for p in protocols), 2
    )


def test_replayed_protocols_are_stamped_with_the_simulated_time(
    tmp_path: Path, django_user_model: Any
) -> None:
    """A 2024 election's receipts say 2024 (the schedule's time), not the day of the demo:
    the protocol's receipt, its events and its log entry alike."""
    from secki.demo.replay import schedule
    from secki.ledger.models import LedgerEntry
    from secki.protocols.models import Protocol, ProtocolEvent

    directory = tmp_path / "bundle"
    write_bundle(simulate(SimulationConfig(seed=5, stations=20)), directory)
    bundle = read_bundle(directory)
    election = import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))
    actor = django_user_model.objects.create_superuser("replay", "replay@example.org", "pw")
    stats = replay(bundle, election, actor, speed=0)
    assert stats.refused == 0 and stats.protocols == len(bundle.protocols) > 0
    due = {e.station: e.at for e in schedule(bundle, election) if e.kind == "protocol"}
    for protocol in Protocol.objects.filter(election=election).select_related("station"):
        assert protocol.received_at == due[protocol.station.code]
        assert protocol.received_at.date() == election.date
        events = ProtocolEvent.objects.filter(protocol=protocol)
        assert {e.at for e in events} == {due[protocol.station.code]}
    bodies = [json.loads(e.body) for e in LedgerEntry.objects.filter(election=election)]
    stamps = [b["accepted_at"] for b in bodies if b["kind"] == "protocol.accepted"]
    assert stamps and all(s.startswith(str(election.date.year)) for s in stamps)
