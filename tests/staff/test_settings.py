"""The CEC administrator configures the election from the staff pages (issue 16): double entry,
when preliminary results go public, the outcome rules; every change through the audited
action, bad input refused naming the field with nothing stored, other roles refused."""

from __future__ import annotations

import datetime as dt

import pytest

from secki.accounts.models import AuditRecord
from secki.elections.models import Election, Publication
from tests.staff.conftest import Personas

pytestmark = pytest.mark.django_db

FORM = {
    "publication": "immediately",
    "publication_share": "0",
    "publication_at": "",
    "win_rule": "absolute_majority",
    "majority_base": "valid",
    "runoff_size": "2",
    "invalid_station_share": "40",
    "auto_publish": "on",
}


def url(election: Election) -> str:
    return f"/staff/e/{election.slug}/settings/"


def test_the_administrator_changes_settings(election: Election, personas: Personas) -> None:
    client = personas.client("admin")
    page = client.get(url(election)).content.decode()
    assert 'id="settings"' in page and 'name="double_entry"' in page
    # the help says what the publication setting covers, the transparency log included
    assert 'id="publication-help"' in page and "transparency log is published only up to" in page
    response = client.post(
        url(election),
        {
            **FORM,
            "double_entry": "on",
            "publication": "time",
            "publication_at": "2024-02-07T20:30",
            "win_rule": "plurality",
            "invalid_station_share": "25",
        },
    )
    assert response.status_code == 302 and response["Location"] == url(election)
    election.refresh_from_db()
    assert election.double_entry and election.win_rule == "plurality"
    assert election.publication == Publication.TIME
    assert election.publication_at is not None
    local = election.publication_at.astimezone(election.tz)
    assert (local.date(), local.time()) == (dt.date(2024, 2, 7), dt.time(20, 30))
    assert str(election.invalid_station_share) == "0.250"
    record = AuditRecord.objects.filter(action="election.settings").last()
    assert record is not None and record.actor_name == "admin"
    assert set(record.after) == {
        "double_entry",
        "publication",
        "publication_at",
        "win_rule",
        "invalid_station_share",
    }
    shown = client.get(url(election)).content.decode()
    assert 'value="2024-02-07T20:30"' in shown and "Settings changed" in shown
    # and the dashboard now says double entry
    assert "double entry" in client.get("/staff/").content.decode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"publication": "share", "publication_share": "0"}, "publication_share"),
        ({"publication": "share", "publication_share": "a lot"}, "publication_share"),
        ({"publication": "time", "publication_at": ""}, "publication_at"),
        ({"publication_at": "tomorrow"}, "publication_at"),
        ({"runoff_size": "x"}, "runoff_size"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    election: Election, personas: Personas, changes: dict[str, str], field: str
) -> None:
    before = Election.objects.filter(pk=election.pk).values().get()
    response = personas.client("admin").post(url(election), {**FORM, **changes})
    assert response.status_code in (400, 422)
    assert response.context["problem"].field == field
    assert 'aria-invalid="true"' in response.content.decode()
    assert Election.objects.filter(pk=election.pk).values().get() == before
    assert not AuditRecord.objects.filter(action="election.settings").exists()


@pytest.mark.parametrize("who", ["observer", "supervisor", "op11"])
def test_other_roles_are_refused(election: Election, personas: Personas, who: str) -> None:
    client = personas.client(who)
    assert client.get(url(election)).status_code == 403
    assert client.post(url(election), {**FORM, "double_entry": "on"}).status_code == 403
    election.refresh_from_db()
    assert not election.double_entry


def test_the_page_in_russian(election: Election, personas: Personas) -> None:
    from django.conf import settings

    client = personas.client("admin")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    page = client.get(url(election)).content.decode()
    assert "Доля подсчитанных участков (%)" in page and "Сохранить настройки" in page
    assert "Настройки выборов" in client.get("/staff/").content.decode()
