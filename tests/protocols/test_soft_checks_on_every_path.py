"""The same protocols through the four intake paths — the officials' form, the JSON API, a
bulk protocols.csv and a bundle import — store identical check results and soft failures.

Station 1-1's protocol says it was completed at 17:00, before the polls closed at 19:00:
it passes every hard check and fails the soft check AZ-9. Before every path went through
one function, a bulk file or a bundle stored ``soft_failures = []`` for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.protocol_schema import ProtocolSchema
from secki.protocols.models import Protocol
from tests.factories import CANDIDATES, PROTOCOLS, write_small_bundle, write_table
from tests.personas import make_personas
from tests.protocols.test_api import COLUMNS, register_only

pytestmark = pytest.mark.django_db

EARLY = "2024-02-07T17:00:00+04:00"  # before the polls closed (19:00 in Baku)


def rows() -> list[list[Any]]:
    out = [list(r) for r in PROTOCOLS]
    out[0][COLUMNS.index("L17")] = EARLY
    return out


def stored(election: Election) -> dict[str, tuple[Any, list[str], str]]:
    return {
        p.station.code: (p.checks, list(p.soft_failures), p.source)
        for p in Protocol.objects.filter(election=election, is_current=True).select_related(
            "station"
        )
    }


def csv_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "protocols.csv"
    write_table(path, ["station", *ProtocolSchema.builtin().columns(len(CANDIDATES))], rows())
    return path.read_bytes()


def by_bundle(tmp_path: Path) -> Election:
    source = write_small_bundle(tmp_path / "bundle", slug="bundle-2024")
    (source / "protocols.csv").write_bytes(csv_bytes(tmp_path))
    return import_bundle(read_bundle(source))


def by_bulk(tmp_path: Path) -> Election:
    election = register_only(write_small_bundle(tmp_path / "bulk", slug="bulk-2024"))
    client = make_personas(election)["cec"].client()
    response = client.post(
        f"/api/v1/elections/{election.slug}/protocols-bulk",
        data={"file": SimpleUploadedFile("p.csv", csv_bytes(tmp_path))},
    )
    assert response.status_code == 201, response.content
    return election


def by_api(tmp_path: Path) -> Election:
    election = register_only(write_small_bundle(tmp_path / "api", slug="api-2024"))
    client = make_personas(election)["cec"].client()
    for row in rows():
        values = {c: v for c, v in zip(COLUMNS[1:], row[1:], strict=True) if v not in (None, "")}
        response = client.post(
            f"/api/v1/elections/{election.slug}/protocols",
            data=json.dumps({"station": row[0], "values": values}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
    return election


def by_form(tmp_path: Path) -> Election:
    election = register_only(write_small_bundle(tmp_path / "form", slug="form-2024"))
    client = Client()
    client.force_login(make_personas(election)["cec"].user)
    for row in rows():
        data = {c: "" if v is None else str(v) for c, v in zip(COLUMNS[1:], row[1:], strict=True)}
        # <input type="datetime-local"> sends the local time without an offset
        data["L17"] = str(row[COLUMNS.index("L17")])[:16]
        response = client.post(f"/staff/e/{election.slug}/protocol/", {"station": row[0], **data})
        assert response.status_code == 302, response.content.decode()[:2000]
    return election


def test_every_intake_path_stores_the_same_soft_failures(tmp_path: Path) -> None:
    results = {
        "bundle": stored(by_bundle(tmp_path)),
        "bulk": stored(by_bulk(tmp_path)),
        "api": stored(by_api(tmp_path)),
        "form": stored(by_form(tmp_path)),
    }
    assert {path: {s: r[2] for s, r in got.items()} for path, got in results.items()} == {
        "bundle": dict.fromkeys(("1-1", "1-2", "2-1", "2-2"), "import"),
        "bulk": dict.fromkeys(("1-1", "1-2", "2-1", "2-2"), "import"),
        "api": dict.fromkeys(("1-1", "1-2", "2-1", "2-2"), "api"),
        "form": dict.fromkeys(("1-1", "1-2", "2-1", "2-2"), "form"),
    }
    reference = {s: r[:2] for s, r in results["form"].items()}
    assert reference["1-1"][1] == ["AZ-9"]
    assert all(reference[s][1] == [] for s in ("1-2", "2-1", "2-2"))
    checks_11 = {c["code"]: c["passed"] for c in reference["1-1"][0]}
    assert checks_11["AZ-9"] is False and checks_11["AZ-6"] is True
    assert checks_11["AZ-1"] is None  # the split of line 1 is not given: not applicable
    for path, got in results.items():
        assert {s: r[:2] for s, r in got.items()} == reference, path


def test_a_bundle_soft_failure_is_shown_on_the_public_station_page(tmp_path: Path) -> None:
    election = by_bundle(tmp_path)
    response = Client().get(f"/api/v1/elections/{election.slug}/results/stations/1-1")
    assert response.status_code == 200, response.content
    assert response.json()["soft_failures"] == ["AZ-9"]
