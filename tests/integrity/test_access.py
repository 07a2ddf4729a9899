"""Who sees the integrity analyses, the CEC's public switch, refresh as results arrive, and the
background worker."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.integrity import analysis
from secki.integrity.analysis import snapshot
from secki.integrity.models import IntegritySettings
from secki.ledger.models import LedgerEntry
from secki.protocols.actions import publish_protocol
from secki.protocols.models import Protocol
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import COLUMNS, register_only, values_of

pytestmark = pytest.mark.django_db


def put(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.put(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def small(tmp_path: Path) -> tuple[Any, dict[str, Persona]]:
    """Testland with its register only, protocols accepted but not published on entry."""
    election = register_only(write_small_bundle(tmp_path / "small"), auto_publish=False)
    return election, make_personas(election)


def submit_all(election: Any, cec: Persona) -> None:
    client = cec.client()
    for row in PROTOCOLS:
        response = client.post(
            f"/api/v1/elections/{election.slug}/protocols",
            data=json.dumps({"station": row[0], "values": values_of(row, COLUMNS)}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content


def api(election: Any, client: Client) -> Any:
    return client.get(f"/api/v1/elections/{election.slug}/integrity")


def test_public_sees_nothing_unless_the_cec_makes_it_public(small: Any) -> None:
    election, people = small
    submit_all(election, people["cec"])
    url = f"/integrity/e/{election.slug}/"

    anonymous = api(election, Client())
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert "integer_test" not in anonymous.json()
    assert api(election, people["outsider"].client()).json()["error"]["code"] == "forbidden_role"
    assert api(election, people["outsider"].client()).status_code == 403
    # a constituency operator is staff, but only for its own constituency
    assert api(election, people["con1"].client()).status_code == 403
    page = Client().get(url)
    assert page.status_code == 403
    assert "not public" in page.content.decode()
    assert "integer-table" not in page.content.decode()
    for path in ("risk/", "pvt/", "exit-polls/", "plots/fingerprint.png"):
        assert Client().get(url + path).status_code == 403, path
    for path in ("pvt", "exit-polls"):
        assert Client().get(f"/api/v1/elections/{election.slug}/{path}").status_code == 401

    for who in ("observer", "supervisor", "cec"):
        body = api(election, people[who].client()).json()
        assert body["status"] == "ready", who
        assert body["published_only"] is False
        assert body["stations"]["analysed"] == 4

    # only a CEC administrator switches the public view on; nothing changes otherwise
    heads = LedgerEntry.objects.count()
    settings_url = f"/api/v1/elections/{election.slug}/integrity/settings"
    refused = put(people["observer"].client(), settings_url, {"public": True})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden_role"
    assert put(people["cec"].client(), settings_url, {"public": "yes"}).status_code == 400
    observer = Client()
    observer.force_login(people["observer"].user)
    assert observer.post(url + "settings/", {"public": "1"}).status_code == 403
    assert not IntegritySettings.objects.filter(election=election, public=True).exists()
    assert LedgerEntry.objects.count() == heads

    switched = put(people["cec"].client(), settings_url, {"public": True})
    assert switched.status_code == 200 and switched.json()["public"] is True
    assert LedgerEntry.objects.filter(kind="integrity.settings").count() == 1
    body = api(election, Client()).json()
    assert body["status"] == "ready"
    assert body["published_only"] is True
    # nothing published yet (auto_publish is off): the public analyses no station
    assert body["stations"]["analysed"] == 0
    assert Client().get(url).status_code == 200

    # the page's toggle: the CEC switches it off again
    cec = Client()
    cec.force_login(people["cec"].user)
    assert cec.post(url + "settings/", {"public": "0"}).status_code == 302
    assert api(election, Client()).status_code == 401
    assert LedgerEntry.objects.filter(kind="integrity.settings").count() == 2


def test_public_view_counts_published_protocols_only_and_refreshes(small: Any) -> None:
    election, people = small
    IntegritySettings.objects.create(election=election, public=True)
    first = snapshot(election, public=False)
    assert first.result is not None and first.result.data.n == 0
    assert first.result.integer is None
    body = api(election, people["observer"].client()).json()
    assert body["stations"] == {"analysed": 0, "total": 4}
    assert body["integer_test"] == {"error": "no counted protocols yet"}

    submit_all(election, people["cec"])
    staff = snapshot(election, public=False)
    assert staff.head > first.head
    assert staff.result is not None and staff.result.head == staff.head
    assert staff.result.data.n == 4
    assert staff.result.integer is not None and staff.result.integer.stations == 4
    # 4 stations cannot be fitted: said, not hidden
    assert staff.result.fit is None and "at least 50" in (staff.result.fit_error or "")

    for protocol in Protocol.objects.filter(election=election, is_current=True).exclude(
        station__code="2-2"
    ):
        publish_protocol(protocol, actor=people["supervisor"].user)
    public = api(election, Client()).json()
    assert public["published_only"] is True
    assert public["stations"] == {"analysed": 3, "total": 4}
    assert api(election, people["observer"].client()).json()["stations"]["analysed"] == 4
    page = Client().get(f"/integrity/e/{election.slug}/").content.decode()
    assert "Public view: published protocols only." in page
    assert "from 3 of 4 stations" in page
    assert "No fit: need at least 50 stations" in page


def test_background_worker_shows_the_last_result_until_the_new_one_is_ready(
    small: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    election, people = small
    settings.SECKI_INTEGRITY_BACKGROUND = True
    gate = threading.Event()
    real = analysis.analyse

    def held(*args: Any) -> analysis.Analysis:
        assert gate.wait(60), "the test never released the worker"
        return real(*args)

    monkeypatch.setattr(analysis, "analyse", held)

    def release() -> None:
        future = analysis.pending(election, public=False)
        assert future is not None
        gate.set()
        future.result(timeout=60)
        gate.clear()

    submit_all(election, people["cec"])
    started = snapshot(election, public=False)
    assert started.computing and started.result is None
    client = people["observer"].client()
    assert api(election, client).json()["status"] == "computing"
    browser = Client()
    browser.force_login(people["observer"].user)
    page = browser.get(f"/integrity/e/{election.slug}/").content.decode()
    assert 'data-status="computing"' in page and 'http-equiv="refresh"' in page
    release()
    done = snapshot(election, public=False)
    assert not done.computing and done.result is not None
    assert done.result.head == started.head and done.result.data.n == 4
    body = api(election, client).json()
    assert body["status"] == "ready" and body["computed_at_ledger_head"] == started.head
    assert 'data-status="ready"' in browser.get(f"/integrity/e/{election.slug}/").content.decode()

    # a new fact moves the head: the last result is shown, marked, while the new one computes
    publish_protocol(
        Protocol.objects.get(election=election, station__code="1-1", is_current=True),
        actor=people["supervisor"].user,
    )
    moving = snapshot(election, public=False)
    assert moving.head > started.head
    assert moving.computing and moving.stale and moving.result is done.result
    body = api(election, client).json()
    assert body["status"] == "ready" and body["computing"] and body["stale"]
    assert body["computed_at_ledger_head"] == started.head
    release()
    fresh = snapshot(election, public=False)
    assert fresh.result is not None and fresh.result.head == moving.head and not fresh.stale
