"""The accreditation lifecycle: apply → vet (ask for more) → accept → badge → revoke; each
state change audited, logged publicly and refused for the wrong role or territory; bad input
named by field with nothing stored; the public registry and the badge check page."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.urls import reverse

from secki.accounts.access import AccessDenied
from secki.accounts.models import AuditRecord
from secki.elections.models import Election, Unit
from secki.errors import IntakeError
from secki.ledger.models import LedgerEntry
from secki.observers import actions
from secki.observers.models import (
    Accreditation,
    Application,
    ApplicationStatus,
    Document,
    Organisation,
)
from tests.observers.conftest import PDF, PNG, document, logged_in
from tests.personas import Persona

pytestmark = pytest.mark.django_db

TODAY = dt.datetime.now(dt.UTC).date()
FROM = (TODAY - dt.timedelta(days=5)).isoformat()
UNTIL = (TODAY + dt.timedelta(days=30)).isoformat()


def state() -> tuple[int, ...]:
    return (
        Organisation.objects.count(),
        Application.objects.count(),
        Document.objects.count(),
        Accreditation.objects.count(),
        AuditRecord.objects.filter(action__startswith="observers.").count(),
        LedgerEntry.objects.filter(subject="observers").count(),
    )


def apply(election: Election, who: Persona, **over: Any) -> Application:
    fields: dict[str, Any] = {
        "name": "Citizens for Fair Counts",
        "kind": "domestic",
        "contact": "office@example.org",
        "unit": "1",
        "observers": "3",
        "names": "Aysel Mammadova\nRashad Aliyev",
        "documents": [document()],
    }
    fields.update(over)
    return actions.apply(election, actor=who.user, **fields)


def facts(kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(e.body)
        for e in LedgerEntry.objects.filter(subject="observers", kind=kind).order_by("index")
    ]


def test_the_whole_lifecycle(election: Election, people: dict[str, Persona]) -> None:
    app = apply(election, people["applicant"])
    assert app.status == ApplicationStatus.SUBMITTED
    doc = app.documents.get()
    assert doc.sha256 == __import__("hashlib").sha256(PDF).hexdigest()
    assert facts("observers.applied")[0]["documents"] == [doc.sha256]
    assert AuditRecord.objects.get(action="observers.applied").actor == people["applicant"].user
    # the commission opens the document to vet it; nobody else may
    doc_url = reverse("observers:document", args=[election.slug, doc.pk])
    download = logged_in(people["cec"]).get(doc_url)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert "sandbox" in download["Content-Security-Policy"]
    assert logged_in(people["applicant2"]).get(doc_url).status_code == 403

    # vetting: ask for more, then accept
    actions.ask_more(app, "the charter is not signed", actor=people["cec"].user)
    app.refresh_from_db()
    assert (app.status, app.reason) == (ApplicationStatus.MORE_INFO, "the charter is not signed")
    # the organisation answers with a signed charter (through its page); nobody else may
    with pytest.raises(AccessDenied):
        actions.add_documents(app, [document("x.png", PNG)], actor=people["applicant2"].user)
    page = reverse("observers:application", args=[election.slug, app.pk])
    answer = logged_in(people["applicant"]).post(
        page,
        {"decision": "documents", "note": "signed", "documents": document("signed.png", PNG)},
    )
    assert answer.status_code == 302
    app.refresh_from_db()
    assert (app.status, app.documents.count()) == (ApplicationStatus.SUBMITTED, 2)
    assert facts("observers.documents_added")[0]["application"] == app.pk
    with pytest.raises(IntakeError) as exc:
        actions.add_documents(app, [document("y.png", PNG)], actor=people["applicant"].user)
    assert exc.value.code == "not_requested"
    issued = actions.accept(
        app,
        actor=people["cec"].user,
        valid_from=FROM,
        valid_until=UNTIL,
        names="Aysel Mammadova; watcher\nRashad Aliyev",
    )
    assert [a.number for a in issued] == ["OBS-000001", "OBS-000002"]
    assert issued[0].account == people["watcher"].user
    assert issued[0].unit == Unit.objects.get(election=election, code="1")
    accepted = facts("observers.accredited")[0]
    assert accepted["accreditations"] == ["OBS-000001", "OBS-000002"]
    assert "Aysel" not in json.dumps(accepted)  # no names in the public log
    assert [r.action for r in AuditRecord.objects.filter(action__startswith="observers.")] == [
        "observers.applied",
        "observers.more_info",
        "observers.documents_added",
        "observers.accepted",
    ]
    # a decided application is not decided again
    with pytest.raises(IntakeError) as exc:
        actions.reject(app, "late", actor=people["cec"].user)
    assert exc.value.code == "already_decided"

    # the badge: printable, with a QR code of the public check page
    badge = logged_in(people["watcher"]).get(
        reverse("observers:badge", args=[election.slug, "OBS-000001"])
    )
    assert badge.status_code == 200
    text = badge.content.decode()
    check_url = reverse("portal:observer_check", args=[election.slug, "OBS-000001"])
    assert check_url in text and "<svg" in text and "OBS-000001" in text
    # … which is not anybody's
    other = logged_in(people["watcher2"]).get(
        reverse("observers:badge", args=[election.slug, "OBS-000001"])
    )
    assert other.status_code == 403

    # the public check: valid, where, until when; no name unless the settings allow it
    page = logged_in(people["outsider"]).get(check_url).content.decode()
    assert 'data-state="valid"' in page and "North" in page and UNTIL in page
    assert "Aysel" not in page
    actions.set_publish_names(election, True, actor=people["cec"].user)
    assert "Aysel Mammadova" in logged_in(people["outsider"]).get(check_url).content.decode()

    # the public registry: the organisation and its observers, by territory
    registry = logged_in(people["outsider"]).get(reverse("portal:observers", args=[election.slug]))
    body = registry.content.decode()
    assert "Citizens for Fair Counts" in body and 'id="by-territory"' in body
    assert "Rashad" not in body

    # revocation: with a reason, audited, public, once
    with pytest.raises(IntakeError) as exc:
        actions.revoke(issued[0], "  ", actor=people["cec"].user)
    assert exc.value.field == "reason"
    actions.revoke(issued[0], "left the station with ballots", actor=people["cec"].user)
    assert facts("observers.revoked") == [
        {
            **facts("observers.revoked")[0],
            "accreditation": "OBS-000001",
            "reason": "left the station with ballots",
        }
    ]
    page = logged_in(people["outsider"]).get(check_url).content.decode()
    assert 'data-state="revoked"' in page and "left the station with ballots" in page
    with pytest.raises(IntakeError) as exc:
        actions.revoke(issued[0], "again", actor=people["cec"].user)
    assert exc.value.code == "already_revoked"
    assert AuditRecord.objects.filter(action="observers.revoked").count() == 1
    unknown = logged_in(people["outsider"]).get(
        reverse("portal:observer_check", args=[election.slug, "OBS-999999"])
    )
    assert unknown.status_code == 404 and 'data-state="unknown"' in unknown.content.decode()


@pytest.mark.parametrize("who", ["con1", "st11", "supervisor", "observer", "outsider", "applicant"])
def test_decisions_are_refused_for_the_wrong_role(
    election: Election, people: dict[str, Persona], who: str
) -> None:
    app = apply(election, people["applicant"])
    before = state()
    for decide in (
        lambda: actions.accept(app, actor=people[who].user, valid_from=FROM, valid_until=UNTIL),
        lambda: actions.reject(app, "no", actor=people[who].user),
        lambda: actions.ask_more(app, "more", actor=people[who].user),
        lambda: actions.set_publish_names(election, True, actor=people[who].user),
    ):
        with pytest.raises(AccessDenied) as exc:
            decide()
        assert exc.value.code == "forbidden_role"
    issued = actions.accept(app, actor=people["cec"].user, valid_from=FROM, valid_until=UNTIL)
    with pytest.raises(AccessDenied):
        actions.revoke(issued[0], "no", actor=people[who].user)
    assert Accreditation.objects.filter(revoked_at__isnull=False).count() == 0
    assert before[1] == Application.objects.count()


def test_officials_cannot_apply_and_pages_refuse_the_wrong_role(
    election: Election, people: dict[str, Persona]
) -> None:
    for who in ("cec", "con1", "st11", "supervisor"):
        with pytest.raises(AccessDenied) as exc:
            apply(election, people[who])
        assert exc.value.code == "forbidden_role"
    app = apply(election, people["applicant"])
    url = reverse("observers:application", args=[election.slug, app.pk])
    # the applicant sees the application but cannot decide on it
    response = logged_in(people["applicant"]).post(
        url, {"decision": "accept", "valid_from": FROM, "valid_until": UNTIL}
    )
    assert response.status_code == 403
    assert Application.objects.get().status == ApplicationStatus.SUBMITTED
    assert logged_in(people["applicant2"]).get(url).status_code == 403
    # the commission decides through the page
    response = logged_in(people["cec"]).post(
        url, {"decision": "reject", "reason": "not registered as an NGO"}
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert (app.status, app.reason) == (ApplicationStatus.REJECTED, "not registered as an NGO")
    assert AuditRecord.objects.get(action="observers.rejected").actor == people["cec"].user
    assert facts("observers.decision")[-1]["decision"] == "rejected"


def test_a_constituency_manager_decides_only_in_its_territory(
    election: Election, people: dict[str, Persona]
) -> None:
    from secki.accounts.models import Membership, Role

    north = Unit.objects.get(election=election, code="1")
    Membership.objects.create(
        user=people["watcher2"].user, election=election, role=Role.CEC_ADMIN, unit=north
    )
    south_app = apply(election, people["applicant"], unit="2")
    with pytest.raises(AccessDenied) as exc:
        actions.accept(south_app, actor=people["watcher2"].user, valid_from=FROM, valid_until=UNTIL)
    assert exc.value.code == "forbidden_territory"
    north_app = apply(election, people["applicant"], unit="1")
    assert actions.accept(
        north_app, actor=people["watcher2"].user, valid_from=FROM, valid_until=UNTIL
    )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"kind": "galactic"}, "kind"),
        ({"contact": ""}, "contact"),
        ({"unit": "99"}, "unit"),
        ({"observers": ""}, "observers"),
        ({"observers": "three"}, "observers"),
        ({"observers": "0"}, "observers"),
        ({"observers": "1", "names": "A\nB"}, "names"),
        ({"documents": []}, "documents"),
        ({"documents": [document("evil.pdf", b"MZ\x90\x00 not a pdf")]}, "documents"),
        ({"documents": [document("cut.png", PNG[:20])]}, "documents"),
    ],
)
def test_bad_applications_are_refused_by_field_and_nothing_is_stored(
    election: Election, people: dict[str, Persona], override: dict[str, Any], field: str
) -> None:
    before = state()
    with pytest.raises(IntakeError) as exc:
        apply(election, people["applicant"], **override)
    assert exc.value.field == field, exc.value.message
    assert state() == before


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"valid_from": ""}, "valid_from"),
        ({"valid_from": "07.02.2024"}, "valid_from"),
        ({"valid_until": "2000-01-01"}, "valid_until"),
        ({"valid_until": "2099-01-01"}, "valid_until"),
        ({"names": "A\nB\nC\nD"}, "names"),
        ({"names": "A; nobody-here"}, "names"),
        ({"names": ""}, "names"),
    ],
)
def test_bad_acceptances_are_refused_by_field_and_nothing_is_stored(
    election: Election, people: dict[str, Persona], override: dict[str, Any], field: str
) -> None:
    app = apply(election, people["applicant"])
    before = state()
    fields: dict[str, Any] = {"valid_from": FROM, "valid_until": UNTIL, "names": None}
    fields.update(override)
    with pytest.raises(IntakeError) as exc:
        actions.accept(app, actor=people["cec"].user, **fields)
    assert exc.value.field == field, exc.value.message
    assert state() == before
    app.refresh_from_db()
    assert app.status == ApplicationStatus.SUBMITTED


def test_the_application_form_names_the_field_and_stores_nothing(
    election: Election, people: dict[str, Persona]
) -> None:
    client = logged_in(people["applicant"])
    url = reverse("observers:apply", args=[election.slug])
    assert client.get(url).status_code == 200
    before = state()
    response = client.post(
        url,
        {
            "name": "Watchers",
            "kind": "domestic",
            "contact": "x",
            "observers": "two",
            "documents": document(),
        },
    )
    assert response.status_code == 422
    assert 'data-field="observers"' in response.content.decode()
    assert state() == before
    response = client.post(
        url,
        {
            "name": "Watchers",
            "kind": "international",
            "contact": "x",
            "observers": "2",
            "unit": "2",
            "documents": [document(), document("photo.png", PNG)],
        },
    )
    assert response.status_code == 302
    app = Application.objects.get()
    assert app.organisation.kind == "international" and app.documents.count() == 2


@pytest.mark.parametrize("language", ["en", "az", "ru"])
def test_pages_in_every_language(
    election: Election, people: dict[str, Persona], language: str
) -> None:
    app = apply(election, people["applicant"])
    actions.accept(
        app, actor=people["cec"].user, valid_from=FROM, valid_until=UNTIL, names="A; watcher"
    )
    cec = logged_in(people["cec"])
    watcher = logged_in(people["watcher"])
    for client in (cec, watcher):
        client.cookies["django_language"] = language
    dashboard = cec.get(reverse("staff:dashboard")).content.decode()
    assert reverse("observers:overview", args=[election.slug]) in dashboard
    pages = [
        (cec, reverse("observers:overview", args=[election.slug])),
        (cec, reverse("observers:application", args=[election.slug, app.pk])),
        (watcher, reverse("observers:badge", args=[election.slug, "OBS-000001"])),
        (watcher, reverse("observers:copy", args=[election.slug])),
        (watcher, reverse("portal:observers", args=[election.slug])),
        (watcher, reverse("portal:observer_check", args=[election.slug, "OBS-000001"])),
        (watcher, reverse("portal:observer_copies", args=[election.slug])),
        (logged_in(people["applicant"]), reverse("observers:upload", args=[election.slug])),
    ]
    for client, url in pages:
        if client is not cec and client is not watcher:
            client.cookies["django_language"] = language
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert f'<html lang="{language}"' in body, url
        assert 'name="viewport" content="width=device-width' in body
    word = {
        "en": "Accredited observers",
        "az": "Akkreditə olunmuş müşahidəçilər",
        "ru": "Аккредитованные наблюдатели",
    }[language]
    registry = watcher.get(reverse("portal:observers", args=[election.slug]))
    assert word in registry.content.decode()
