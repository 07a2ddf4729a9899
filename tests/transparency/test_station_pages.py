"""The transparency log and the station pages kept as files (issue 15): a station's page shows
its newest entry of the election's log (read from the database's log when the page is
rendered), and the log publishes only entries a published state already includes, whose
stations that state marked; so publishing the log leaves the pages alone (removing them again
made every protocol cost two renders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.elections.models import Election
from secki.opendata import published, stationpages, transparency
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


def test_publishing_a_stations_entries_leaves_its_pages_to_the_state(
    waiting: Election, admin: Any
) -> None:
    publisher = published.Publisher(open_data=False)
    publisher.step()
    assert transparency.publish(waiting).status == "published"
    for code in ("1-1", "1-2"):
        for language in LANGUAGES:
            assert stationpages.write(waiting.slug, language, code, b"<p>page</p>") is not None
    submit(waiting, "1-1", admin)
    publisher.last.clear()  # the next step publishes at once
    state = publisher.step_one(waiting.slug)
    assert state is not None and state.pages_recent[-1][1] == frozenset({"1-1"})
    for language in LANGUAGES:  # the state marked 1-1's pages: stale until rendered again
        assert not page(waiting, language, "1-1").exists()
        assert page(waiting, language, "1-1").with_name(stationpages.STALE).exists()
        assert page(waiting, language, "1-2").exists()
    # a page rendered after the state (it shows the new entry): the log leaves it
    stationpages.write(waiting.slug, "en", "1-1", b"<p>new</p>")
    done = transparency.publish(waiting)
    assert done.status == "published" and done.appended >= 1
    assert page(waiting, "en", "1-1").read_bytes() == b"<p>new</p>"
    assert page(waiting, "az", "1-2").exists()
