"""The transparency log and the station pages kept as files (issue 15): a station's page shows
its log entries and the hints of the published log, so publishing new entries of a station
removes its page files (after the checkpoint); the other stations' stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.elections.models import Election
from secki.opendata import stationpages, transparency
from tests.portal.conftest import submit

pytestmark = pytest.mark.django_db

LANGUAGES = ("en", "az", "ru")


def page(election: Election, language: str, code: str) -> Path:
    path = stationpages.page_path(election.slug, language, code)
    assert path is not None
    return path


@pytest.fixture
def admin(db: None) -> Any:
    return get_user_model().objects.create_superuser("cec-chair", password="pw-cec-chair")


def test_publishing_a_stations_entries_removes_its_pages(waiting: Election, admin: Any) -> None:
    assert transparency.publish(waiting).status == "published"
    for code in ("1-1", "1-2"):
        for language in LANGUAGES:
            assert stationpages.write(waiting.slug, language, code, b"<p>page</p>") is not None
    submit(waiting, "1-1", admin)
    done = transparency.publish(waiting)
    assert done.status == "published" and done.appended >= 1
    for language in LANGUAGES:
        assert not page(waiting, language, "1-1").exists()
        assert page(waiting, language, "1-2").exists()
    # nothing new: nothing removed
    assert transparency.publish(waiting).status == "current"
    assert page(waiting, "en", "1-2").exists()
