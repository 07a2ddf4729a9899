"""API error bodies: the ``message`` is in the request's language (Accept-Language or the
site's language cookie), the machine ``code`` never changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from secki.elections.models import Election
from tests.factories import write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import good, register_only, spoiled

pytestmark = pytest.mark.django_db


@pytest.fixture
def small(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    election = register_only(write_small_bundle(tmp_path / "small"))
    return election, make_personas(election)


def post(client: Client, url: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def error_of(response: Any) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def test_an_error_is_in_the_language_of_accept_language(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    cec = people["cec"].client()
    url = f"/api/v1/elections/{election.slug}/protocols"
    assert post(cec, url, good()).status_code == 201
    english = error_of(post(cec, url, spoiled("L2", 4)))
    az = error_of(post(cec, url, spoiled("L2", 4), HTTP_ACCEPT_LANGUAGE="az"))
    ru = error_of(post(cec, url, spoiled("L2", 4), HTTP_ACCEPT_LANGUAGE="ru,en;q=0.5"))
    assert english == (
        409,
        "already_accepted",
        "station 1-1 already has an accepted protocol (version 1); "
        "changes are amendments with a reason",
    )
    assert az == (
        409,
        "already_accepted",
        "1-1 məntəqəsinin artıq qəbul edilmiş protokolu var (versiya 1); "
        "dəyişikliklər yalnız səbəbi göstərilən düzəlişlərlədir",
    )
    assert ru == (
        409,
        "already_accepted",
        "у участка 1-1 уже есть принятый протокол (версия 1); "
        "изменения вносятся только поправкой с указанием причины",
    )


def test_the_language_cookie_chooses_the_language_and_check_messages_follow(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    cec = people["cec"].client()
    cec.cookies[settings.LANGUAGE_COOKIE_NAME] = "az"
    url = f"/api/v1/elections/{election.slug}/protocols"
    status, code, message = error_of(post(cec, url, spoiled("L14", 1)))
    assert (status, code) == (422, "hard_check_failed")
    assert message.startswith("1-1 məntəqəsi AZ-5 ciddi yoxlamasından keçmir: ")
    # the check's own message (a text of the built-in schema) is translated as well
    assert "L12 + L13 (qutulardakı bülletenlər)" in message
    assert "ballots in boxes" not in message


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "enter_protocol on 2-1 is outside your territory"),
        ("az", "enter_protocol — 2-1 sizin ərazinizdən kənardadır"),
        ("ru", "enter_protocol для 2-1 — вне вашей территории"),
    ],
)
def test_an_access_refusal_is_translated_with_the_same_code(
    small: tuple[Election, dict[str, Persona]], language: str, expected: str
) -> None:
    election, people = small
    client = people["con1"].client()
    url = f"/api/v1/elections/{election.slug}/protocols"
    response = post(client, url, good("2-1"), HTTP_ACCEPT_LANGUAGE=language)
    assert error_of(response) == (403, "forbidden_territory", expected)


def test_an_error_of_the_api_itself_is_translated() -> None:
    response = Client().get("/api/v1/elections/nope/protocols/1-1", HTTP_ACCEPT_LANGUAGE="ru")
    status, code, _ = error_of(response)
    assert code == "not_found" and status == 404
