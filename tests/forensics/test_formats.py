"""``secki forensics`` on every file format it reads, and on a corpus of bad inputs.

Every bad input must end in a clear message and exit code 2 (click's usage error), never
a traceback.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from tests.forensics.files import (
    Table,
    csv_text,
    write_csv,
    write_csv_gz,
    write_csv_zip,
    write_ods,
    write_parquet,
    write_xlsx,
)

from secki.forensics.cli import forensics
from secki.stats.simulation import simulate_klimek

HEADER = ["Station", "Region", "Registered", "Issued", "Invalid", "Valid", "Party A", "Party B"]
MAPPING: dict[str, Any] = {
    "id": "Station",
    "group": "Region",
    "registered": "Registered",
    "given": "Issued",
    "received": ["Invalid", "Valid"],
    "leader": "Party A",
    "candidates": {"contains": "party", "all": True, "ignore_case": True},
    "digits": ["received", "Party A"],
}


def election(n: int = 120) -> Table:
    """A small simulated election with some stuffing (deterministic)."""
    e = simulate_klimek(n, seed=7, f_i=0.2, f_e=0.03)
    table: Table = [list(HEADER)]
    for i in range(n):
        ballots = int(e.ballots[i])
        leader = int(e.leader[i])
        invalid = min(ballots - leader, i % 7)
        other = ballots - leader - invalid
        table.append(
            [
                f"S{i + 1:03d}",
                ("North", "South", "East")[i % 3],
                int(e.voters[i]),
                ballots,
                invalid,
                ballots - invalid,
                leader,
                other,
            ]
        )
    return table


def write_mapping(tmp: Path, **changes: Any) -> Path:
    m = tmp / "map.json"
    data = {**MAPPING, **changes}
    m.write_text(json.dumps({k: v for k, v in data.items() if v is not None}), encoding="utf-8")
    return m


def run(path: Path, mapping: Path, *extra: str) -> Result:
    args = [str(path), "--map", str(mapping), "--replicates", "30", "--fit-bootstrap", "3"]
    return CliRunner().invoke(forensics, [*args, *extra])


def comparable(res: Result) -> dict[str, Any]:
    assert res.exit_code == 0, res.output
    payload: dict[str, Any] = json.loads(res.stdout)
    payload.pop("file")
    payload.pop("input")
    return payload


def test_the_same_election_in_six_formats_gives_identical_json(tmp_path: Path) -> None:
    table = election()
    files = {
        "csv": write_csv(tmp_path / "e.csv", table),
        "csv.gz": write_csv_gz(tmp_path / "e.csv.gz", table),
        "csv.zip": write_csv_zip(tmp_path / "e.csv.zip", table),
        "xlsx": write_xlsx(tmp_path / "e.xlsx", {"Results": table}),
        "ods": write_ods(tmp_path / "e.ods", {"Results": table}),
        "parquet": write_parquet(tmp_path / "e.parquet", table),
    }
    m = write_mapping(tmp_path)
    results = {k: run(p, m, "--json") for k, p in files.items()}
    reference = comparable(results["csv"])
    assert reference["rows"]["used"] == 120
    assert reference["mapping"]["columns"]["candidates"] == ["Party A", "Party B"]
    assert "error" not in reference["klimek_fit"]
    for kind, res in results.items():
        assert comparable(res) == reference, kind
        read = json.loads(res.stdout)["input"]["read"]
        assert read, kind
    assert "xlsx, sheet 'Results'" in json.loads(results["xlsx"].stdout)["input"]["read"][0]
    assert "gzip" in json.loads(results["csv.gz"].stdout)["input"]["read"][0]


def test_sheet_by_name_and_by_index(tmp_path: Path) -> None:
    table = election(60)
    notes: Table = [["note"], ["this sheet explains the data"]]
    for writer, ext in ((write_xlsx, "xlsx"), (write_ods, "ods")):
        path = writer(tmp_path / f"two.{ext}", {"Notes": notes, "Data": table})
        by_name = comparable(run(path, write_mapping(tmp_path, sheet="Data"), "--json"))
        by_index = comparable(run(path, write_mapping(tmp_path, sheet=1), "--json"))
        assert by_name == by_index
        assert by_name["rows"]["used"] == 60
        # without "sheet" the first sheet is read, which has none of the columns: the
        # message names the mapping field
        res = run(path, write_mapping(tmp_path))
        assert res.exit_code == 2 and "registered: no column named 'Registered'" in res.stderr


def test_semicolon_and_tab_files_are_detected_and_reported(tmp_path: Path) -> None:
    table = election(60)
    reference = comparable(
        run(write_csv(tmp_path / "c.csv", table), write_mapping(tmp_path), "--json")
    )
    for delim, name in ((";", "semi.csv"), ("\t", "tab.tsv")):
        res = run(write_csv(tmp_path / name, table, delim), write_mapping(tmp_path), "--json")
        assert comparable(res) == reference
        assert f"delimiter {delim!r} (detected)" in res.stderr


def test_cp1251_inside_gzip_with_encoding(tmp_path: Path) -> None:
    table = election(60)
    table[0] = [*HEADER[:6], "Единая Россия", "Другая партия"]
    path = tmp_path / "ru.csv.gz"
    path.write_bytes(gzip.compress(csv_text(table).encode("cp1251")))
    m = write_mapping(
        tmp_path, encoding="cp1251", leader="Единая Россия", candidates=None, digits=None
    )
    res = run(path, m, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"]["used"] == 60


def test_contains_is_case_sensitive_unless_asked(tmp_path: Path) -> None:
    table = election(60)
    path = write_csv(tmp_path / "e.csv", table)
    res = run(path, write_mapping(tmp_path, candidates={"contains": "party", "all": True}))
    assert res.exit_code == 2
    assert "no column contains 'party' (but 2 do when case is ignored" in res.stderr
    assert '"ignore_case": true' in res.stderr
    ok = run(path, write_mapping(tmp_path), "--json")
    assert json.loads(ok.stdout)["mapping"]["columns"]["candidates"] == ["Party A", "Party B"]
    assert "candidates: 2 column(s): 'Party A', 'Party B'" in ok.stderr


def test_duplicate_and_empty_ids_warn_or_stop(tmp_path: Path) -> None:
    table = election(60)
    table[5][0] = table[4][0]
    table[9][0] = ""
    path = write_csv(tmp_path / "e.csv", table)
    m = write_mapping(tmp_path)
    res = run(path, m, "--json")
    assert res.exit_code == 0, res.output
    warnings = json.loads(res.stdout)["warnings"]
    assert any("1 station id(s) ('Station') appear more than once" in w for w in warnings)
    assert any("1 row(s) with an empty station id ('Station'): rows 9" in w for w in warnings)
    assert "WARNINGS" in res.stderr and "'S004' ×2" in res.stderr
    strict = run(path, m, "--unique-ids")
    assert strict.exit_code == 2 and "'S004' ×2" in strict.stderr


def test_missing_values_are_counted_by_rows(tmp_path: Path) -> None:
    table = election(60)
    table[3][2:6] = ["", "", "", ""]
    table[7][3] = ""
    res = run(write_csv(tmp_path / "e.csv", table), write_mapping(tmp_path))
    assert res.exit_code == 2
    assert "2 row(s) of e.csv cannot be used" in res.stderr
    assert (
        "row 3 (line 4), columns 'Registered', 'Issued', 'Invalid', 'Valid': missing value"
        in res.stderr
    )
    assert "row 7 (line 8), column 'Issued': missing value" in res.stderr


def test_a_field_over_the_default_csv_limit_is_read(tmp_path: Path) -> None:
    table = election(60)
    table[0].append("Comment")
    for row in table[1:]:
        row.append("")
    table[1][-1] = "x" * 300_000  # the csv module's default limit is 131,072
    res = run(write_csv(tmp_path / "e.csv", table), write_mapping(tmp_path), "--json")
    assert res.exit_code == 0, res.output


def test_integer_convention_at_the_exact_boundary(tmp_path: Path) -> None:
    # turnout 541/2000 = 27.05 % exactly at every station; the leader share 146/541 is
    # 26.99 %, not near the boundary, so the turnout statistic alone shows the convention
    table: Table = [list(HEADER)]
    for i in range(60):
        table.append([f"S{i}", "R", 2000, 541, 0, 541, 146, 395])
    path = write_csv(tmp_path / "b.csv", table)
    m = write_mapping(tmp_path)
    exact = json.loads(run(path, m, "--json").stdout)["integer_test"]
    flt = json.loads(run(path, m, "--json", "--integer-convention", "float").stdout)["integer_test"]
    assert exact["convention"] == "exact" and flt["convention"] == "float"
    assert exact["turnout"]["observed"] == 60
    assert flt["turnout"]["observed"] == 0
    bad = run(path, m, "--integer-convention", "round")
    assert bad.exit_code == 2 and "'round' is not one of 'exact', 'float'" in bad.stderr


def test_theta_grid_option(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", election())
    m = write_mapping(tmp_path)
    res = run(path, m, "--json", "--theta-grid", "0.1,0.2")
    assert res.exit_code == 0, res.output
    fit = json.loads(res.stdout)["klimek_fit"]
    assert fit["theta_grid"] == [0.1, 0.2]
    assert 0.1 <= fit["theta"] <= 0.2
    if fit["theta"] in (0.1, 0.2) or fit["theta_at_grid_edge"]:
        assert any("edge of its grid" in w for w in fit["warnings"])
    bad = run(path, m, "--theta-grid", "0.1,x")
    assert bad.exit_code == 2 and "comma-separated list of numbers" in bad.stderr
    bad = run(path, m, "--theta-grid", "0,0.1")
    assert bad.exit_code == 2 and "each in (0, 10]" in bad.stderr


# ---- the bad-input corpus --------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _bad_inputs(tmp: Path) -> list[tuple[str, Path, dict[str, Any], list[str], str]]:
    """(case, file, mapping changes, extra CLI args, expected text in the message)."""
    table = election(60)
    text = csv_text(table).encode()
    rng = np.random.default_rng(0)
    binary = bytes(rng.integers(0, 256, 4000, dtype=np.uint8))
    gz = gzip.compress(text)
    dup = [list(r) for r in table]
    dup[2][0] = dup[1][0]
    cp1251 = csv_text([[*HEADER[:6], "Единая Россия", "B"], *table[1:]]).encode("cp1251")
    xlsx = write_xlsx(tmp / "ok.xlsx", {"Data": table})

    def put(name: str, data: bytes) -> Path:
        p = tmp / name
        p.write_bytes(data)
        return p

    return [
        ("binary", put("binary.csv", binary), {}, [], "binary file, not text"),
        (
            "gzip of an image with an encoding",
            put("img.csv.gz", gzip.compress(PNG)),
            {"encoding": "cp1251"},
            [],
            "is a PNG image",
        ),
        ("image", put("results.png", PNG), {}, [], "results.png is a PNG image"),
        ("image named csv", put("results.csv", PNG), {}, [], "results.csv is a PNG image"),
        ("jpeg", put("scan.jpg", b"\xff\xd8\xff\xe0" + binary), {}, [], "JPEG image"),
        ("pdf", put("protocol.pdf", PDF), {}, [], "is a PDF document"),
        ("truncated gzip", put("cut.csv.gz", gz[: len(gz) // 2]), {}, [], "truncated or damaged"),
        ("empty gzip", put("empty.csv.gz", gzip.compress(b"")), {}, [], "holding nothing"),
        ("empty file", put("empty.csv", b""), {}, [], "empty.csv is empty (0 bytes)"),
        ("header only", put("head.csv", text.split(b"\n")[0] + b"\n"), {}, [], "no data rows"),
        (
            "zip with several files",
            _zip(tmp / "many.zip", {"a.csv": text, "b.csv": text, "readme.txt": b"hi"}),
            {},
            [],
            "many.zip holds 3 files (a.csv, b.csv, readme.txt)",
        ),
        (
            "zip member missing",
            _zip(tmp / "one.zip", {"a.csv": text}),
            {"member": "b.csv"},
            [],
            "has no member 'b.csv' (it holds: a.csv)",
        ),
        (
            "truncated zip",
            put("cut.zip", _zip(tmp / "whole.zip", {"a.csv": text}).read_bytes()[:-30]),
            {},
            [],
            "zip archive that is truncated or damaged",
        ),
        ("wrong sheet name", xlsx, {"sheet": "Sheet1"}, [], "has no sheet named 'Sheet1'"),
        ("wrong sheet index", xlsx, {"sheet": 3}, [], "has no sheet number 3"),
        ("sheet of wrong type", xlsx, {"sheet": [1]}, [], '"sheet" in the mapping must be'),
        (
            "wrong delimiter",
            put("semi.csv", csv_text(table, ";").encode()),
            {"delimiter": ","},
            [],
            "one column with the delimiter ','",
        ),
        (
            "delimiter detected but columns unknown",
            put("other.csv", b"a;b;c\n1;2;3\n4;5;6\n"),
            {},
            [],
            "read with the delimiter ';' (detected), giving 3 column(s)",
        ),
        ("not utf-8", put("ru.csv", cp1251), {}, [], "is text but not utf-8 (byte"),
        ("unknown encoding", put("e.csv", text), {"encoding": "klingon"}, [], "unknown encoding"),
        ("duplicate ids", put("dup.csv", csv_text(dup).encode()), {}, ["--unique-ids"], "×2"),
        (
            "word document",
            _zip(tmp / "doc.docx", {"word/document.xml": b"<w/>", "[Content_Types].xml": b""}),
            {},
            [],
            "is a Word document",
        ),
        (
            "damaged xlsx",
            _zip(tmp / "bad.xlsx", {"xl/workbook.xml": b"<not xml", "[Content_Types].xml": b""}),
            {},
            [],
            "looks like xlsx but cannot be opened",
        ),
        ("damaged parquet", put("bad.parquet", b"PAR1" + binary), {}, [], "Parquet file"),
        (
            "NUL inside text",
            put("nul.csv", text[:200] + b"\x00" * 3 + text[200:]),
            {},
            [],
            "binary file, not text",
        ),
    ]


def test_bad_inputs_end_in_a_clear_message_and_exit_code_2(tmp_path: Path) -> None:
    cases = _bad_inputs(tmp_path)
    assert len(cases) >= 15
    for name, path, changes, extra, expected in cases:
        m = write_mapping(tmp_path, **changes)
        res = run(path, m, *extra)
        assert res.exit_code == 2, (name, res.output)
        assert isinstance(res.exception, SystemExit), (name, res.exception)
        assert "Traceback" not in res.output, name
        assert expected in res.stderr, (name, res.stderr)


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_bad_input_through_the_installed_command(tmp_path: Path, ext: str) -> None:
    """The same through a real process: the message on stderr, exit code 2."""
    import subprocess
    import sys

    path = tmp_path / f"picture.{ext}"
    path.write_bytes(PNG)
    m = write_mapping(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "secki.cli", "forensics", str(path), "--map", str(m)],
        capture_output=True,
        text=True,
        check=False,
        env={"SECKI_DEVELOPMENT": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    assert f"picture.{ext} is a PNG image" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_points_to_the_mapping_reference() -> None:
    res = CliRunner().invoke(forensics, ["--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "docs/forensics.md" in text
    assert "--integer-convention [exact|float]" in text and "--theta-grid" in text
    doc = Path(__file__).resolve().parents[2] / "docs" / "forensics.md"
    body = doc.read_text(encoding="utf-8")
    from secki.forensics.mapping import KNOWN

    for key in sorted(KNOWN):  # every key the mapping accepts is documented
        assert f"| `{key}` |" in body, key
