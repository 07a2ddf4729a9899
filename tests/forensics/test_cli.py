"""``secki forensics`` through click's CliRunner: real data, plots, JSON, and bad input."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from secki.forensics.cli import forensics

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mappings"

HEADER = "station,region,registered,issued,box_a,box_b,party_x,party_y\n"
ROWS = [
    "1,North,1000,600,300,298,300,250\n",
    "2,North,1200,700,350,349,350,300\n",
    "3,South,900,500,250,249,260,200\n",
    "4,South,1100,650,320,330,330,280\n",
]
MAPPING = {
    "id": "station",
    "group": "region",
    "registered": "registered",
    "given": {"column": "issued"},
    "received": {"contains": "box_", "all": True},
    "leader": "party_x",
    "candidates": {"contains": "party_", "all": True},
    "digits": ["received", "party_y"],
}


def write(
    tmp: Path, rows: list[str], mapping: dict[str, object] | None = None
) -> tuple[Path, Path]:
    data = tmp / "results.csv"
    data.write_text(HEADER + "".join(rows), encoding="utf-8")
    m = tmp / "map.json"
    m.write_text(json.dumps(mapping or MAPPING), encoding="utf-8")
    return data, m


def run(*args: str) -> object:
    return CliRunner().invoke(forensics, list(args))


def test_small_file_report_json_and_plots(tmp_path: Path) -> None:
    data, m = write(tmp_path, ROWS)
    out = tmp_path / "plots"
    res = CliRunner().invoke(
        forensics, [str(data), "--map", str(m), "--json", "--out", str(out), "--replicates", "50"]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["rows"] == {
        "total": 4,
        "used": 4,
        "invalid": 0,
        "invalid_examples": [],
        "zero_registered": 0,
        "zero_registered_rows": [],
    }
    assert payload["mapping"]["columns"]["received"] == ["box_a", "box_b"]
    assert payload["integer_test"]["included"] == 4
    assert set(payload["digits"]) == {"received", "party_y"}
    assert {Path(p).name for p in payload["plots"]} == {
        "fingerprint.png",
        "integer_percentages.png",
        "digits_received.png",
        "digits_party_y.png",
    }
    for p in payload["plots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Integer percentages" in res.stderr  # the report goes to stderr with --json


def test_zipped_file_and_text_report(tmp_path: Path) -> None:
    data, m = write(tmp_path, ROWS)
    z = tmp_path / "results.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(data, "results.csv")
    res = CliRunner().invoke(forensics, [str(z), "--map", str(m), "--replicates", "20"])
    assert res.exit_code == 0, res.output
    assert "stations included: 4 of 4" in res.stdout
    assert "not verdicts" in res.stdout


def test_missing_column_names_field_and_text(tmp_path: Path) -> None:
    data, m = write(tmp_path, ROWS, {**MAPPING, "leader": {"contains": "party_z"}})
    res = CliRunner().invoke(forensics, [str(data), "--map", str(m)])
    assert res.exit_code == 2
    assert "leader: no column contains 'party_z'" in res.stderr


def test_ambiguous_contains_rule(tmp_path: Path) -> None:
    data, m = write(tmp_path, ROWS, {**MAPPING, "leader": {"contains": "party_"}})
    res = CliRunner().invoke(forensics, [str(data), "--map", str(m)])
    assert res.exit_code == 2
    assert "2 columns contain 'party_'" in res.stderr


def test_non_numeric_value_names_row_and_column(tmp_path: Path) -> None:
    rows = [*ROWS[:2], "3,South,900,abc,250,249,260,200\n", ROWS[3]]
    data, m = write(tmp_path, rows)
    res = CliRunner().invoke(forensics, [str(data), "--map", str(m)])
    assert res.exit_code == 2
    assert "row 3 (line 4), column 'issued': 'abc' is not a whole number" in res.stderr

    res = CliRunner().invoke(
        forensics, [str(data), "--map", str(m), "--skip-invalid", "--json", "--replicates", "20"]
    )
    assert res.exit_code == 0, res.output
    rows_info = json.loads(res.stdout)["rows"]
    assert rows_info["invalid"] == 1 and rows_info["used"] == 3
    assert "column 'issued'" in rows_info["invalid_examples"][0]


def test_zero_registered_is_counted_and_named(tmp_path: Path) -> None:
    rows = [*ROWS[:3], "4,South,0,650,320,330,330,280\n"]
    data, m = write(tmp_path, rows)
    res = CliRunner().invoke(
        forensics, [str(data), "--map", str(m), "--json", "--replicates", "20"]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["rows"]["zero_registered_rows"] == [4]
    assert payload["integer_test"]["excluded"]["registered voters < 100"] == 1
    assert "zero registered voters ('registered'): rows 4" in res.stderr


def test_bad_mapping_file(tmp_path: Path) -> None:
    data, _ = write(tmp_path, ROWS)
    m = tmp_path / "bad.json"
    m.write_text('{"registered": "registered"}', encoding="utf-8")
    res = CliRunner().invoke(forensics, [str(data), "--map", str(m)])
    assert res.exit_code == 2
    assert "missing required field(s)" in res.stderr


def test_toml_mapping(tmp_path: Path) -> None:
    data, _ = write(tmp_path, ROWS)
    m = tmp_path / "map.toml"
    m.write_text(
        'registered = "registered"\ngiven = "issued"\nleader = "party_x"\n'
        'received = [{contains = "box_a"}, {contains = "box_b"}]\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(forensics, [str(data), "--map", str(m), "--replicates", "20"])
    assert res.exit_code == 0, res.output


@pytest.mark.realdata
def test_russia_2011_via_cli(shared_data: Callable[[str], Path]) -> None:
    res = CliRunner().invoke(
        forensics,
        [
            str(shared_data("russia2011.csv.zip")),
            "--map",
            str(EXAMPLES / "russia2011.json"),
            "--json",
            "--seed",
            "2011",
            "--fit-bootstrap",
            "5",
        ],
    )
    assert res.exit_code == 0, res.output
    it = json.loads(res.stdout)["integer_test"]
    assert it["included"] == 86_718
    assert (it["either"]["observed"], it["leader"]["observed"], it["turnout"]["observed"]) == (
        17_803,
        9_708,
        9_216,
    )
    assert abs(it["either"]["anomaly"] - 1003.5) <= 350
    assert len(it["groups"]) > 80


@pytest.mark.realdata
def test_albania_2013_via_cli(shared_data: Callable[[str], Path]) -> None:
    res = CliRunner().invoke(
        forensics,
        [
            str(shared_data("albania2013.csv")),
            "--map",
            str(EXAMPLES / "albania2013.json"),
            "--json",
            "--fit-bootstrap",
            "5",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["rows"]["zero_registered"] == 2
    groups = payload["digits"]["received"]["groups"]
    berat = groups["BERAT"]
    got = [round(berat[k], 3) for k in ("second_digit_mean", "p05s", "c05s", "skew", "kurtosis")]
    assert got == [4.244, 0.197, 0.217, 0.261, 3.474]
    assert groups["GJIROKASTER"]["stations"] == 237
