"""The observers' dashboard summaries (issue 17, Build 6): per checklist the submissions and the
answers that matter (a question's ``alert_when``) by constituency, and incidents by status and
category per constituency, checked against hand-counted fixtures; a coordinator sees only their
organisation's, the commission everybody's (staff page and API)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from secki.accounts.models import ApiToken
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.observers import checklist, dashboard, field
from secki.observers.api import ObserverDashboardOut
from secki.observers.coverage import constituencies
from secki.observers.models import ChecklistForm
from tests.observers.test_field import OCCURRED, OPENING, accredit
from tests.personas import Persona

pytestmark = pytest.mark.django_db

VOTING = {"V1": "100", "V2": "no", "V3": "no", "V4": "always", "V5": "yes"}


@pytest.fixture
def day(election: Election, people: dict[str, Persona]) -> dict[str, Any]:
    """Two organisations: Fair Count (constituency 1: watcher, watcher2) and Other Org
    (constituency 2: watcher3), with checklists and incidents counted by hand in the tests."""
    field.install_checklists(election, actor=people["cec"].user)
    accredit(election, people["applicant"], "Aysel; watcher\nRashad; watcher2")
    watcher3 = get_user_model().objects.create_user(username="watcher3", password="pw-w3")
    accredit(election, people["applicant2"], "Leyla; watcher3", unit="2", org="Other Org")
    w1, w2 = people["watcher"].user, people["watcher2"].user

    def opening(who: Any, station: str, **answers: str) -> None:
        field.submit_checklist(
            election, actor=who, station=station, form="opening", answers={**OPENING, **answers}
        )

    # opening — constituency 1 (Fair Count): Q3 no once, Q4 no once, Q5 no twice
    opening(w1, "1-1", Q3="no", Q4="yes", Q5="no")
    opening(w2, "1-2", Q3="yes", Q4="no", Q5="no")
    # constituency 2 (Other Org): Q3 no, Q4 yes, Q5 yes
    opening(watcher3, "2-1", Q3="no", Q4="yes", Q5="yes")
    # voting — Fair Count only: V2 yes once, V4 mostly + rarely
    for answers in (
        {**VOTING, "V2": "yes", "V4": "mostly"},
        {**VOTING, "V4": "rarely"},
        VOTING,
    ):
        field.submit_checklist(election, actor=w1, station="1-1", form="voting", answers=answers)

    def report(who: Any, station: str, category: str) -> Any:
        return field.report_incident(
            election,
            actor=who,
            station=station,
            category=category,
            occurred_at=OCCURRED,
            description="seen",
        )

    stuffing = report(w1, "1-1", "ballot_stuffing")
    report(w2, "1-2", "ballot_stuffing")
    report(w2, "1-2", "intimidation")
    report(watcher3, "2-1", "ballot_stuffing")
    field.move_incident(stuffing, "verified", actor=people["applicant"].user)
    return {"watcher3": watcher3}


def rows(summary: dashboard.ChecklistSummary) -> dict[str, tuple[int, dict[str, int]]]:
    return {(r.unit.code if r.unit else "-"): (r.submissions, r.alerts) for r in summary.rows}


def incidents(summary: dashboard.IncidentSummary) -> dict[tuple[str, str], dict[str, int]]:
    return {
        (r.unit.code if r.unit else "-", r.category): {k: v for k, v in r.statuses.items() if v}
        for r in summary.rows
    }


def test_the_commission_sees_every_organisations_figures(
    election: Election, people: dict[str, Persona], day: dict[str, Any]
) -> None:
    board = dashboard.build(people["cec"].user, election)
    by_code = {c.form.code: c for c in board.checklists}
    assert list(by_code) == ["opening", "voting", "counting"]
    opening = by_code["opening"]
    assert [q.code for q in opening.critical] == ["Q3", "Q4", "Q5"]
    assert rows(opening) == {
        "1": (2, {"Q3": 1, "Q4": 1, "Q5": 2}),
        "2": (1, {"Q3": 1, "Q4": 0, "Q5": 0}),
    }
    assert (opening.total.submissions, opening.total.alerts) == (3, {"Q3": 2, "Q4": 1, "Q5": 2})
    assert rows(by_code["voting"]) == {"1": (3, {"V2": 1, "V3": 0, "V4": 2, "V5": 0})}
    assert rows(by_code["counting"]) == {} and by_code["counting"].total.submissions == 0
    assert incidents(board.incidents) == {
        ("1", "ballot_stuffing"): {"reported": 1, "verified": 1},
        ("1", "intimidation"): {"reported": 1},
        ("2", "ballot_stuffing"): {"reported": 1},
    }
    assert board.incidents.statuses == {
        "reported": 3,
        "verified": 1,
        "rejected": 0,
        "escalated": 0,
        "resolved": 0,
    }


def test_a_coordinator_sees_only_their_organisations(
    election: Election, people: dict[str, Persona], day: dict[str, Any]
) -> None:
    fair = dashboard.build(people["applicant"].user, election)
    opening = fair.checklists[0]
    assert rows(opening) == {"1": (2, {"Q3": 1, "Q4": 1, "Q5": 2})}
    assert incidents(fair.incidents) == {
        ("1", "ballot_stuffing"): {"reported": 1, "verified": 1},
        ("1", "intimidation"): {"reported": 1},
    }
    other = dashboard.build(people["applicant2"].user, election)
    assert rows(other.checklists[0]) == {"2": (1, {"Q3": 1, "Q4": 0, "Q5": 0})}
    assert rows(other.checklists[1]) == {}
    assert incidents(other.incidents) == {("2", "ballot_stuffing"): {"reported": 1}}
    assert other.incidents.total == 1


def test_one_aggregation_per_summary_whatever_the_number_of_stations(
    election: Election, people: dict[str, Persona], day: dict[str, Any]
) -> None:
    tops = constituencies(election)
    with CaptureQueriesContext(connection) as summaries:
        dashboard.checklist_summaries(election, tops, None)
    # the checklists, then one aggregation per checklist
    assert len(summaries) == 1 + ChecklistForm.objects.filter(election=election).count()
    with CaptureQueriesContext(connection) as counted:
        dashboard.incident_summary(election, tops, None)
    assert len(counted) == 1


def test_the_api_and_the_page_show_the_summaries_scoped(
    election: Election, people: dict[str, Persona], day: dict[str, Any]
) -> None:
    url = f"/api/v1/elections/{election.slug}/observers/dashboard"

    def as_json(user: Any) -> ObserverDashboardOut:
        _, raw = ApiToken.issue(user, "tools")
        answer = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert answer.status_code == 200, answer.content
        return ObserverDashboardOut.model_validate(answer.json())

    fair = as_json(people["applicant"].user)
    opening = fair.checklists[0]
    assert [q.alert_when for q in opening.critical] == [["no"], ["no"], ["no"]]
    assert [(r.unit, r.submissions, r.alerts) for r in opening.constituencies] == [
        ("1", 2, {"Q3": 1, "Q4": 1, "Q5": 2})
    ]
    found = [(r.unit, r.category, r.statuses["verified"]) for r in fair.incidents.constituencies]
    assert found == [("1", "ballot_stuffing", 1), ("1", "intimidation", 0)]
    every = as_json(people["cec"].user)
    assert every.checklists[0].total.submissions == 3
    assert every.incidents.statuses["reported"] == 3

    page = Client()
    page.force_login(people["applicant2"].user)
    html = page.get(f"/staff/observers/{election.slug}/dashboard/").content.decode()
    assert 'data-checklist="opening"' in html and 'data-unit="2"' in html
    assert 'data-unit="1"' not in html  # Fair Count's constituency: not Other Org's business
    page.force_login(people["cec"].user)
    html = page.get(f"/staff/observers/{election.slug}/dashboard/", HTTP_ACCEPT_LANGUAGE="ru")
    text = html.content.decode()
    assert 'data-unit="1"' in text and 'data-unit="2"' in text
    assert 'data-category="intimidation"' in text


def test_alert_when_is_checked_in_the_definition() -> None:
    def one(question: dict[str, Any]) -> checklist.Checklist:
        return checklist.Checklist.from_dict(
            {"code": "x", "title": "X", "questions": [{"code": "A", "label": "a", **question}]}
        )

    assert one({"type": "yesno", "alert_when": "no"}).critical[0].alert_when == ("no",)
    choice = {"type": "choice", "values": ["a", "b", "c"]}
    assert one({**choice, "alert_when": ["b", "c"]}).critical[0].alert_when == ("b", "c")
    for bad in (
        {"type": "yesno", "alert_when": "perhaps"},
        {"type": "yesno", "alert_when": ["yes", "no"]},  # every answer alerts: meaningless
        {"type": "count", "alert_when": "0"},
        {**choice, "alert_when": ["d"]},
        {**choice, "alert_when": []},
    ):
        with pytest.raises(checklist.DefinitionError, match="alert_when"):
            one(bad)


def test_answered_checklists_take_new_markers_but_no_other_change(
    election: Election, people: dict[str, Persona], day: dict[str, Any]
) -> None:
    cec = people["cec"].user
    changed = checklist.builtin()[0].to_dict()
    for q in changed["questions"]:
        if q["code"] == "Q5":
            del q["alert_when"]
    field.install_checklists(election, actor=cec, definitions=[changed])
    board = dashboard.build(cec, election)
    assert [q.code for q in board.checklists[0].critical] == ["Q3", "Q4"]
    changed["questions"][0]["label"] = "Opened at"
    with pytest.raises(IntakeError) as exc:
        field.install_checklists(election, actor=cec, definitions=[changed])
    assert exc.value.code == "checklist_answered"
