"""The publication setting (issue 16): preliminary results go public at once, after a share of
the stations, or from a given time; the public pages and the results API show nothing before,
officials see everything, and the setting changes only through the audited action."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from secki.accounts.actions import change_election
from secki.accounts.models import AuditRecord
from secki.elections.models import Election, Publication
from secki.errors import IntakeError
from secki.results.publication import results_public, row_released
from secki.results.tabulate import Totals
from tests.portal.conftest import submit

pytestmark = pytest.mark.django_db


def page(url: str, client: Client | None = None) -> str:
    return (client or Client()).get(url).content.decode()


def status_of(html: str) -> str:
    found = re.search(r'id="outcome"[^>]*data-status="(\w+)"', html)
    assert found is not None, html
    return found.group(1)


def test_share_setting_withholds_results_until_enough_stations(
    waiting: Election, admin: Any
) -> None:
    slug = waiting.slug
    change_election(admin, waiting, publication="share", publication_share="0.5")
    record = AuditRecord.objects.filter(action="election.settings", election=waiting).last()
    assert record is not None and record.after["publication"] == "share"
    assert record.after["publication_share"] == "0.500"

    submit(waiting, "2-1", admin)  # 1 of 4 stations: below the half
    html = page(f"/e/{slug}/")
    assert status_of(html) == "withheld"
    assert "Preliminary results are shown once 50\xa0% of the stations are counted." in html
    assert "Most votes so far" not in html
    api = Client().get(f"/api/v1/elections/{slug}/results").json()
    assert api["outcome"]["status"] == "withheld" and api["outcome"]["winner"] is None
    assert api["stations_reported"] == 0 and all(c["votes"] == 0 for c in api["candidates"])
    assert api["lines"] == {}
    station = Client().get(f"/api/v1/elections/{slug}/results/stations/2-1").json()
    assert station["values"] is None and station["status"] is None
    assert "Protocol counted" not in page(f"/e/{slug}/s/2-1/")
    # an official who may see unpublished figures sees the count
    staff = Client()
    staff.force_login(admin)
    assert status_of(page(f"/e/{slug}/", staff)) == "pending"

    submit(waiting, "1-1", admin)  # 2 of 4: half the stations, results go public
    html = page(f"/e/{slug}/")
    assert status_of(html) == "pending"
    assert "Provisional: 2 of 4 stations counted." in html
    api = Client().get(f"/api/v1/elections/{slug}/results").json()
    assert api["stations_reported"] == 2 and api["outcome"]["status"] == "pending"
    assert api["outcome"]["winner"] is None  # no verdict on 2 of 4 stations
    assert "Protocol counted" in page(f"/e/{slug}/s/2-1/")


def test_time_setting(waiting: Election, admin: Any) -> None:
    slug = waiting.slug
    later = timezone.now() + dt.timedelta(hours=2)
    change_election(admin, waiting, publication="time", publication_at=later.isoformat())
    submit(waiting, "2-1", admin)
    html = page(f"/e/{slug}/")
    assert status_of(html) == "withheld" and "Preliminary results are shown from" in html
    assert Client().get(f"/api/v1/elections/{slug}/results").json()["stations_reported"] == 0
    # the rule itself at instants on either side of the time (no clock in the test)
    counted = Totals(stations_total=4, stations_reported=1)
    assert not results_public(waiting, counted, later - dt.timedelta(seconds=1))
    assert results_public(waiting, counted, later)
    # the ETag's part: the row as plain SQL gives it (SQLite: text; PostgreSQL: datetime)
    assert not row_released("time", later.isoformat(), later - dt.timedelta(seconds=1))
    assert row_released("time", later.replace(tzinfo=None).isoformat(" "), later)
    assert row_released("immediately", None, later)
    # the commission moves the time into the past: results are public
    change_election(
        admin, waiting, publication_at=(timezone.now() - dt.timedelta(minutes=1)).isoformat()
    )
    assert status_of(page(f"/e/{slug}/")) == "pending"
    assert Client().get(f"/api/v1/elections/{slug}/results").json()["stations_reported"] == 1


def test_immediately_is_the_default(waiting: Election, admin: Any) -> None:
    assert waiting.publication == Publication.IMMEDIATELY
    submit(waiting, "2-1", admin)
    assert status_of(page(f"/e/{waiting.slug}/")) == "pending"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"publication": "share", "publication_share": "1.5"}, "publication_share"),
        ({"publication": "share"}, "publication_share"),
        ({"publication": "time"}, "publication_at"),
        ({"publication": "sometimes"}, "publication"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    waiting: Election, admin: Any, changes: dict[str, str], field: str
) -> None:
    with pytest.raises(IntakeError) as refused:
        change_election(admin, waiting, **changes)
    assert refused.value.field == field or field in refused.value.message
    waiting.refresh_from_db()
    assert waiting.publication == Publication.IMMEDIATELY
    assert not AuditRecord.objects.filter(action="election.settings").exists()


def test_only_a_manager_changes_the_setting(waiting: Election) -> None:
    nobody = get_user_model().objects.create_user("nobody", password="pw-nobody")
    with pytest.raises(Exception) as refused:
        change_election(nobody, waiting, publication="share", publication_share="0.5")
    assert getattr(refused.value, "code", "") == "forbidden_role"
    waiting.refresh_from_db()
    assert waiting.publication == Publication.IMMEDIATELY


def test_database_refuses_a_time_setting_without_its_time(waiting: Election) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Election.objects.filter(pk=waiting.pk).update(publication="time", publication_at=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Election.objects.filter(pk=waiting.pk).update(publication_share=2)
