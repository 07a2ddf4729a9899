"""While the database cannot be reached: 503 with Retry-After, the API's one error shape or the
503 page (translated, independent of the database), on every path a request can take.

Here the database "goes down" in-process: every statement of Django's cursors and of
secki.rawsql raises Django's ``OperationalError`` (what psycopg's errors become through
Django). tests/test_database_restart.py does it for real, by killing a PostgreSQL server under
the production server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import translation

from secki import rawsql, unavailable
from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.turnout.models import TurnoutReport
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import Persona, make_personas

pytestmark = pytest.mark.django_db

DOWN = (
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused'
)


@pytest.fixture
def election(tmp_path: Path) -> Election:
    source = write_small_bundle(tmp_path / "bundle")
    (source / "protocols.csv").unlink()
    (source / "turnout.csv").unlink()
    return import_bundle(read_bundle(source))


@pytest.fixture
def cec(election: Election) -> Persona:
    return make_personas(election)["cec"]


@contextmanager
def database_down(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception] = OperationalError
) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error(DOWN)

    with monkeypatch.context() as patch, connection.execute_wrapper(refuse):
        patch.setattr(rawsql, "cursor", refuse)
        yield


def assert_api_503(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "code": "database_unavailable",
            "message": "The database is unavailable at the moment; retry in a few seconds.",
        }
    }


def assert_page_503(response: Any) -> str:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "5"
    assert response["Cache-Control"] == "no-store"
    return str(response.content.decode())


def api(election: Election, tail: str = "") -> str:
    return f"/api/v1/elections/{election.slug}{tail}"


def protocol_body() -> dict[str, Any]:
    from secki.protocol_schema import ProtocolSchema

    columns = ProtocolSchema.builtin().columns(3)
    row = PROTOCOLS[0]
    values = {c: v for c, v in zip(columns, row[1:], strict=True) if v not in (None, "")}
    return {"station": row[0], "values": values}


TURNOUT_BODY = {"station": "1-1", "time": "10:00", "voters": 150}


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize("tail", ["", "/results", "/results/units/1", "/turnout-summary"])
def test_public_api_reads_get_503(
    election: Election, monkeypatch: pytest.MonkeyPatch, tail: str, error: type[Exception]
) -> None:
    with database_down(monkeypatch, error):
        assert_api_503(Client().get(api(election, tail)))
        assert_api_503(Client().get("/api/v1/elections"))


@pytest.mark.parametrize("key", [None, "retry-1"])
@pytest.mark.parametrize("what", ["protocols", "turnout"])
def test_writes_with_a_token_get_503(
    election: Election, cec: Persona, monkeypatch: pytest.MonkeyPatch, what: str, key: str | None
) -> None:
    body = protocol_body() if what == "protocols" else TURNOUT_BODY
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    with database_down(monkeypatch):
        answer = cec.client().post(
            api(election, f"/{what}"), json.dumps(body), content_type="application/json", **headers
        )
    assert_api_503(answer)


@pytest.mark.django_db(transaction=True)  # no test transaction around the request's own
@pytest.mark.parametrize("what", ["protocols", "turnout"])
def test_an_error_inside_a_grouped_unit_is_503_and_the_retry_works(
    election: Election, cec: Persona, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """The database fails after the request's own reads, inside the group-commit unit (run by
    a leader, re-raised in the request's thread): 503, the key's record rolled back with the
    work, so the same retry later is answered afresh."""
    from secki.protocols import actions as protocol_actions
    from secki.turnout import api as turnout_api

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    body = protocol_body() if what == "protocols" else TURNOUT_BODY
    target = (
        (protocol_actions, "submit_protocol")
        if what == "protocols"
        else (turnout_api, "report_turnout")
    )

    def post() -> Any:
        return cec.client().post(
            api(election, f"/{what}"),
            json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="once",
        )

    with monkeypatch.context() as patch:
        patch.setattr(*target, fail)
        assert_api_503(post())
    again = post()
    assert again.status_code == 201, again.content
    assert "Idempotent-Replayed" not in again


def test_bulk_uploads_get_503(
    election: Election, cec: Persona, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    protocols = tmp_path / "protocols.csv"
    protocols.write_text("station,L1\n1-1,1000\n")
    with database_down(monkeypatch):
        with protocols.open("rb") as handle:
            assert_api_503(
                cec.client().post(
                    api(election, "/protocols-bulk"), {"file": handle}, HTTP_IDEMPOTENCY_KEY="b1"
                )
            )
        assert_api_503(
            cec.client().post(
                api(election, "/turnout-bulk"),
                "station,time,voters\n1-1,10:00,150\n",
                content_type="text/csv",
            )
        )
    assert not TurnoutReport.objects.exists()


def test_a_session_that_cannot_be_read_gets_503(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logged-in browser: the session and its user are read from the database."""
    get_user_model().objects.create_user("clerk", password="pw-clerk")
    client = Client()
    # django-axes checks every log-in against its lockouts: authenticate() needs the request
    assert client.login(request=HttpRequest(), username="clerk", password="pw-clerk")
    with database_down(monkeypatch):
        assert_api_503(client.get(api(election, "/results")))
        assert_api_503(
            client.post(api(election, "/turnout"), TURNOUT_BODY, content_type="application/json")
        )
        page = assert_page_503(client.get("/staff/"))
    assert "Temporarily unavailable" in page


def test_a_failure_in_a_middleware_is_503_too(election: Election, settings: Any) -> None:
    """Outside any view (here: after it, where the session middleware saves the session): the
    site's handler500 answers 503 for database errors, Django's 500 for anything else."""
    position = settings.MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware")
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[: position + 1],
        "tests.test_database_down.broken_middleware",
        *settings.MIDDLEWARE[position + 1 :],
    ]
    client = Client(raise_request_exception=False)
    broken_middleware.error = OperationalError(DOWN)
    assert_api_503(client.get(api(election, "/results")))
    assert "Temporarily unavailable" in assert_page_503(client.get(f"/e/{election.slug}/"))
    broken_middleware.error = RuntimeError("a bug")
    assert client.get(api(election, "/results")).status_code == 500
    assert client.get(f"/e/{election.slug}/").status_code == 500


class _Broken:
    error: Exception = OperationalError(DOWN)

    def __call__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
        def call(request: HttpRequest) -> HttpResponse:
            get_response(request)
            raise self.error

        return call


broken_middleware = _Broken()


@pytest.mark.parametrize(
    ("language", "title", "text"),
    [
        ("en", "Temporarily unavailable", "Try again"),
        ("az", "Müvəqqəti olaraq əlçatan deyil", "Yenidən cəhd edin"),
        ("ru", "Временно недоступно", "Попробовать снова"),
    ],
)
@pytest.mark.parametrize(
    "path", ["/", "/e/{slug}/", "/e/{slug}/u/1/", "/e/{slug}/s/1-1/", "/data/"]
)
def test_pages_get_the_503_page_in_the_visitors_language(
    election: Election,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    language: str,
    title: str,
    text: str,
) -> None:
    url = path.format(slug=election.slug)
    with database_down(monkeypatch):
        page = assert_page_503(Client(HTTP_ACCEPT_LANGUAGE=language).get(url + "?x=1"))
    assert f'<html lang="{language}">' in page
    assert f"<h1>{title}</h1>" in page
    assert f'<a href="{url}?x=1">{text}</a>' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    # Nothing is loaded from another host (links to other sites are only links).
    loaded = re.findall(r'<(?:link|script|img|iframe)[^>]*(?:src|href)="([^"]+)"', page)
    assert loaded == ["/static/portal/site.css"]


def test_the_api_message_is_translated(election: Election, monkeypatch: pytest.MonkeyPatch) -> None:
    with database_down(monkeypatch):
        russian = Client(HTTP_ACCEPT_LANGUAGE="ru").get(api(election, "/results"))
        azeri = Client(HTTP_ACCEPT_LANGUAGE="az").get(api(election, "/results"))
    assert russian.status_code == azeri.status_code == 503
    assert russian.json()["error"]["message"].startswith("База данных сейчас недоступна")
    assert azeri.json()["error"]["message"].startswith("Verilənlər bazası hazırda")


def test_the_page_renders_without_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """No query, no session, no user: the page must render when nothing else can."""
    request = RequestFactory().get("/e/x/")
    request.session = None  # type: ignore[attr-defined] # any use of it would fail
    with database_down(monkeypatch), translation.override("en"):
        response = unavailable.page(request)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Temporarily unavailable" in response.content.decode()


@pytest.mark.django_db(transaction=True)  # the request's connection is dropped
def test_a_connection_broken_mid_request_is_discarded_at_the_end_of_the_request(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends this request's connection while it runs (as a crash or a restart of
    the server would): the answer is 503, and once the response is closed — the WSGI server
    closes it in the request's thread, Granian included — the broken connection is gone, so
    the thread's next request connects afresh instead of failing on it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server that can end the connection")
    from secki.portal import api as results_api

    lookup = results_api.election_or_404

    def broken(slug: str) -> Election:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return lookup(slug)

    monkeypatch.setattr(results_api, "election_or_404", broken)
    environ = RequestFactory().get(api(election, "/results/units/1")).environ
    started: list[str] = []
    response = WSGIHandler()(environ, lambda status, headers: started.append(status))
    assert started == ["503 Service Unavailable"]
    assert json.loads(response.content)["error"]["code"] == "database_unavailable"
    assert connection.connection is not None and connection.errors_occurred
    response.close()  # request_finished
    assert connection.connection is None
    monkeypatch.undo()
    response = WSGIHandler()(environ, lambda status, headers: started.append(status))
    response.close()
    assert started[-1] == "200 OK"
