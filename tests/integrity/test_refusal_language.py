"""Refusals of the accounts, integrity and audits actions: the ``message`` is in the reader's
language (read under the active language, or the API request's), the ``code`` never changes,
and the exception's own text (logs, the command line) stays English."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from secki.accounts import actions as accounts
from secki.audits import actions as audits
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.integrity import actions as integrity
from tests.factories import write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import register_only, spoiled

pytestmark = pytest.mark.django_db


@pytest.fixture
def small(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    election = register_only(write_small_bundle(tmp_path / "small"))
    return election, make_personas(election)


def refusal(call: Callable[[], object]) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        call()
    return caught.value


def read(exc: IntakeError, language: str) -> str:
    with translation.override(language):
        return exc.message


@pytest.mark.parametrize("module", ["accounts", "integrity", "audits"])
def test_a_refusal_of_each_actions_module_reads_in_az_and_ru_with_the_same_code(
    small: tuple[Election, dict[str, Persona]], module: str
) -> None:
    election, people = small
    cec = people["cec"].user
    calls: dict[str, tuple[Callable[[], object], str, str, str, str]] = {
        "accounts": (
            lambda: accounts.change_election(cec, election, nonsense=1),
            "unknown_field",
            "nonsense: not a setting that can change (one of: ",
            "nonsense: bu parametr dəyişdirilə bilməz (mümkün olanlar: ",
            "nonsense: эту настройку менять нельзя (можно: ",
        ),
        "integrity": (
            lambda: integrity.register_sample(
                election, actor=cec, group="Group", method="seed", seed="x", size=1
            ),
            "out_of_range",
            "size: 1 stations is not between 2 and the ",
            "size: 1 məntəqə 2 ilə reyestrdəki ",
            "size: 1 участков — не между 2 и ",
        ),
        "audits": (
            lambda: audits.create_audit(election, actor=cec, kind="gamma", risk_limit="5 %"),
            "invalid_value",
            "kind: 'gamma' is not 'macro' or 'bravo'",
            "kind: 'gamma' 'macro' və ya 'bravo' deyil",
            "kind: 'gamma' — не 'macro' и не 'bravo'",
        ),
    }
    call, code, english, az, ru = calls[module]
    exc = refusal(call)
    assert exc.code == code
    assert str(exc).startswith(english)
    assert read(exc, "en").startswith(english)
    assert read(exc, "az").startswith(az)
    assert read(exc, "ru").startswith(ru)
    assert read(exc, "ru") != read(exc, "en")


def test_an_integrity_refusal_comes_back_from_the_api_in_az(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    client: Client = people["cec"].client()
    url = f"/api/v1/elections/{election.slug}/pvt"
    body: dict[str, Any] = {"group": "Group", "method": "import", "stations": ["1-1", "1-1"]}

    def error(language: str) -> tuple[int, str, str]:
        response = client.post(
            url,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        found = response.json()["error"]
        return response.status_code, found["code"], found["message"]

    assert error("en") == (422, "duplicate_station", "stations: listed more than once: 1-1")
    assert error("az") == (422, "duplicate_station", "stations: bir dəfədən çox göstərilib: 1-1")
    assert error("ru") == (422, "duplicate_station", "stations: указаны более одного раза: 1-1")


@pytest.mark.parametrize(
    ("body", "language", "expected"),
    [
        (spoiled("C2", -4), "en", ("values.C2", "must be at least 0")),
        (spoiled("C2", -4), "az", ("values.C2", "ən azı 0 olmalıdır")),
        (spoiled("C2", -4), "ru", ("values.C2", "должно быть не меньше 0")),
        ({"station": "1-1"}, "az", ("values", "tələb olunur")),
        ({"station": "1-1"}, "ru", ("values", "обязательное поле")),
    ],
)
def test_a_request_that_does_not_fit_the_schema_is_refused_in_the_request_language(
    small: tuple[Election, dict[str, Persona]],
    body: dict[str, Any],
    language: str,
    expected: tuple[str, str],
) -> None:
    election, people = small
    response = (
        people["cec"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
    )
    found = response.json()["error"]
    field, message = expected
    assert (response.status_code, found["code"], found["field"]) == (400, "invalid_request", field)
    assert found["message"] == f"{field}: {message}"
    assert found["details"][0]["message"] == message
