"""Staff pages: the station operator's phone form, tracking, overview, flags, bulk upload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.elections.models import Election
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.turnout.conftest import People, counts, station

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_url(election: Election, code: str) -> str:
    return f"/staff/turnout/{election.slug}/station/{code}/"


def test_a_station_operator_lands_on_the_form(election: Election, people: People) -> None:
    answer = logged_in(people.clerk).get("/staff/turnout/")
    assert answer.status_code == 302 and answer["Location"] == form_url(election, "1-1")
    page = logged_in(people.clerk).get(form_url(election, "1-1")).content.decode()
    assert 'id="registered">1,000<' in page
    assert page.count('type="radio" name="time"') == 5
    assert 'value="10:00" checked' in page  # nothing reported yet: the first time
    assert 'inputmode="numeric"' in page
    assert "No reports yet." in page
    # the form's link to the other turnout pages does not bounce back to the form
    index = logged_in(people.clerk).get("/staff/turnout/?all=1")
    assert index.status_code == 200
    assert form_url(election, "1-1") in index.content.decode()


def test_the_form_reports_and_corrects(election: Election, people: People) -> None:
    client = logged_in(people.clerk)
    answer = client.post(form_url(election, "1-1"), {"time": "10:00", "voters": "150"}, follow=True)
    page = answer.content.decode()
    assert "Saved: 150 voters at 10:00" in page
    assert 'value="12:00" checked' in page  # the next time is selected
    assert re.search(r"<td>10:00</td><td>150</td>", page)
    assert TurnoutReport.objects.get().source == "form"

    stored = counts()
    refused = client.post(form_url(election, "1-1"), {"time": "10:00", "voters": "160"})
    assert refused.status_code == 409
    assert 'data-code="reason_required"' in refused.content.decode()
    assert counts() == stored

    client.post(form_url(election, "1-1"), {"time": "10:00", "voters": "160", "reason": "misread"})
    versions = list(TurnoutReport.objects.order_by("version").values_list("voters", "is_current"))
    assert versions == [(150, False), (160, True)]
    page = client.get(form_url(election, "1-1")).content.decode()
    assert "(replaced)" in page and "misread" in page


@pytest.mark.parametrize(
    ("voters", "code"),
    [("abc", "invalid_value"), ("", "invalid_value"), ("99999", "above_registered")],
)
def test_form_errors_are_shown_and_nothing_is_stored(
    election: Election, people: People, voters: str, code: str
) -> None:
    answer = logged_in(people.clerk).post(
        form_url(election, "1-1"), {"time": "10:00", "voters": voters}
    )
    assert answer.status_code == 422
    assert f'data-code="{code}"' in answer.content.decode()
    assert f'value="{voters}"' in answer.content.decode()  # what was typed stays in the box
    assert TurnoutReport.objects.count() == 0


def test_form_errors_are_in_the_page_language(election: Election, people: People) -> None:
    """The refusal of a turnout report reads in the official's language; its code stays."""
    client = logged_in(people.clerk)
    client.cookies["django_language"] = "ru"
    answer = client.post(form_url(election, "1-1"), {"time": "10:00", "voters": "-5"})
    page = answer.content.decode()
    assert answer.status_code == 422
    assert 'data-code="negative_value"' in page
    assert "voters: -5 — отрицательное число" in page
    assert "is negative" not in page
    assert "Избирателей, получивших бюллетень к этому времени" in page  # the form's label


def test_the_form_is_for_the_operators_own_station(election: Election, people: People) -> None:
    assert logged_in(people.clerk).get(form_url(election, "1-2")).status_code == 403
    assert logged_in(people.observer).get(form_url(election, "1-1")).status_code == 403
    assert logged_in(people.north).get(form_url(election, "1-2")).status_code == 200
    anonymous = Client().get(form_url(election, "1-1"))
    assert anonymous.status_code == 302 and "/staff/login/" in anonymous["Location"]


def test_tracking_lists_stations_without_a_report_with_contacts(
    election: Election, people: People
) -> None:
    report_turnout(election, station(election, "2-1"), "19:00", 900, actor=people.cec)
    page = logged_in(people.cec).get(f"/staff/turnout/{election.slug}/missing/").content.decode()
    assert "<option selected>19:00</option>" in page  # that day is over: the last report time
    assert re.search(r'id="count"><b>3</b> stations not reported at 19:00', page)
    assert "1-1</a>" in page and "1-2</a>" in page and "2-2</a>" in page and "2-1</a>" not in page
    assert 'href="mailto:clerk@example.org"' in page  # 1-1's station operator
    assert "School 1" in page  # the address
    south = logged_in(people.cec).get(f"/staff/turnout/{election.slug}/missing/?unit=2&time=19:00")
    assert re.search(r'id="count"><b>1</b> station not reported', south.content.decode())
    north_view = (
        logged_in(people.north).get(f"/staff/turnout/{election.slug}/missing/").content.decode()
    )
    assert "2-2</a>" not in north_view and "1-2</a>" in north_view
    assert (
        logged_in(people.observer).get(f"/staff/turnout/{election.slug}/missing/").status_code
        == 403
    )


def test_overview_shows_every_time_and_the_units(election: Election, people: People) -> None:
    report_turnout(election, station(election, "1-1"), "10:00", 150, actor=people.cec)
    page = logged_in(people.observer).get(f"/staff/turnout/{election.slug}/").content.decode()
    assert "<td>10:00</td><td>150</td><td>1,000</td><td>15.00</td><td>1 / 4</td>" in page
    assert "1. North" in page and "2. South" in page
    assert logged_in(people.outsider).get(f"/staff/turnout/{election.slug}/").status_code == 403


def test_anomaly_page_and_csv(election: Election, people: People) -> None:
    report_turnout(election, station(election, "2-2"), "19:00", 310, actor=people.cec)
    client = logged_in(people.observer)
    page = client.get(f"/staff/turnout/{election.slug}/anomalies/").content.decode()
    assert 'data-kind="above_100">1<' in page
    assert "310 voters at 19:00 of 300 registered" in page
    filtered = client.get(
        f"/staff/turnout/{election.slug}/anomalies/?kind=late_jump"
    ).content.decode()
    assert "No flags." in filtered
    download = client.get(f"/staff/turnout/{election.slug}/anomalies.csv")
    assert download["Content-Disposition"].endswith('-turnout-anomalies.csv"')
    assert download.content.decode().count("\n") == 2
    assert (
        logged_in(people.outsider).get(f"/staff/turnout/{election.slug}/anomalies/").status_code
        == 403
    )


def test_bulk_page_all_or_nothing(election: Election, people: People) -> None:
    client = logged_in(people.cec)
    bad = SimpleUploadedFile("t.csv", b"station,time,voters\n1-1,10:00,150\n1-1,12:00,10\n")
    answer = client.post(f"/staff/turnout/{election.slug}/bulk/", {"file": bad})
    assert answer.status_code == 422
    page = answer.content.decode()
    assert 'data-code="invalid_file"' in page and "<td>3</td>" in page
    assert TurnoutReport.objects.count() == 0
    good = SimpleUploadedFile("t.csv", b"station,time,voters\n1-1,10:00,150\n1-1,12:00,400\n")
    done = client.post(f"/staff/turnout/{election.slug}/bulk/", {"file": good}, follow=True)
    assert "Stored 2 reports (0 of them corrections)." in done.content.decode()
    assert TurnoutReport.objects.count() == 2
    assert (
        logged_in(people.observer).get(f"/staff/turnout/{election.slug}/bulk/").status_code == 403
    )


def test_index_for_election_wide_staff(election: Election, people: People) -> None:
    page = logged_in(people.cec).get("/staff/turnout/").content.decode()
    assert f"/staff/turnout/{election.slug}/missing/" in page
    assert f"/staff/turnout/{election.slug}/anomalies/" in page
    found = logged_in(people.cec).get(f"/staff/turnout/{election.slug}/station/?code=2-2")
    assert found["Location"] == form_url(election, "2-2")
    nothing = logged_in(people.outsider).get("/staff/turnout/").content.decode()
    assert "You have no turnout role" in nothing
