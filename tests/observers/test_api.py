"""The observers' API: an observer's copy with a token (idempotent with an Idempotency-Key,
bad input refused by field with nothing stored, role and territory checked), an
organisation's CSV through the API (all or nothing), the public comparison (every station
and one) matching its typed schema, and the dashboard for an organisation's own tools."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.accounts.models import ApiToken
from secki.elections.models import Election, Station
from secki.observers import actions
from secki.observers.api import (
    ObserverComparisonOut,
    ObserverDashboardOut,
    ObserverStationComparison,
)
from secki.observers.models import Organisation, ProtocolCopy
from secki.observers.store import official_values
from secki.protocols.models import counted_statuses
from secki.protocols.scans import upload_scan
from tests.observers.conftest import PNG, image
from tests.observers.test_copies import organisation
from tests.personas import Persona
from tests.security.test_api_schema import check

pytestmark = pytest.mark.django_db

URL = "/api/v1/elections/{slug}/observers/{what}"
API = "/api/v1/elections/{slug}/observers/"  # as the OpenAPI description names them


@pytest.fixture(scope="module")
def described() -> dict[str, Any]:
    """The API's OpenAPI description, which every answer must fit."""
    from secki.apiroutes import api

    return dict(json.loads(json.dumps(api.get_openapi_schema())))


def bearer(user: Any) -> Client:
    _token, raw = ApiToken.issue(user, "tools")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def official_copy(election: Election, station: Station) -> dict[str, int]:
    """The numbers of ``station``'s official protocol, as a copy holds them."""
    held = official_values(election.pk, counted_statuses(False), station.pk)[station.pk]
    return {code: held[code] for code, _r in actions.copy_lines(election) if code in held}


@pytest.fixture
def setup(election: Election, people: dict[str, Persona]) -> dict[str, Any]:
    watcher = people["watcher"].user
    org, rep = organisation(election, "Alpha")
    watcher_org = Organisation.objects.get(pk=org.pk)
    accreditation = watcher_org.accreditations.get()
    accreditation.account = watcher
    accreditation.save(update_fields=["account"])
    station = Station.objects.get(election=election, code="1-1")
    return {"org": org, "rep": rep, "watcher": watcher, "station": station}


def test_an_observers_copy_is_stored_once_per_key(
    election: Election, people: dict[str, Persona], setup: dict[str, Any], described: Any
) -> None:
    station = setup["station"]
    values = official_copy(election, station)
    client = bearer(setup["watcher"])
    url = URL.format(slug=election.slug, what="copies")
    body = json.dumps({"station": station.code, "values": values})
    first = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201, first.content
    check(described, API + "copies", "post", first)
    again = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ProtocolCopy.objects.filter(station=station).count() == 1
    assert first.json()["organisation"] == "Alpha" and first.json()["values"] == values
    # bad input: named by field, nothing stored
    line = next(iter(values))
    for change, status, field in [
        ({"values": {**values, "L999": 1}}, 422, "L999"),
        ({"values": {**values, line: "5"}}, 400, None),
        ({"values": {**values, line: -1}}, 400, None),
        ({"station": "nowhere"}, 422, "station"),
    ]:
        response = client.post(
            url,
            json.dumps({"station": station.code, "values": values, **change}),
            content_type="application/json",
        )
        assert response.status_code == status, (change, response.content)
        check(described, API + "copies", "post", response)
        if field:
            assert response.json()["error"]["field"] == field
    assert ProtocolCopy.objects.filter(station=station).count() == 1
    # not an observer, not logged in
    outsider = bearer(people["outsider"].user)
    assert outsider.post(url, body, content_type="application/json").status_code == 403
    assert Client().post(url, body, content_type="application/json").status_code == 401
    assert ProtocolCopy.objects.filter(station=station).count() == 1


def test_an_organisations_csv_and_the_public_comparison(
    election: Election, people: dict[str, Persona], setup: dict[str, Any], described: Any
) -> None:
    stations = list(Station.objects.filter(election=election).order_by("position")[:2])
    codes = [c for c, _r in actions.copy_lines(election)]
    rows = []
    for i, s in enumerate(stations):
        values = official_copy(election, s)
        if i == 0:
            values["C1"] += 7  # the copy says 7 more than the official protocol
        rows.append(",".join([s.code, *[str(values.get(c, "")) for c in codes]]))
    text = "\n".join([",".join(["station", *codes]), *rows]) + "\n"
    rep = bearer(setup["rep"])
    url = URL.format(slug=election.slug, what="copies-bulk")
    done = rep.post(url, text, content_type="text/csv", HTTP_IDEMPOTENCY_KEY="csv-1")
    assert done.status_code == 201, done.content
    check(described, API + "copies-bulk", "post", done)
    assert done.json() == {
        "election": election.slug,
        "organisation": "Alpha",
        "copies": 2,
        "photos": 0,
    }
    replay = rep.post(url, text, content_type="text/csv", HTTP_IDEMPOTENCY_KEY="csv-1")
    assert replay["Idempotent-Replayed"] == "true"
    assert ProtocolCopy.objects.filter(organisation=setup["org"]).count() == 2
    spoiled = text.replace(f"{stations[1].code},", "nowhere,", 1)
    refused = rep.post(url, spoiled, content_type="text/csv")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "station"
    check(described, API + "copies-bulk", "post", refused)
    assert ProtocolCopy.objects.filter(organisation=setup["org"]).count() == 2
    assert bearer(people["cec"].user).post(url, text, content_type="text/csv").status_code == 403

    # the comparison: the staff compare with counted protocols, the public with published ones
    public = Client().get(URL.format(slug=election.slug, what="comparison"))
    assert public.status_code == 200
    ObserverComparisonOut.model_validate(check(described, API + "comparison", "get", public))
    staff = bearer(people["cec"].user).get(URL.format(slug=election.slug, what="comparison"))
    table = ObserverComparisonOut.model_validate(check(described, API + "comparison", "get", staff))
    assert table.official == "counted"
    marks = {s.station: s for s in table.stations}
    assert marks[stations[0].code].mark == "differs"
    assert marks[stations[0].code].lines == ["C1"]
    assert marks[stations[0].code].copies[0].differences[0]["delta"] == -7
    assert marks[stations[1].code].mark == "agrees"
    one = bearer(people["cec"].user).get(
        URL.format(slug=election.slug, what=f"comparison/{stations[0].code}")
    )
    one_body = check(described, API + "comparison/{station}", "get", one)
    assert ObserverStationComparison.model_validate(one_body).mark == "differs"
    other = Station.objects.filter(election=election).exclude(pk__in=[s.pk for s in stations])
    none = Client().get(URL.format(slug=election.slug, what=f"comparison/{other[0].code}"))
    assert none.status_code == 404
    check(described, API + "comparison/{station}", "get", none)

    # the dashboard: the organisation's own, the commission's, nobody else's
    answer = rep.get(URL.format(slug=election.slug, what="dashboard"))
    board = ObserverDashboardOut.model_validate(check(described, API + "dashboard", "get", answer))
    assert [o.name for o in board.organisations] == ["Alpha"]
    alpha = board.organisations[0]
    assert alpha.copies == 2 and alpha.accreditations.active == 1
    assert [c.station for c in alpha.contradictions] == [stations[0].code]
    assert (
        bearer(people["outsider"].user)
        .get(URL.format(slug=election.slug, what="dashboard"))
        .status_code
        == 403
    )
    assert Client().get(URL.format(slug=election.slug, what="dashboard")).status_code == 401
    page = Client()
    page.force_login(setup["rep"])
    html = page.get(f"/staff/observers/{election.slug}/dashboard/").content.decode()
    assert f'data-station="{stations[0].code}"' in html


def test_a_copys_photo_beside_the_official_scan(
    election: Election, people: dict[str, Persona], setup: dict[str, Any]
) -> None:
    station = setup["station"]
    values = official_copy(election, station)
    copy = actions.submit_copy(
        election,
        station,
        values,
        actor=setup["watcher"],
        photo=SimpleUploadedFile("copy.png", PNG, content_type="image/png"),
    )
    scan_bytes = image("JPEG", grey=90)
    scan = upload_scan(
        election,
        station,
        SimpleUploadedFile("scan.jpg", scan_bytes, content_type="image/jpeg"),
        actor=people["cec"].user,
    )
    staff = Client()
    staff.force_login(people["cec"].user)
    page = staff.get(f"/e/{election.slug}/observers/copies/s/{station.code}/")
    assert page.status_code == 200
    html = page.content.decode()
    photo_url = f"/e/{election.slug}/observers/copies/s/{station.code}/photo/{copy.pk}/"
    assert f'data-sha256="{copy.photo_sha256}"' in html and f'src="{photo_url}"' in html
    assert f'data-sha256="{scan.sha256}"' in html
    assert 'id="copy-mark" data-mark="agrees"' in html
    photo = Client().get(photo_url)
    assert photo.status_code == 200 and photo["ETag"] == f'"{copy.photo_sha256}"'
    assert photo["Content-Type"] == "image/png"
    assert photo["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(photo.streaming_content) == PNG
    assert hashlib.sha256(PNG).hexdigest() == copy.photo_sha256
    assert Client().get(photo_url, HTTP_IF_NONE_MATCH=photo["ETag"]).status_code == 304
    missing = f"/e/{election.slug}/observers/copies/s/{station.code}/photo/{copy.pk + 99}/"
    assert Client().get(missing).status_code == 404
