"""Permission matrix: every role × every write endpoint of the API, allow or deny.

Station "1-1" is inside the constituency operator's unit "1" and is the station operator's
own station; the expected answers follow secki.accounts.access.GRANTS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.elections.models import Election
from secki.protocols import actions
from secki.protocols.data import ProtocolData
from secki.protocols.models import Protocol
from tests.factories import PROTOCOLS
from tests.personas import Persona, make_personas
from tests.protocols.test_api import COLUMNS, register_only, values_of, write_small_bundle

pytestmark = pytest.mark.django_db

ROLES = ["cec", "con1", "st11", "supervisor", "observer", "outsider", "anonymous"]


def row_values(station: str, **changes: int) -> dict[str, Any]:
    values = values_of(next(r for r in PROTOCOLS if r[0] == station), COLUMNS)
    values.update(changes)
    return values


def data(station: str, **changes: int) -> ProtocolData:
    from secki.protocols.data import parse_protocol

    election = Election.objects.get()
    return parse_protocol(
        election.protocol_schema(), 3, row_values(station, **changes), election.tz
    )


def setup_submit(election: Election, cec: Any) -> None:
    pass


def setup_accepted(election: Election, cec: Any) -> None:
    actions.submit_protocol(election, election.stations.get(code="1-1"), data("1-1"), actor=cec)


def setup_unpublished(election: Election, cec: Any) -> None:
    election.auto_publish = False
    election.save()
    setup_accepted(election, cec)


def setup_quarantined(election: Election, cec: Any) -> None:
    from django.contrib.auth import get_user_model

    election.double_entry = True
    election.save()
    station = election.stations.get(code="1-1")
    other = get_user_model().objects.create_user("second-clerk", is_superuser=True)
    actions.submit_protocol(election, station, data("1-1"), actor=cec)
    actions.submit_protocol(election, station, data("1-1", L2=4), actor=other)
    assert Protocol.objects.get(station=station).status == "quarantined"


def upload() -> dict[str, Any]:
    header = ",".join(COLUMNS)
    row = next(r for r in PROTOCOLS if r[0] == "1-1")
    line = ",".join("" if v is None else str(v) for v in row)
    return {"file": SimpleUploadedFile("protocols.csv", f"{header}\n{line}\n".encode())}


ENDPOINTS: dict[str, tuple[Any, str, Any, dict[str, bool]]] = {
    # name: (setup, path, body, role → allowed)
    "submit": (
        setup_submit,
        "protocols",
        {"station": "1-1", "values": row_values("1-1")},
        {"cec": True, "con1": True, "st11": True},
    ),
    "amend": (
        setup_accepted,
        "protocols/1-1/amend",
        {"values": row_values("1-1", L2=5), "reason": "typo in line 2"},
        {"cec": True, "con1": True},
    ),
    "annul": (
        setup_accepted,
        "protocols/1-1/annul",
        {"decision_ref": "CEC decision 12/3", "reason": "ballot stuffing"},
        {"cec": True},
    ),
    "resolve": (
        setup_quarantined,
        "protocols/1-1/resolve",
        {"values": row_values("1-1"), "reason": "paper says 3"},
        {"cec": True, "supervisor": True},
    ),
    "publish": (
        setup_unpublished,
        "protocols/1-1/publish",
        None,
        {"cec": True, "supervisor": True},
    ),
    "bulk": (setup_submit, "protocols-bulk", upload, {"cec": True, "con1": True, "st11": True}),
    "turnout": (
        setup_submit,
        "turnout",
        {"station": "1-1", "time": "10:00", "voters": 50},
        {"cec": True, "con1": True, "st11": True},
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(tmp_path: Path, endpoint: str, role: str) -> None:
    election = register_only(write_small_bundle(tmp_path))
    people: dict[str, Persona] = make_personas(election)
    setup, path, body, allowed = ENDPOINTS[endpoint]
    setup(election, people["cec"].user)
    client = Client() if role == "anonymous" else people[role].client()
    url = f"/api/v1/elections/{election.slug}/{path}"
    if callable(body):
        response = client.post(url, data=body())
    else:
        response = client.post(url, data=json.dumps(body or {}), content_type="application/json")
    if allowed.get(role):
        assert response.status_code in (200, 201), (role, response.content)
    else:
        expected = 401 if role == "anonymous" else 403
        assert response.status_code == expected, (role, response.content)
        assert response.json()["error"]["code"] in (
            "not_authenticated",
            "forbidden_role",
            "forbidden_territory",
        )
