"""Hierarchy and candidates from a NIST SP 1500-100 v2 file (validated against the schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from secki.cli import cli
from secki.elections.models import Election

pytestmark = pytest.mark.django_db


def text(value: str) -> dict[str, Any]:
    return {
        "@type": "ElectionResults.InternationalizedText",
        "Text": [{"@type": "ElectionResults.LanguageString", "Content": value, "Language": "en"}],
    }


def ocd(value: str) -> list[dict[str, Any]]:
    return [{"@type": "ElectionResults.ExternalIdentifier", "Type": "ocd-id", "Value": value}]


def unit(
    uid: str,
    name: str,
    kind: str,
    children: list[str],
    ocd_id: str,
    registered: int | None = None,
    other: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "@type": "ElectionResults.ReportingUnit",
        "@id": uid,
        "Name": text(name),
        "Type": kind,
        "ExternalIdentifier": ocd(ocd_id),
    }
    if children:
        data["ComposingGpUnitIds"] = children
    if registered is not None:
        data["VotersRegistered"] = registered
    if other:
        data["OtherType"] = other
    return data


def report() -> dict[str, Any]:
    return {
        "@type": "ElectionResults.ElectionReport",
        "Format": "precinct-level",
        "GeneratedDate": "2024-02-01T12:00:00+04:00",
        "Issuer": "Test CEC",
        "IssuerAbbreviation": "TC",
        "SequenceStart": 1,
        "SequenceEnd": 1,
        "Status": "pre-election",
        "VendorApplicationId": "test",
        "GpUnit": [
            unit("gp-xx", "Testland", "country", ["gp-ed1"], "ocd-division/country:xx"),
            unit(
                "gp-ed1",
                "North",
                "other",
                ["gp-ps1", "gp-ps2"],
                "ocd-division/country:xx/ed:1",
                other="constituency",
            ),
            unit(
                "gp-ps1",
                "Polling station 1",
                "polling-place",
                [],
                "ocd-division/country:xx/ed:1/polling_station:1",
                registered=900,
            ),
            unit(
                "gp-ps2",
                "Polling station 2",
                "polling-place",
                [],
                "ocd-division/country:xx/ed:1/polling_station:2",
                registered=450,
            ),
        ],
        "Party": [{"@type": "ElectionResults.Party", "@id": "party-1", "Name": text("Party One")}],
        "Election": [
            {
                "@type": "ElectionResults.Election",
                "Name": text("Testland presidential"),
                "StartDate": "2024-02-07",
                "EndDate": "2024-02-07",
                "Type": "general",
                "ElectionScopeId": "gp-xx",
                "Candidate": [
                    {
                        "@type": "ElectionResults.Candidate",
                        "@id": "cand-b",
                        "BallotName": text("B"),
                    },
                    {
                        "@type": "ElectionResults.Candidate",
                        "@id": "cand-a",
                        "BallotName": text("A"),
                        "PartyId": "party-1",
                    },
                ],
                "Contest": [
                    {
                        "@type": "ElectionResults.CandidateContest",
                        "@id": "contest-1",
                        "Name": "President",
                        "ElectionDistrictId": "gp-xx",
                        "VotesAllowed": 1,
                        "ContestSelection": [
                            {
                                "@type": "ElectionResults.CandidateSelection",
                                "@id": "sel-a",
                                "SequenceOrder": 1,
                                "CandidateIds": ["cand-a"],
                            },
                            {
                                "@type": "ElectionResults.CandidateSelection",
                                "@id": "sel-b",
                                "SequenceOrder": 2,
                                "CandidateIds": ["cand-b"],
                            },
                        ],
                    }
                ],
            }
        ],
    }


def test_import_nist_builds_tree_and_candidates(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report()))
    result = CliRunner().invoke(cli, ["import-nist", str(path), "--slug", "testland"])
    assert result.exit_code == 0, result.output
    election = Election.objects.get(slug="testland")
    assert election.country == "xx"
    assert [(u.code, u.kind) for u in election.units.order_by("depth")] == [
        ("gp-xx", "country"),
        ("gp-ed1", "constituency"),
    ]
    stations = list(election.stations.order_by("number"))
    assert [(s.number, s.registered, s.unit.code) for s in stations] == [
        (1, 900, "gp-ed1"),
        (2, 450, "gp-ed1"),
    ]
    assert stations[0].ocd_id == "ocd-division/country:xx/ed:1/polling_station:1"
    assert [(c.number, c.name, c.party) for c in election.candidates.all()] == [
        (1, "A", "Party One"),
        (2, "B", ""),
    ]


def test_invalid_nist_file_is_refused_naming_the_place(tmp_path: Path) -> None:
    data = report()
    del data["Issuer"]
    data["GpUnit"][2]["VotersRegistered"] = "many"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["import-nist", str(path), "--slug", "testland"])
    assert result.exit_code == 2
    assert "does not validate against NIST SP 1500-100 v2 (2 errors)" in result.output
    assert not Election.objects.exists()


@pytest.mark.parametrize("registered", [10_000_000, 10**20])
def test_a_register_beyond_any_count_is_refused(tmp_path: Path, registered: int) -> None:
    data = report()
    uid = data["GpUnit"][2]["@id"]
    data["GpUnit"][2]["VotersRegistered"] = registered
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["import-nist", str(path), "--slug", "testland"])
    assert result.exit_code == 2
    assert f"polling place {uid}: VotersRegistered must be an integer from 0 to 9,999,999" in (
        result.output
    )
    assert not Election.objects.exists()


def test_dangling_composing_unit_is_refused(tmp_path: Path) -> None:
    data = report()
    data["GpUnit"][1]["ComposingGpUnitIds"].append("gp-missing")
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["import-nist", str(path), "--slug", "testland"])
    assert result.exit_code == 2
    assert "names unknown unit gp-missing" in result.output
    assert not Election.objects.exists()
