"""Observers in the field: deployment by the coordinator within the accreditation's
territory, check-ins, checklists defined as data (questions, types, allowed values, QA rules in
the protocol schema's expression language), incidents with evidence and their workflow. Every
change is audited and refused for the wrong role or territory; bad input names the field and
stores nothing; the API dedupes a phone's resent queue by Idempotency-Key."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from secki.accounts.access import AccessDenied
from secki.accounts.models import AuditRecord, Membership, Role
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.observers import actions, checklist, coverage, field
from secki.observers.models import (
    Accreditation,
    Assignment,
    CheckIn,
    ChecklistSubmission,
    Incident,
    IncidentEvent,
    IncidentEvidence,
    IncidentStatus,
)
from tests.observers.conftest import PNG, document, logged_in
from tests.personas import Persona

pytestmark = pytest.mark.django_db

TODAY = dt.datetime.now(dt.UTC).date()
#: an hour ago, with its offset
OCCURRED = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(timespec="minutes")


def accredit(
    election: Election, rep: Persona, names: str, *, unit: str = "1", org: str = "Fair Count"
) -> list[Accreditation]:
    app = actions.apply(
        election,
        actor=rep.user,
        name=org,
        kind="domestic",
        contact="c",
        unit=unit,
        observers="5",
        documents=[document()],
    )
    return actions.accept(
        app,
        actor=None,
        valid_from=(TODAY - dt.timedelta(days=2)).isoformat(),
        valid_until=(TODAY + dt.timedelta(days=2)).isoformat(),
        names=names,
    )


@pytest.fixture
def team(election: Election, people: dict[str, Persona]) -> list[Accreditation]:
    field.install_checklists(election, actor=people["cec"].user)
    return accredit(election, people["applicant"], "Aysel; watcher\nRashad; watcher2")


def audited(prefix: str = "observers.") -> list[str]:
    return list(
        AuditRecord.objects.filter(action__startswith=prefix)
        .exclude(action__in=["observers.applied", "observers.accepted", "observers.checklists"])
        .values_list("action", flat=True)
    )


def snapshot() -> tuple[int, ...]:
    return (
        Assignment.objects.count(),
        CheckIn.objects.count(),
        ChecklistSubmission.objects.count(),
        Incident.objects.count(),
        IncidentEvidence.objects.count(),
        IncidentEvent.objects.count(),
        len(audited()),
    )


OPENING = {"Q1": "07:55", "Q2": "5", "Q3": "yes", "Q4": "yes", "Q5": "no", "Q6": ""}


# -- deployment -----------------------------------------------------------------------------


def test_the_coordinator_posts_observers_within_the_territory(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    rep = people["applicant"].user
    first = field.assign(election, actor=rep, accreditation="OBS-000001", station="1-1")
    assert first.station is not None and first.station.code == "1-1"
    # a new post ends the last one: one current post per observer
    second = field.assign(election, actor=rep, accreditation="OBS-000001", station="1-2")
    first.refresh_from_db()
    assert first.ended_at is not None and second.ended_at is None
    # a mobile team in the accreditation's unit
    field.assign(election, actor=rep, accreditation="OBS-000002", unit="1")
    assert audited() == ["observers.assigned"] * 3
    actions.revoke(team[1], "left the organisation", actor=None)
    before = snapshot()
    # outside the territory (constituency 2), by someone else, another organisation's, bad input
    with pytest.raises(AccessDenied) as denied:
        field.assign(election, actor=rep, accreditation="OBS-000001", station="2-1")
    assert denied.value.code == "forbidden_territory"
    with pytest.raises(AccessDenied):
        field.assign(election, actor=people["cec"].user, accreditation="OBS-000001", station="1-1")
    with pytest.raises(AccessDenied):
        field.assign(
            election, actor=people["watcher"].user, accreditation="OBS-000001", station="1-1"
        )
    accredit(election, people["applicant2"], "Other", org="Other Org")
    with pytest.raises(AccessDenied) as denied:
        field.assign(election, actor=rep, accreditation="OBS-000003", station="1-1")
    assert denied.value.code == "forbidden_role"
    for kwargs, name in (
        ({"accreditation": "OBS-999999", "station": "1-1"}, "accreditation"),
        ({"accreditation": "OBS-000001", "station": "9-9"}, "station"),
        ({"accreditation": "OBS-000001", "station": "1-1", "unit": "1"}, "station"),
        ({"accreditation": "OBS-000001"}, "station"),
        ({"accreditation": "OBS-000001", "unit": "nowhere"}, "unit"),
    ):
        with pytest.raises(IntakeError) as exc:
            field.assign(election, actor=rep, **kwargs)
        assert exc.value.field == name, kwargs
    # a revoked accreditation is not posted
    with pytest.raises(IntakeError) as exc:
        field.assign(election, actor=rep, accreditation="OBS-000002", station="1-1")
    assert exc.value.code == "inactive_accreditation"
    assert snapshot() == before


def test_check_ins_and_coverage(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    rep, aysel, rashad = (people[n].user for n in ("applicant", "watcher", "watcher2"))
    # not posted yet: refused
    with pytest.raises(AccessDenied) as denied:
        field.check_in(election, actor=aysel, station="1-1", kind="arrival")
    assert denied.value.code == "not_assigned"
    field.assign(election, actor=rep, accreditation="OBS-000001", station="1-1")
    field.assign(election, actor=rep, accreditation="OBS-000002", unit="1")
    field.check_in(election, actor=aysel, station="1-1", kind="arrival", at="2000-01-01T07:30")
    # a mobile team checks in at any station of its unit
    field.check_in(election, actor=rashad, station="1-2", kind="arrival")
    field.check_in(election, actor=rashad, station="1-2", kind="departure")
    before = snapshot()
    for kwargs, name in (
        ({"station": "1-1", "kind": "lunch"}, "kind"),
        ({"station": "", "kind": "arrival"}, "station"),
        ({"station": "1-1", "kind": "arrival", "at": "yesterday"}, "at"),
        ({"station": "1-1", "kind": "arrival", "at": "2999-01-01T07:00"}, "at"),
    ):
        with pytest.raises(IntakeError) as exc:
            field.check_in(election, actor=aysel, **kwargs)
        assert exc.value.field == name, kwargs
    with pytest.raises(AccessDenied):  # not her post
        field.check_in(election, actor=aysel, station="1-2", kind="arrival")
    with pytest.raises(AccessDenied):  # outside her accreditation's territory
        field.check_in(election, actor=aysel, station="2-1", kind="arrival")
    with pytest.raises(AccessDenied):  # no accreditation
        field.check_in(election, actor=rep, station="1-1", kind="arrival")
    assert snapshot() == before
    assert audited() == ["observers.assigned"] * 2 + [
        "observers.arrival",
        "observers.arrival",
        "observers.departure",
    ]
    found = coverage.coverage(election)
    by_code = {row.station.code: row for row in found.stations}
    assert (by_code["1-1"].posted, by_code["1-1"].mobile, by_code["1-1"].present) == (1, 1, 1)
    assert (by_code["1-2"].posted, by_code["1-2"].mobile, by_code["1-2"].present) == (0, 1, 0)
    assert not by_code["2-1"].covered
    assert (found.total.stations, found.total.covered, found.total.present) == (4, 2, 1)
    assert [(u.unit.code if u.unit else None, u.covered) for u in found.units] == [
        ("1", 2),
        ("2", 0),
    ]
    # the public page and API: counts only, no observer's name
    page = Client().get(reverse("portal:observer_coverage", args=[election.slug]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Aysel" not in text and 'data-station="2-1"' in text and "<svg" in text
    api = Client().get(f"/api/v1/elections/{election.slug}/observers/coverage").json()
    assert (api["stations"], api["covered"], api["present"], api["observers"]) == (4, 2, 1, 1)


# -- checklists -----------------------------------------------------------------------------


def test_builtin_checklists_are_valid_and_round_trip() -> None:
    forms = checklist.builtin()
    assert [f.code for f in forms] == ["opening", "voting", "counting"]
    for form in forms:
        assert checklist.Checklist.from_dict(form.to_dict()).to_dict() == form.to_dict()


@pytest.mark.parametrize(
    ("definition", "words"),
    [
        ({"code": "x", "title": "X", "questions": []}, "at least one question"),
        (
            {"code": "x", "title": "X", "questions": [{"code": "A", "label": "a", "type": "int"}]},
            "type must be",
        ),
        (
            {
                "code": "x",
                "title": "X",
                "questions": [{"code": "A", "label": "a", "type": "count"}],
                "rules": [{"code": "r", "expression": "A > B", "message": "m"}],
            },
            "B is not a question",
        ),
        (
            {
                "code": "x",
                "title": "X",
                "questions": [{"code": "A", "label": "a", "type": "count"}],
                "rules": [{"code": "r", "expression": "__import__('os')", "message": "m"}],
            },
            "not allowed",
        ),
    ],
)
def test_bad_definitions_are_refused(definition: dict[str, Any], words: str) -> None:
    with pytest.raises(checklist.DefinitionError, match=words):
        checklist.Checklist.from_dict(definition)


def test_checklist_answers_checked_by_field_and_rules(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    aysel = people["watcher"].user
    row = field.submit_checklist(
        election, actor=aysel, station="1-1", form="opening", answers={**OPENING, "Q3": "no"}
    )
    # the answers that matter come back as flags; yes/no and times are normalised
    assert row.flags == ["empty_box"]
    assert row.answers["Q1"] == "07:55" and row.answers["Q3"] == "no"
    assert "Q6" not in row.answers
    before = snapshot()
    for answers, name, code in (
        ({**OPENING, "Q2": "many"}, "Q2", "invalid_answer"),
        ({**OPENING, "Q2": "51"}, "Q2", "out_of_range"),
        ({**OPENING, "Q3": "perhaps"}, "Q3", "invalid_answer"),
        ({**OPENING, "Q1": "25:00"}, "Q1", "invalid_answer"),
        ({k: v for k, v in OPENING.items() if k != "Q4"}, "Q4", "missing_answer"),
        ({**OPENING, "Q9": "1"}, "Q9", "unknown_question"),
        ({**OPENING, "Q1": "05:00"}, "Q1", "rule_failed"),  # the error rule opening_time
        ({**OPENING, "Q6": "bad\x00text"}, "Q6", "invalid_text"),
    ):
        with pytest.raises(IntakeError) as exc:
            field.submit_checklist(
                election, actor=aysel, station="1-1", form="opening", answers=answers
            )
        assert (exc.value.field, exc.value.code) == (name, code), answers
    with pytest.raises(IntakeError) as exc:
        field.submit_checklist(election, actor=aysel, station="1-1", form="closing", answers={})
    assert exc.value.field == "form"
    with pytest.raises(AccessDenied):  # outside her territory
        field.submit_checklist(
            election, actor=aysel, station="2-1", form="opening", answers=OPENING
        )
    with pytest.raises(AccessDenied):  # an official is no observer
        field.submit_checklist(
            election, actor=people["cec"].user, station="1-1", form="opening", answers=OPENING
        )
    assert snapshot() == before
    # a choice is its position in rules: "rarely" (3) raises the secrecy warning
    voting = field.submit_checklist(
        election,
        actor=aysel,
        station="1-1",
        form="voting",
        answers={"V1": 120, "V2": True, "V3": "no", "V4": "rarely", "V5": "yes"},
    )
    assert voting.flags == ["stuffing", "secrecy"]


def test_checklists_are_installed_by_the_commission_only(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    with pytest.raises(AccessDenied):
        field.install_checklists(election, actor=people["applicant"].user)
    with pytest.raises(IntakeError) as exc:
        field.install_checklists(
            election,
            actor=people["cec"].user,
            definitions=[{"code": "x", "title": "X", "questions": []}],
        )
    assert exc.value.field == "definition"
    field.submit_checklist(
        election, actor=people["watcher"].user, station="1-1", form="opening", answers=OPENING
    )
    changed = checklist.builtin()[0].to_dict()
    changed["title"] = "Opening (new)"
    with pytest.raises(IntakeError) as exc:
        field.install_checklists(election, actor=people["cec"].user, definitions=[changed])
    assert exc.value.code == "checklist_answered"


# -- incidents ------------------------------------------------------------------------------


def incident(election: Election, who: Persona, **over: Any) -> Incident:
    fields: dict[str, Any] = {
        "station": "1-1",
        "category": "ballot_stuffing",
        "occurred_at": OCCURRED,
        "description": "A man put a stack of ballots into the box at 11:20.",
    }
    fields.update(over)
    return field.report_incident(election, actor=who.user, **fields)


def test_incident_with_evidence_and_its_workflow(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    photo = SimpleUploadedFile("box.png", PNG, content_type="image/png")
    row = incident(election, people["watcher"], evidence=[photo])
    assert row.status == IncidentStatus.REPORTED
    assert row.evidence.get().sha256 == hashlib.sha256(PNG).hexdigest()
    rep, cec = people["applicant"].user, people["cec"].user
    # the wrong role at each step
    with pytest.raises(AccessDenied):
        field.move_incident(row, "verified", actor=people["watcher"].user)
    with pytest.raises(AccessDenied):
        field.move_incident(row, "verified", actor=cec)
    with pytest.raises(IntakeError) as exc:  # not a step from "reported"
        field.move_incident(row, "resolved", actor=rep, note="x")
    assert (exc.value.code, exc.value.field) == ("invalid_transition", "status")
    field.move_incident(row, "verified", actor=rep, note="seen by two of ours")
    with pytest.raises(IntakeError) as exc:
        field.move_incident(row, "escalated", actor=rep)
    assert exc.value.field == "note"
    field.move_incident(row, "escalated", actor=rep, note="to the constituency commission")
    # once escalated it is the commission's, over the station's territory
    with pytest.raises(AccessDenied):
        field.move_incident(row, "resolved", actor=rep, note="x")
    south = people["outsider"].user
    Membership.objects.create(
        user=south, election=election, role=Role.CEC_ADMIN, unit=election.units.get(code="2")
    )
    with pytest.raises(AccessDenied) as denied:
        field.move_incident(row, "resolved", actor=south, note="x")
    assert denied.value.code == "forbidden_territory"
    field.move_incident(row, "resolved", actor=cec, note="the box was sealed and set aside")
    row.refresh_from_db()
    assert row.status == IncidentStatus.RESOLVED
    assert [(e.before, e.after) for e in row.events.all()] == [
        ("", "reported"),
        ("reported", "verified"),
        ("verified", "escalated"),
        ("escalated", "resolved"),
    ]
    assert audited() == [
        "observers.incident",
        "observers.incident_verified",
        "observers.incident_escalated",
        "observers.incident_resolved",
    ]
    with pytest.raises(IntakeError) as exc:
        field.add_evidence(row, [photo], actor=people["watcher"].user)
    assert exc.value.code == "incident_closed"


def test_bad_incidents_name_the_field_and_store_nothing(
    election: Election, people: dict[str, Persona], team: list[Accreditation], media: Any
) -> None:
    before = snapshot()
    watcher = people["watcher"]
    for over, name in (
        ({"category": "fraud"}, "category"),
        ({"occurred_at": ""}, "occurred_at"),
        ({"occurred_at": "noon"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T10:00"}, "occurred_at"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 4001}, "description"),
        ({"station": "nowhere"}, "station"),
        ({"evidence": [SimpleUploadedFile("a.png", b"not an image at all")]}, "evidence"),
        (
            {
                "evidence": [
                    SimpleUploadedFile(f"{i}.png", PNG, content_type="image/png") for i in range(6)
                ]
            },
            "evidence",
        ),
    ):
        with pytest.raises(IntakeError) as exc:
            incident(election, watcher, **over)
        assert exc.value.field == name, over
    with pytest.raises(AccessDenied):
        incident(election, watcher, station="2-1")
    assert snapshot() == before
    assert not list(media.rglob("*.png")) if media.exists() else True


# -- the API --------------------------------------------------------------------------------


def api(who: Persona, path: str, body: Any, key: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {who.token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return Client().post(path, json.dumps(body), content_type="application/json", **headers)


def test_api_submissions_dedupe_by_idempotency_key(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    from secki.accounts.models import ApiToken

    for name in ("applicant", "watcher"):
        _, raw = ApiToken.issue(people[name].user, "phone")
        people[name] = Persona(name, people[name].user, raw)
    base = f"/api/v1/elections/{election.slug}/observers"
    made = api(
        people["applicant"],
        f"{base}/assignments",
        {"accreditation": "OBS-000001", "station": "1-1"},
    )
    assert made.status_code == 201, made.content
    arrival = {"station": "1-1", "kind": "arrival"}
    first = api(people["watcher"], f"{base}/checkins", arrival, key="phone-1")
    again = api(people["watcher"], f"{base}/checkins", arrival, key="phone-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and first.json() == again.json()
    assert CheckIn.objects.count() == 1
    answers = {"form": "opening", "station": "1-1", "answers": {**OPENING, "Q3": False}}
    sent = api(people["watcher"], f"{base}/checklist-answers", answers, key="phone-2")
    assert sent.status_code == 201 and sent.json()["flags"] == ["empty_box"]
    api(people["watcher"], f"{base}/checklist-answers", answers, key="phone-2")
    assert ChecklistSubmission.objects.count() == 1
    bad = api(
        people["watcher"],
        f"{base}/checklist-answers",
        {**answers, "answers": {**OPENING, "Q2": "lots"}},
        key="phone-3",
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "Q2"
    assert ChecklistSubmission.objects.count() == 1
    report = api(
        people["watcher"],
        f"{base}/incidents",
        {
            "station": "1-1",
            "category": "intimidation",
            "occurred_at": OCCURRED,
            "description": "Voters told whom to vote for.",
        },
    )
    assert report.status_code == 201, report.content
    moved = api(
        people["applicant"],
        f"{base}/incidents/{report.json()['id']}/status",
        {"status": "rejected", "note": "not confirmed"},
    )
    assert moved.status_code == 200 and moved.json()["status"] == "rejected"
    refused = api(
        people["watcher"],
        f"{base}/incidents/{report.json()['id']}/status",
        {"status": "resolved", "note": "x"},
    )
    assert refused.status_code == 403
    forms = Client().get(f"{base}/checklists").json()
    assert [f["code"] for f in forms] == ["opening", "voting", "counting"]


def test_field_pages(
    election: Election, people: dict[str, Persona], team: list[Accreditation]
) -> None:
    rep, watcher = logged_in(people["applicant"]), logged_in(people["watcher"])
    deploy = reverse("field:deploy", args=[election.slug])
    answer = rep.post(deploy, {"accreditation": "OBS-000001", "station": "2-1"})
    assert answer.status_code == 403 and Assignment.objects.count() == 0
    answer = rep.post(deploy, {"accreditation": "OBS-000001", "station": "1-1"})
    assert answer.status_code == 302 and Assignment.objects.count() == 1
    roster = rep.get(deploy + "?unit=1").content.decode()
    assert "OBS-000001" in roster and "Aysel" in roster
    assert watcher.get(deploy).status_code == 403
    home = watcher.get(reverse("field:home", args=[election.slug]))
    assert home.status_code == 200 and b"1-1" in home.content
    form = reverse("field:checklist", args=[election.slug, "opening"])
    assert watcher.get(form).status_code == 200
    bad = watcher.post(form, {**OPENING, "station": "1-1", "Q2": "x"})
    assert bad.status_code == 422 and b'data-field="Q2"' in bad.content
    good = watcher.post(form, {**OPENING, "station": "1-1"})
    assert good.status_code == 302 and ChecklistSubmission.objects.count() == 1
    sw = watcher.get(reverse("field:worker", args=[election.slug]))
    assert sw.status_code == 200 and sw["Content-Type"].startswith("text/javascript")
    report = watcher.post(
        reverse("field:incident", args=[election.slug]),
        {
            "station": "1-1",
            "category": "other",
            "occurred_at": OCCURRED,
            "description": "d",
            "evidence": SimpleUploadedFile("e.png", PNG, content_type="image/png"),
        },
    )
    assert report.status_code == 302 and IncidentEvidence.objects.count() == 1
    board = reverse("field:incidents", args=[election.slug])
    listed = rep.get(board).content.decode()
    assert "1-1" in listed
    pk = Incident.objects.get().pk
    assert rep.post(board, {"incident": pk, "status": "verified", "note": ""}).status_code == 302
    assert Incident.objects.get().status == "verified"
    # the commission sees the incidents of the territory it manages only
    Membership.objects.create(
        user=people["outsider"].user,
        election=election,
        role=Role.CEC_ADMIN,
        unit=election.units.get(code="2"),
    )
    assert f'id="incident-{pk}"' not in logged_in(people["outsider"]).get(board).content.decode()
    assert f'id="incident-{pk}"' in logged_in(people["cec"]).get(board).content.decode()


def test_every_builtin_checklist_word_is_marked_for_translation() -> None:
    from secki.observers.labels import LABELS

    for form in checklist.builtin():
        words = [form.title]
        for q in form.questions:
            words += [q.label, *q.values]
        words += [r.message for r in form.rules]
        assert set(words) <= set(LABELS), form.code
