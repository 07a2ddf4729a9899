"""API tokens page (create once-shown keys, revoke) and the dashboard."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from secki.accounts.models import ApiToken, hash_token
from secki.elections.models import Election
from tests.staff.conftest import Personas, db_state, form_values

pytestmark = pytest.mark.django_db


def api_submit(election: Election, raw: str) -> int:
    # counts as JSON numbers, the completion time L17 as text
    values = {k: v if k == "L17" else int(v) for k, v in form_values().items() if v}
    response = Client().post(
        f"/api/v1/elections/{election.slug}/protocols",
        json.dumps({"station": "1-1", "values": values}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    return response.status_code


def test_create_use_and_revoke_a_token(election: Election, personas: Personas) -> None:
    client = personas.client("op11")
    assert "You have no API tokens" in client.get("/staff/tokens/").content.decode()
    response = client.post("/staff/tokens/", {"name": "station laptop"})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    raw = response.context["raw"]
    assert raw.startswith("secki_")
    assert raw in response.content.decode()
    token = ApiToken.objects.get(user=personas["op11"])
    assert token.name == "station laptop" and token.key_hash == hash_token(raw)
    assert raw not in client.get("/staff/tokens/").content.decode()  # shown once only

    revoke = f"/staff/tokens/{token.pk}/revoke/"
    # another user can neither see nor revoke it
    assert "station laptop" not in personas.client("north").get("/staff/tokens/").content.decode()
    assert personas.client("north").post(revoke).status_code == 404
    # the list's "Revoke…" opens a confirmation; only its POST revokes
    assert f'href="{revoke}"' in client.get("/staff/tokens/").content.decode()
    confirm = client.get(revoke)
    assert confirm.status_code == 200 and 'id="revoke"' in confirm.content.decode()
    assert "station laptop" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None

    assert client.post(revoke).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in client.get("/staff/tokens/").content.decode()
    before = db_state()
    assert api_submit(election, raw) == 401
    assert db_state() == before


def test_a_live_token_opens_the_api(election: Election, personas: Personas) -> None:
    response = personas.client("op11").post("/staff/tokens/", {"name": "laptop"})
    assert api_submit(election, response.context["raw"]) == 201


def test_a_token_records_its_last_use_at_most_once_a_minute(
    election: Election, personas: Personas
) -> None:
    raw = personas.client("op11").post("/staff/tokens/", {"name": "laptop"}).context["raw"]
    token = ApiToken.objects.get(user=personas["op11"])
    assert token.last_used_at is None

    def read() -> None:
        response = Client().get(
            f"/api/v1/elections/{election.slug}/protocols/1-1",
            headers={"Authorization": f"Bearer {raw}"},
        )
        assert response.status_code in (200, 404)

    read()
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    read()  # within the minute: left as it was
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    read()
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first
    # a deactivated account's token is refused and not marked as used
    before = token.last_used_at - dt.timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=before)
    User.objects.filter(pk=personas["op11"].pk).update(is_active=False)
    assert api_submit(election, raw) == 401
    token.refresh_from_db()
    assert token.last_used_at == before


def test_a_token_needs_a_name(personas: Personas) -> None:
    response = personas.client("op11").post("/staff/tokens/", {"name": "  "})
    assert response.status_code == 400
    assert response.context["problem"].field == "name"
    assert not ApiToken.objects.exists()


def test_tokens_need_a_login() -> None:
    response = Client().post("/staff/tokens/", {"name": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")
    assert not ApiToken.objects.exists()


def links(client: Client) -> list[str]:
    """The links the dashboard offers, per election (the site's own navigation left out)."""
    body = client.get("/staff/").content.decode()
    lists = re.findall(r'<ul class="links">(.*?)</ul>', body, re.S)
    return [href for part in lists for href in re.findall(r'<li><a href="([^"]+)">', part)]


def test_dashboard_shows_roles_and_what_each_may_do(election: Election, personas: Personas) -> None:
    slug = f"/staff/e/{election.slug}"
    turnout = f"/staff/turnout/{election.slug}"
    watch = [
        f"{slug}/stations/",
        f"{turnout}/",
        f"{turnout}/missing/",
        f"{turnout}/anomalies/",
        f"/integrity/e/{election.slug}/",
    ]
    op11 = personas.client("op11").get("/staff/").content.decode()
    assert "Station operator — station 1-1" in op11
    # a station's operator: its own station's pages (the election-wide ones are not theirs)
    mine = [f"{slug}/stations/", f"{turnout}/missing/", f"{turnout}/anomalies/"]
    assert links(personas.client("op11")) == [
        f"{slug}/protocol/",
        f"{slug}/upload/",
        "/staff/turnout/",
        *mine,
    ]
    north = personas.client("north").get("/staff/").content.decode()
    assert "Constituency operator — North (1)" in north
    assert links(personas.client("supervisor")) == [
        f"{slug}/reconcile/",
        *[w for w in watch if "missing" not in w],
    ]
    assert "0 waiting" in personas.client("supervisor").get("/staff/").content.decode()
    # the observer watches: nothing on the dashboard offers to amend, annul or publish
    observer = personas.client("observer")
    assert links(observer) == [w for w in watch if "missing" not in w]
    page = observer.get("/staff/").content.decode()
    assert not re.search(r"\b(amend|annul|publish)\b", page), page
    admin = personas.client("admin")
    assert links(admin) == [
        f"{slug}/protocol/",
        f"{slug}/upload/",
        "/staff/turnout/",
        f"{slug}/reconcile/",
        *watch,
        f"{slug}/settings/",
        f"/staff/observers/{election.slug}/",
        f"/staff/observers/{election.slug}/dashboard/",
        f"/staff/observers/{election.slug}/webcams/",
        f"/staff/audits/e/{election.slug}/",  # secki.audits: set-up, seed, rounds
    ]
    assert "amend, annul, publish, history" in admin.get("/staff/").content.decode()
    assert "You have no role in any election" in (
        personas.client("outsider").get("/staff/").content.decode()
    )
    election.double_entry = True
    election.save(update_fields=["double_entry"])
    assert links(personas.client("op11")) == [f"{slug}/protocol/", "/staff/turnout/", *mine]


def test_every_dashboard_link_opens(election: Election, personas: Personas) -> None:
    for who in ("op11", "supervisor", "observer", "admin"):
        client = personas.client(who)
        for href in links(client):
            assert client.get(href, follow=True).status_code == 200, (who, href)


def test_turnout_pages_keep_the_staff_navigation(election: Election, personas: Personas) -> None:
    client = personas.client("admin")
    for url in ("/staff/turnout/", f"/staff/turnout/{election.slug}/"):
        body = client.get(url).content.decode()
        assert 'class="staff-nav"' in body and 'action="/staff/logout/"' in body, url


def test_log_in_and_out(personas: Personas) -> None:
    app = personas.authenticator("op11")  # a station operator logs in with a second factor
    client = Client()
    assert client.get("/staff/").status_code == 302
    page = client.get("/staff/login/?next=/staff/")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.content.decode()
    wrong = client.post("/staff/login/", {"username": "op11", "password": "nope"})
    assert wrong.status_code == 200 and 'role="alert"' in wrong.content.decode()
    response = client.post(
        "/staff/login/", {"username": "op11", "password": "pw-op11", "next": "/staff/"}
    )
    assert response.status_code == 302 and response["Location"] == "/staff/login/code/"
    response = client.post("/staff/login/code/", {"code": app()})
    assert response.status_code == 302 and response["Location"] == "/staff/"
    assert "Station operator" in client.get("/staff/").content.decode()
    assert client.post("/staff/logout/", {"next": "/staff/login/"}).status_code == 302
    assert client.get("/staff/").status_code == 302


def test_a_superuser_sees_every_election_with_every_link(
    election: Election, other_election: Election
) -> None:
    root = User.objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(root)
    body = client.get("/staff/").content.decode()
    assert "Testland presidential election" in body and "Otherland" in body
    assert "Superuser — every role everywhere" in body
    # two elections, each: 10 tasks, observers' accreditation, their dashboard, the webcam
    # registry and the audits
    assert len(links(client)) == 2 * 14
