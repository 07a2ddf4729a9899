"""Personas and a small election whose register is loaded but nobody has reported yet.

Testland (tests/factories.py): constituency 1 "North" with stations 1-1 (1,000 registered)
and 1-2 (800), constituency 2 "South" with 2-1 (1,200) and 2-2 (300); report times 10:00,
12:00, 15:00, 17:00, 19:00; polls close 19:00 (Asia/Baku).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secki.accounts.models import ApiToken, Membership, Role
from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station, Unit
from secki.intake.bundle_io import import_bundle
from secki.ledger.models import LedgerEntry
from secki.turnout.models import TurnoutReport
from tests.factories import write_small_bundle


def load_register(directory: Path, **overrides: Any) -> Election:
    bundle = read_bundle(write_small_bundle(directory, **overrides))
    return import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load_register(tmp_path / "bundle")


@dataclass
class People:
    cec: Any  # CEC administrator, whole election
    north: Any  # constituency operator of constituency 1
    clerk: Any  # station operator of 1-1
    observer: Any
    outsider: Any  # logged in, no role


@pytest.fixture
def people(election: Election, django_user_model: Any) -> People:
    def user(
        name: str, role: str | None, unit: Unit | None = None, station: Station | None = None
    ) -> Any:
        u = django_user_model.objects.create_user(name, f"{name}@example.org", "pw-" + name)
        if role:
            Membership.objects.create(
                user=u, election=election, role=role, unit=unit, station=station
            )
        return u

    return People(
        cec=user("chair", Role.CEC_ADMIN),
        north=user(
            "north", Role.CONSTITUENCY_OPERATOR, unit=Unit.objects.get(election=election, code="1")
        ),
        clerk=user("clerk", Role.STATION_OPERATOR, station=station(election, "1-1")),
        observer=user("observer", Role.OBSERVER),
        outsider=user("outsider", None),
    )


def station(election: Election, code: str) -> Station:
    return Station.objects.get(election=election, code=code)


def token(user: Any) -> str:
    return ApiToken.issue(user, "test")[1]


def counts() -> tuple[int, int]:
    """(turnout reports, ledger entries): what a refused report must leave unchanged."""
    return TurnoutReport.objects.count(), LedgerEntry.objects.count()


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    """Per-process caches are keyed by the ledger head, which a rolled-back test reuses."""
    from secki.results import anomalies, tabulate
    from secki.results import turnout as aggregate

    for cache in (aggregate._cache, anomalies._cache, tabulate._cache):
        cache.clear()
