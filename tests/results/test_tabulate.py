"""Totals at every level equal the sums of the stations' protocols; the page shows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Unit
from secki.intake.bundle_io import import_bundle
from secki.results.tabulate import Tabulation
from tests.factories import PROTOCOLS, write_small_bundle

pytestmark = pytest.mark.django_db


def test_totals_roll_up_the_tree(tmp_path: Path) -> None:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path)))
    tab = Tabulation(election)
    national = tab.result()
    # C1 votes of the four protocols: 500 + 300 + 450 + 80
    assert [c.votes for c in national.candidates] == [1330, 720, 145]
    assert national.base == 1330 + 720 + 145
    assert national.totals.stations_reported == national.totals.stations_total == 4
    assert national.totals.registered_total == 3300
    assert str(national.candidates[0].share) == "60.59"
    north = tab.result(Unit.objects.get(election=election, code="1"))
    assert [c.votes for c in north.candidates] == [800, 270, 100]
    assert north.totals.stations_total == 2
    # participants = L5 + L6 of the north: 700 + 500 issued
    assert north.participants == 1200
    assert str(north.turnout) == str(round(1200 * 100 / 1800, 2))
    assert national.leader is not None and national.leader.candidate.name == "Candidate A"


def test_results_page_shows_national_and_constituency_totals(tmp_path: Path) -> None:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path)))
    page = Client().get(f"/e/{election.slug}/").content.decode()
    assert 'id="reporting">4 / 4<' in page
    assert "<td>1,330</td>" in page and "<td>60.59</td>" in page
    assert "1. North" in page and "2. South" in page
    assert "Simulated data" not in page  # a real election is not labelled simulated
    assert len(PROTOCOLS) == 4


def test_unknown_election_is_404() -> None:
    assert Client().get("/e/nope/").status_code == 404
