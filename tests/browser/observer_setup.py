"""The browser tests' observer: the small election, an organisation's coordinator ``rep`` and
one accredited observer ``aysel`` (OBS-000001, valid from yesterday until tomorrow)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.observers import actions
from tests.factories import write_small_bundle
from tests.observers.conftest import document


def accredited_observer(tmp_path: Path, unit: str = "") -> tuple[Election, Any, Any]:
    """The election, the coordinator and the observer; ``unit`` (a code) limits the
    application, the whole country without it."""
    election: Election = import_bundle(read_bundle(write_small_bundle(tmp_path / "bundle")))
    users = get_user_model().objects
    rep = users.create_user(username="rep", password="pw-rep")
    aysel = users.create_user(username="aysel", password="pw-aysel")
    app = actions.apply(
        election,
        actor=rep,
        name="Fair Count",
        kind="domestic",
        contact="c",
        observers="1",
        unit=unit,
        documents=[document()],
    )
    today = dt.datetime.now(dt.UTC).date()
    actions.accept(
        app,
        actor=None,
        valid_from=(today - dt.timedelta(days=1)).isoformat(),
        valid_until=(today + dt.timedelta(days=1)).isoformat(),
        names="Aysel Mammadova; aysel",
    )
    return election, rep, aysel
