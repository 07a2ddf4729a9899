"""Issue 16's small ones: the webcam registry paginated and plain when no stream is
published; the open-data page's command; the de-registration lines told apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station
from secki.intake.bundle_io import import_bundle
from secki.portal import views
from secki.protocol_schema import ProtocolSchema
from tests.portal.test_webcams import rows_of, with_webcams

pytestmark = pytest.mark.django_db


def test_the_webcam_registry_is_paginated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filmed = import_bundle(read_bundle(with_webcams(tmp_path / "b")))
    monkeypatch.setattr(views, "WEBCAMS_PAGE", 2)
    url = f"/e/{filmed.slug}/webcams/"
    first = Client().get(url).content.decode()
    assert [r[0] for r in rows_of(first, "webcams")[1:]] == ["1-1", "2-1"]
    assert "Stations 1–2 of 3" in first and 'href="?page=2" rel="next"' in first
    second = Client().get(url, {"page": "2"}).content.decode()
    assert [r[0] for r in rows_of(second, "webcams")[1:]] == ["2-2"]
    assert 'href="?page=1" rel="prev"' in second and "Stations 3–3 of 3" in second
    # the unit filter is kept across pages; a page past the end shows the last one
    south = Client().get(url, {"unit": "2", "page": "9"}).content.decode()
    assert "Stations" not in south  # one page only: no navigation
    assert [r[0] for r in rows_of(south, "webcams")[1:]] == ["2-1", "2-2"]
    monkeypatch.setattr(views, "WEBCAMS_PAGE", 1)
    paged = Client().get(url, {"unit": "2"}).content.decode()
    assert 'href="?unit=2&amp;page=2" rel="next"' in paged
    assert "The election commission has published the streams of 2 of them" in first
    assert 'id="no-streams"' not in first


def test_the_webcam_registry_says_plainly_when_no_stream_is_published(tmp_path: Path) -> None:
    filmed = import_bundle(read_bundle(with_webcams(tmp_path / "b", {"1-1": "", "2-1": ""})))
    html = Client().get(f"/e/{filmed.slug}/webcams/").content.decode()
    assert 'id="no-streams"' in html and "No stream has been published" in html
    assert "has published the stream" not in html
    assert Station.objects.filter(election=filmed, webcam=True).count() == 2


def test_the_open_data_page_names_the_secki_command(election: Election) -> None:
    html = Client().get(f"/data/{election.slug}/").content.decode()
    assert "<code>secki bundle-from-bulk DOWNLOAD_DIR BUNDLE_DIR</code>" in html
    assert "python -m" not in html


def test_the_de_registration_lines_read_differently() -> None:
    labels = {line.code: line.label for line in ProtocolSchema.builtin().lines}
    assert labels["L1c"] != labels["L7"] and labels["L1d"] != labels["L2"]
    assert labels["L1c"].startswith("Of line 1:") and labels["L1d"].startswith("Of line 1:")
    words = {code: set(re.findall(r"\w+", labels[code].lower())) for code in labels}
    assert "issued" in words["L2"] and "voted" in words["L7"]
