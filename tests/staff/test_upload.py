"""Bulk upload page: a good protocols.csv is accepted whole; a bad one is refused whole with
every problem listed by file line, and nothing is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from secki.bundle.write import write_table
from secki.elections.models import Election
from secki.ledger.chain import verify
from secki.protocol_schema import ProtocolSchema
from secki.protocols.models import Protocol
from tests.factories import CANDIDATES, PROTOCOLS
from tests.staff.conftest import Personas, db_state

pytestmark = pytest.mark.django_db


def csv_bytes(tmp_path: Path, rows: list[list[Any]]) -> bytes:
    columns = ["station", *ProtocolSchema.builtin().columns(len(CANDIDATES))]
    path = tmp_path / "protocols.csv"
    write_table(path, columns, rows)
    return path.read_bytes()


def upload(client: Any, election: Election, content: bytes | None) -> Any:
    data = {} if content is None else {"file": SimpleUploadedFile("protocols.csv", content)}
    return client.post(f"/staff/e/{election.slug}/upload/", data)


def test_a_good_file_is_accepted_whole(
    election: Election, personas: Personas, tmp_path: Path
) -> None:
    client = personas.client("admin")
    form = client.get(f"/staff/e/{election.slug}/upload/")
    assert 'enctype="multipart/form-data"' in form.content.decode()
    response = upload(client, election, csv_bytes(tmp_path, PROTOCOLS))
    assert response.status_code == 302
    protocols = Protocol.objects.filter(election=election)
    assert sorted(protocols.values_list("station__code", "status", "source")) == [
        (code, "published", "import") for code in ("1-1", "1-2", "2-1", "2-2")
    ]
    assert verify().ok
    page = client.get(response["Location"]).content.decode()
    assert "protocols.csv: 4 protocols accepted in one transaction." in page


def test_a_bad_file_is_refused_whole_with_every_problem(
    election: Election, personas: Personas, tmp_path: Path
) -> None:
    rows = [list(r) for r in PROTOCOLS]
    rows[1][8] = "68x"  # 1-2, L5: file line 3
    rows[3][-1] = -4  # 2-2, C3: file line 5
    before = db_state()
    response = upload(personas.client("admin"), election, csv_bytes(tmp_path, rows))
    assert response.status_code == 422
    problem = response.context["problem"]
    assert problem.code == "invalid_file"
    assert "nothing was accepted" in problem.message
    lines = {(d["line"], d["field"]) for d in problem.details}
    assert (3, "L5") in lines and (5, "C3") in lines
    body = response.content.decode()
    assert "<td>3</td><td>L5</td>" in body and "<td>5</td><td>C3</td>" in body
    assert db_state() == before


def test_hard_check_failure_in_a_file(
    election: Election, personas: Personas, tmp_path: Path
) -> None:
    rows = [list(r) for r in PROTOCOLS]
    rows[2][-3] += 1  # 2-1, C1: AZ-6 fails
    before = db_state()
    response = upload(personas.client("admin"), election, csv_bytes(tmp_path, rows))
    assert response.status_code == 422
    assert "AZ-6" in response.context["problem"].message
    assert db_state() == before


def test_upload_outside_the_territory_is_refused(
    election: Election, personas: Personas, tmp_path: Path
) -> None:
    before = db_state()
    response = upload(personas.client("north"), election, csv_bytes(tmp_path, PROTOCOLS))
    assert response.status_code == 403
    assert response.context["problem"].code == "forbidden_territory"
    assert "2-1" in response.context["problem"].message
    assert db_state() == before
    own = upload(personas.client("north"), election, csv_bytes(tmp_path, PROTOCOLS[:2]))
    assert own.status_code == 302
    assert Protocol.objects.filter(election=election).count() == 2


def test_duplicates_missing_file_wrong_role_double_entry(
    election: Election, personas: Personas, tmp_path: Path
) -> None:
    admin = personas.client("admin")
    assert upload(admin, election, csv_bytes(tmp_path, PROTOCOLS[:1])).status_code == 302
    before = db_state()
    duplicate = upload(admin, election, csv_bytes(tmp_path, PROTOCOLS))
    assert duplicate.status_code == 409
    assert "1-1" in duplicate.context["problem"].message
    missing = upload(admin, election, None)
    assert missing.status_code == 400 and missing.context["problem"].field == "file"
    for persona in ("observer", "supervisor", "outsider"):
        response = upload(personas.client(persona), election, csv_bytes(tmp_path, PROTOCOLS[1:]))
        assert response.status_code == 403, persona
    election.double_entry = True
    election.save(update_fields=["double_entry"])
    refused = upload(admin, election, csv_bytes(tmp_path, PROTOCOLS[1:]))
    assert refused.status_code == 409
    assert refused.context["problem"].code == "double_entry_required"
    assert db_state() == before
