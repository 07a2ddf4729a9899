"""Personas and elections for the officials' pages.

The election is the small test bundle without its protocols (four stations waiting for
results); personas are real users with real memberships, logged in through the Django session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from secki.accounts import twofactor
from secki.accounts.models import Membership, Role
from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station, Unit
from secki.intake.bundle_io import import_bundle
from secki.ledger.models import LedgerEntry
from secki.protocols.models import Protocol, ProtocolEntry, ProtocolEvent, ProtocolValue
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import authenticator, enrol_authenticator


def load_election(directory: Path, **overrides: Any) -> Election:
    """The small bundle without protocols.csv: stations 1-1, 1-2, 2-1, 2-2 with no results."""
    source = write_small_bundle(directory, **overrides)
    (source / "protocols.csv").unlink()
    return import_bundle(read_bundle(source))


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load_election(tmp_path / "bundle")


@pytest.fixture
def other_election(tmp_path: Path) -> Election:
    """A second election whose station codes clash with the first one's."""
    return load_election(tmp_path / "other", slug="otherland-2024", name="Otherland")


def station(election: Election, code: str) -> Station:
    return Station.objects.get(election=election, code=code)


class Personas:
    """Users with one role each in ``election``; ``client(name)`` is logged in as that user."""

    def __init__(self, election: Election) -> None:
        self.election = election
        north = Unit.objects.get(election=election, code="1")
        self.users: dict[str, User] = {}
        self._add("admin", Role.CEC_ADMIN)
        self._add("north", Role.CONSTITUENCY_OPERATOR, unit=north)
        self._add("op11", Role.STATION_OPERATOR, station=station(election, "1-1"))
        self._add("supervisor", Role.SUPERVISOR)
        self._add("observer", Role.OBSERVER)
        self.users["outsider"] = User.objects.create_user("outsider", password="pw-outsider")

    def _add(self, name: str, role: Role, **scope: Any) -> None:
        user = User.objects.create_user(name, password=f"pw-{name}")
        Membership.objects.create(user=user, election=self.election, role=role, **scope)
        self.users[name] = user

    def client(self, name: str) -> Client:
        client = Client()
        client.force_login(self.users[name])
        return client

    def authenticator(self, name: str) -> Callable[[], str]:
        """The user's authenticator app (set up on first use), for log-ins through the form:
        calling it gives the current code."""
        user = self.users[name]
        return authenticator(twofactor.totp_device(user) or enrol_authenticator(user))

    def __getitem__(self, name: str) -> User:
        return self.users[name]


@pytest.fixture
def personas(election: Election) -> Personas:
    return Personas(election)


@pytest.fixture
def as_user(personas: Personas) -> Callable[[str], Client]:
    return personas.client


def db_state() -> tuple[int, ...]:
    """Row counts of everything an intake may write."""
    return tuple(
        m.objects.count()
        for m in (Protocol, ProtocolValue, ProtocolEvent, ProtocolEntry, LedgerEntry)
    )


COLUMNS = [
    "L1", "L1a", "L1b", "L1c", "L1d", "L2", "L3", "L5", "L6", "L7", "L8", "L9",
    "L12", "L13", "L14", "L15a", "L15b", "L16", "L17", "C1", "C2", "C3",
]  # fmt: skip


def form_values(code: str = "1-1", **changes: Any) -> dict[str, str]:
    """The valid protocol of ``code`` from the test bundle as form fields (strings)."""
    row = next(r for r in PROTOCOLS if r[0] == code)
    values = {
        column: "" if value is None else str(value)
        for column, value in zip(COLUMNS, row[1:], strict=True)
    }
    values["L17"] = "2024-02-07T21:30"  # what <input type="datetime-local"> sends
    values.update({k: str(v) for k, v in changes.items()})
    return values
