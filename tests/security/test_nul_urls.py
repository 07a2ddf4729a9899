"""A NUL character in a URL's path or query answers 404/400 before any view (it was a 500 on
PostgreSQL wherever the text reached a query)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from secki.elections.models import Election
from tests.factories import write_small_bundle
from tests.protocols.test_api import register_only

pytestmark = pytest.mark.django_db


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return register_only(write_small_bundle(tmp_path))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/elections/a%00b/results",
        "/api/v1/elections/{slug}/results/units/1%00",
        "/api/v1/elections/{slug}/results/stations/1%00",
    ],
)
def test_api_paths_with_nul_are_json_404(election: Election, path: str) -> None:
    response = Client().get(path.format(slug=election.slug))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/e/{slug}/s/1-1%00/", "/staff/e/{slug}/stations/1-1%00/", "/data/a%00.csv"]
)
def test_pages_with_nul_are_404(election: Election, path: str) -> None:
    assert Client().get(path.format(slug=election.slug)).status_code == 404


def test_a_query_value_with_nul_is_400_naming_it(election: Election) -> None:
    response = Client().get(f"/api/v1/elections/{election.slug}/results", {"unit": "1\x00"})
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid_request" and body["field"] == "unit"
    page = Client().get(f"/e/{election.slug}/", {"q": "x\x00"})
    assert page.status_code == 400


def test_an_ordinary_request_passes(election: Election) -> None:
    assert Client().get(f"/api/v1/elections/{election.slug}/results").status_code == 200
