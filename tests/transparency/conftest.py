"""The published transparency log's tests (issue 14): a log directory and key of their own,
no witnesses unless a test starts them, and the small election of tests/portal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.opendata import transparency
from secki.portal import http
from secki.results import tabulate
from secki.tlog.checkpoint import OpenedCheckpoint, WitnessPolicy, open_checkpoint
from secki.tlog.note import KeyType, Signer
from secki.tlog.tiles import TileReader, directory_source
from tests.portal.conftest import load

LOG_NAME = "results.test/log"
#: the log's key in these tests (its seed is no secret here: the tests look for it)
SIGNER = Signer.from_seed(LOG_NAME, KeyType.ED25519, bytes(range(32)))


@pytest.fixture(autouse=True)
def _isolated(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """Files under this test's directory; the log's key in a file; no witnesses."""
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SECKI_SNAPSHOT_AUTO = False
    settings.SECKI_DEVELOPMENT = False
    settings.SECKI_LOG_NAME = LOG_NAME
    key = tmp_path / "log_key"
    key.write_text(SIGNER.format() + "\n")
    key.chmod(0o600)
    settings.SECKI_LOG_KEY_FILE = str(key)
    settings.SECKI_WITNESS_POLICY = ""
    http.pages.clear()
    tabulate._cache.clear()
    yield key
    http.pages.clear()
    tabulate._cache.clear()


@pytest.fixture
def election(tmp_path: Path) -> Election:
    """The small bundle (4 stations, 3 candidates) with every protocol published."""
    return load(tmp_path / "bundle", simulated=True)


@pytest.fixture
def waiting(tmp_path: Path) -> Election:
    """The same register without results."""
    return load(tmp_path / "waiting", protocols=False, slug="waitland-2024", name="Waitland")


@pytest.fixture
def admin(db: None) -> Any:
    return get_user_model().objects.create_superuser("cec-chair", password="pw-cec-chair")


def entries_of(election: Election) -> list[bytes]:
    """The election's log entries in the database, in order."""
    return [
        body.encode()
        for body in LedgerEntry.objects.filter(election=election)
        .order_by("index")
        .values_list("body", flat=True)
    ]


def log_dir(election: Election) -> Path:
    return transparency.election_dir(election.slug)


def opened(
    election: Election, policy: WitnessPolicy | None = None, now: int | None = None
) -> OpenedCheckpoint:
    """The election's published checkpoint, opened with the log's key and ``policy`` (none:
    quorum 0)."""
    note = (log_dir(election) / "checkpoint").read_bytes()
    return open_checkpoint(
        note,
        SIGNER.verifier,
        policy or WitnessPolicy((), 0),
        transparency.origin(election.slug),
        now if now is not None else int(time.time()),
    )


def reader(election: Election, policy: WitnessPolicy | None = None) -> TileReader:
    """A reader of the published log at its checkpoint's size and root."""
    checkpoint = opened(election, policy).checkpoint
    return TileReader(directory_source(log_dir(election)), checkpoint.size, checkpoint.root)
