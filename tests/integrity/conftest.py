"""Integrity tests: simulated elections imported through the real bundle import, shared by
the tests of one module inside one transaction that is rolled back at the module's end (the
import of a few thousand stations is the slow part; every test still runs in its own
savepoint)."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.simulator import SimulationConfig, simulate, write_bundle
from secki.simulator.model import SimulatedElection
from tests.personas import Persona, make_personas


@pytest.fixture(autouse=True)
def integrity_settings(settings: Any) -> None:
    """Compute in the request (no worker thread) with few replicates: the tests need the
    numbers, not their Monte-Carlo precision."""
    settings.SECKI_INTEGRITY_BACKGROUND = False
    settings.SECKI_INTEGRITY_REPLICATES = 200
    settings.SECKI_INTEGRITY_FIT_BOOTSTRAP = 4
    settings.SECKI_INTEGRITY_DIGIT_BOOTSTRAP = 200


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    """Per-process caches are keyed by the ledger head, which a rolled-back test reuses."""
    from secki.integrity import analysis
    from secki.results import anomalies, tabulate
    from secki.results import turnout as aggregate

    analysis.clear_cache()
    for cache in (aggregate._cache, anomalies._cache, tabulate._cache):
        cache.clear()


@dataclass
class Imported:
    election: Election
    sim: SimulatedElection
    directory: Path
    people: dict[str, Persona]

    def truth(self) -> dict[str, dict[str, str]]:
        with (self.directory / "truth.csv").open() as handle:
            return {row["station"]: row for row in csv.DictReader(handle)}

    def station_units(self) -> dict[str, str]:
        with (self.directory / "stations.csv").open() as handle:
            return {row["code"]: row["unit"] for row in csv.DictReader(handle)}


def import_simulated(
    directory: Path, config: SimulationConfig, *, protocols: bool = True
) -> Imported:
    sim = simulate(config)
    write_bundle(sim, directory)
    bundle = read_bundle(directory)
    if not protocols:
        bundle = dataclasses.replace(bundle, protocols=[])
    election = import_bundle(bundle)
    return Imported(election, sim, directory, make_personas(election))


@contextmanager
def module_transaction(blocker: Any) -> Iterator[None]:
    """Data created inside lives until the module's tests are done, then is rolled back
    (pytest-django's per-test transactions nest inside as savepoints)."""
    with blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)
