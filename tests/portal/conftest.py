"""Elections for the public portal's tests.

``election``: the small hand-checkable bundle (4 stations, 3 candidates), with every protocol
published. ``waiting``: the same without protocols (results arrive in the test). Snapshot files
go to a temporary ``VAR_DIR``; background regeneration is off so that tests decide when files
are written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station
from secki.intake.bundle_io import import_bundle
from secki.portal import http
from secki.protocol_schema import ProtocolSchema
from secki.protocols.actions import submit_protocol
from secki.protocols.data import ProtocolData
from secki.results import tabulate
from tests.factories import PROTOCOLS, write_small_bundle

COLUMNS = ProtocolSchema.builtin().columns(3)


@pytest.fixture(autouse=True)
def _isolated(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setattr(http, "ROW_SECONDS", 0.0)  # every request sees the latest ledger head
    settings.SECKI_SNAPSHOT_AUTO = False
    http.pages.clear()
    tabulate._cache.clear()
    yield
    http.pages.clear()
    tabulate._cache.clear()


def load(directory: Path, *, protocols: bool = True, **overrides: Any) -> Election:
    source = write_small_bundle(directory, **overrides)
    if not protocols:
        (source / "protocols.csv").unlink()
    return import_bundle(read_bundle(source))


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load(tmp_path / "bundle", simulated=True)


@pytest.fixture
def waiting(tmp_path: Path) -> Election:
    return load(tmp_path / "waiting", protocols=False, slug="waitland-2024", name="Waitland")


class Clock:
    """A clock the test moves (``clock.now``), for what takes a clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admin(db: None) -> Any:
    return get_user_model().objects.create_superuser("cec-chair", password="pw-cec-chair")


def protocol_data(code: str) -> ProtocolData:
    """The factory protocol of station ``code`` as ProtocolData (what a form would send)."""
    row = dict(zip(["station", *COLUMNS], next(r for r in PROTOCOLS if r[0] == code), strict=True))
    counts = {k: v for k, v in row.items() if k[0] == "L" and k != "L17" and v is not None}
    votes = tuple(row[f"C{i}"] for i in range(1, 4))
    return ProtocolData(counts, {"L17": dt.datetime.fromisoformat(row["L17"])}, votes)


def submit(election: Election, code: str, actor: Any) -> None:
    station = Station.objects.get(election=election, code=code)
    submit_protocol(election, station, protocol_data(code), actor=actor, source="api")
