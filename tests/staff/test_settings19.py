"""Issue 19: the CEC administrator sets proportional, referendum and minimum-turnout rules on
the settings page; every change through the audited action, bad values refused naming the
field with nothing stored, and the national page shows the seats."""

from __future__ import annotations

import pytest
from django.test import Client

from secki.accounts.models import AuditRecord
from secki.elections.models import Election
from tests.staff.conftest import Personas
from tests.staff.test_settings import FORM, url

pytestmark = pytest.mark.django_db

RULES = {
    "seat_method": "dhondt",
    "seats": "0",
    "seat_scope": "national",
    "threshold": "0",
    "threshold_scope": "national",
    "min_turnout": "0",
    "approval_quorum": "0",
}


def test_the_administrator_sets_a_proportional_rule(election: Election, personas: Personas) -> None:
    client = personas.client("admin")
    page = client.get(url(election)).content.decode()
    assert 'name="seat_method"' in page and 'name="approval_quorum"' in page
    response = client.post(
        url(election),
        {
            **FORM,
            **RULES,
            "win_rule": "proportional",
            "seat_method": "sainte_lague",
            "seats": "10",
            "threshold": "7",
            "min_turnout": "25",
        },
    )
    assert response.status_code == 302
    election.refresh_from_db()
    assert (election.win_rule, election.seat_method, election.seats) == (
        "proportional",
        "sainte_lague",
        10,
    )
    assert (str(election.threshold), str(election.min_turnout)) == ("0.070", "0.250")
    record = AuditRecord.objects.filter(action="election.settings").last()
    assert record is not None
    assert {"win_rule", "seat_method", "seats", "threshold", "min_turnout"} <= set(record.after)
    # the election's settings as election.json gives them (the results come with the
    # protocols: tests/results/test_electoral_systems.py)
    rule = Client().get(f"/api/v1/elections/{election.slug}").json()["win_rule"]
    assert rule["rule"] == "proportional" and rule["method"] == "sainte_lague"
    assert (rule["seats"], rule["threshold"], rule["min_turnout"]) == (10, 0.07, 0.25)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"win_rule": "proportional", "seats": "0"}, "seats"),
        ({"win_rule": "proportional", "seats": "5", "threshold": "100"}, "threshold"),
        ({"win_rule": "proportional", "seats": "5", "seat_method": "borda"}, "seat_method"),
        ({"win_rule": "proportional", "seat_scope": "district"}, "seat_scope"),
        ({"win_rule": "referendum"}, "win_rule"),  # three candidates, not yes and no
        ({"min_turnout": "150"}, "min_turnout"),
        ({"approval_quorum": "lots"}, "approval_quorum"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    election: Election, personas: Personas, changes: dict[str, str], field: str
) -> None:
    before = Election.objects.filter(pk=election.pk).values().get()
    response = personas.client("admin").post(url(election), {**FORM, **RULES, **changes})
    assert response.status_code in (400, 422)
    assert response.context["problem"].field == field
    assert Election.objects.filter(pk=election.pk).values().get() == before
    assert not AuditRecord.objects.filter(action="election.settings").exists()
