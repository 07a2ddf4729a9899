"""secki import / export: a valid bundle round-trips; every kind of bad input is refused whole."""

from __future__ import annotations

import filecmp
import hashlib
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from secki.bundle.read import BundleError, read_bundle
from secki.cli import cli
from secki.elections.models import Candidate, Election, Station, Unit
from secki.intake.bundle_io import export_bundle, import_bundle
from secki.ledger.chain import verify
from secki.ledger.models import LogFile
from secki.protocols.models import Protocol, ProtocolValue
from secki.turnout.models import TurnoutReport
from tests.factories import write_small_bundle
from tests.logcheck import bodies, check_log

pytestmark = pytest.mark.django_db

BUNDLE_FILES = [
    "election.json",
    "units.csv",
    "stations.csv",
    "candidates.csv",
    "turnout.csv",
    "protocols.csv",
]


def db_counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (Election, Unit, Station, Candidate, TurnoutReport, Protocol, ProtocolValue)
    )


def test_import_stores_the_whole_election(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    assert election.units.count() == 3
    assert election.stations.count() == 4
    assert list(election.candidates.values_list("name", flat=True)) == [
        "Candidate A",
        "Candidate B",
        "Candidate C",
    ]
    assert TurnoutReport.objects.filter(election=election).count() == 5
    assert Protocol.objects.filter(election=election, status="published").count() == 4
    # the log: the election and its register published (the files stored for the publisher,
    # byte for byte the bundle's), then the same entries as the live path makes
    logged = bodies(election)
    assert [b["kind"] for b in logged] == [
        "election.published",
        "register.published",
        *["turnout.reported"] * 5,
        *["protocol.accepted"] * 4,
    ]
    sha = {name: hashlib.sha256((source / name).read_bytes()).hexdigest() for name in BUNDLE_FILES}
    assert logged[0]["settings_sha256"] == sha["election.json"]
    assert logged[1]["files"] == {
        n: sha[n] for n in ("units.csv", "stations.csv", "candidates.csv")
    }
    assert logged[1]["version"] == 1
    for name in ("election.json", "units.csv", "stations.csv", "candidates.csv"):
        stored = LogFile.objects.get(sha256=sha[name])
        assert stored.name == name and bytes(stored.content) == (source / name).read_bytes()
    check_log(election)
    assert verify().ok
    north = Unit.objects.get(election=election, code="1")
    assert north.parent is not None and north.parent.code == "XX"
    assert north.path.startswith(north.parent.path) and north.depth == 1
    c1 = ProtocolValue.objects.filter(protocol__election=election, code="C1")
    assert sorted(c1.values_list("value", flat=True)) == [80, 300, 450, 500]
    # optional lines left empty are not stored
    assert not ProtocolValue.objects.filter(code="L1a").exists()
    assert election.protocol_schema().name == "az-presidential"


def test_import_export_round_trips_byte_for_byte(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    export_bundle(election, tmp_path / "out")
    for name in BUNDLE_FILES:
        assert filecmp.cmp(source / name, tmp_path / "out" / name, shallow=False), name


def test_cli_import_and_export(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(source), "--no-migrate"])
    assert result.exit_code == 0, result.output
    assert "4 stations" in result.output
    result = runner.invoke(cli, ["export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "protocols.csv").read_text() == (
        source / "protocols.csv"
    ).read_text()


def test_same_slug_twice_is_refused_unless_replace(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    for name in ("turnout.csv", "protocols.csv"):  # a register without results, in setup
        (source / name).unlink()
    import_bundle(read_bundle(source), status="setup")
    before = db_counts()
    with pytest.raises(BundleError, match="already exists"):
        import_bundle(read_bundle(source))
    assert db_counts() == before
    import_bundle(read_bundle(source), replace=True)
    assert db_counts() == before
    # now open: its register is frozen, so the import may not replace it (tests/security)
    with pytest.raises(BundleError, match="frozen while the election is open"):
        import_bundle(read_bundle(source), replace=True)
    assert db_counts() == before


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def replace_cell(path: Path, line: int, column: str, value: str) -> None:
    rows = [r.split(",") for r in path.read_text(encoding="utf-8").splitlines()]
    rows[line - 1][rows[0].index(column)] = value
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")


def _missing_column(d: Path) -> None:
    edit(d / "stations.csv", ",registered,", ",voters,")


def _non_integer(d: Path) -> None:
    replace_cell(d / "protocols.csv", 3, "L5", "4x5")


def _negative(d: Path) -> None:
    replace_cell(d / "protocols.csv", 4, "C2", "-3")


def _unknown_parent(d: Path) -> None:
    edit(d / "units.csv", "2,XX,constituency", "2,YY,constituency")


def _station_unit_missing(d: Path) -> None:
    replace_cell(d / "stations.csv", 3, "unit", "9")


def _duplicate_station_number(d: Path) -> None:
    replace_cell(d / "stations.csv", 3, "number", "1")


def _unknown_candidate(d: Path) -> None:
    edit(d / "protocols.csv", ",C3\n", ",C3,C4\n")
    text = (d / "protocols.csv").read_text().splitlines()
    (d / "protocols.csv").write_text("\n".join([text[0]] + [r + ",0" for r in text[1:]]) + "\n")


def _not_csv(d: Path) -> None:
    with zipfile.ZipFile(d / "turnout.csv", "w") as z:
        z.writestr("x.txt", "binary")


def _ragged_row(d: Path) -> None:
    edit(d / "candidates.csv", "2,Candidate B,Party Two", "2,Candidate B,Party Two,extra")


def _hard_check(d: Path) -> None:
    replace_cell(d / "protocols.csv", 2, "L14", "679")


def _unknown_station(d: Path) -> None:
    replace_cell(d / "protocols.csv", 5, "station", "2-9")


def _bad_turnout_time(d: Path) -> None:
    edit(d / "turnout.csv", "1-1,12:00", "1-1,13:00")


def _duplicate_station_code(d: Path) -> None:
    replace_cell(d / "stations.csv", 5, "code", "2-1")


def _bad_json(d: Path) -> None:
    edit(d / "election.json", '"kind": "presidential"', '"kind": "coronation"')


BAD_INPUTS: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "missing column",
        _missing_column,
        "stations.csv line 1, column registered: required column is missing",
    ),
    (
        "non-integer",
        _non_integer,
        "protocols.csv line 3, column L5: '4x5' is not a non-negative integer",
    ),
    ("negative count", _negative, "protocols.csv line 4, column C2: '-3' is negative"),
    (
        "unit parent missing",
        _unknown_parent,
        "units.csv line 4, column parent: parent unit 'YY' does not exist",
    ),
    (
        "station parent missing",
        _station_unit_missing,
        "stations.csv line 3, column unit: unit '9' does not exist",
    ),
    (
        "duplicate station number",
        _duplicate_station_number,
        "stations.csv line 3, column number: station number 1 appears twice in unit '1'",
    ),
    ("unknown candidate", _unknown_candidate, "protocols.csv line 1, column C4: unknown candidate"),
    ("not CSV", _not_csv, "turnout.csv: not a CSV file"),
    ("ragged row", _ragged_row, "candidates.csv line 3: not a CSV row of this file: 4 fields"),
    (
        "hard check",
        _hard_check,
        "protocols.csv line 2, column L14: station 1-1 fails hard check AZ-6: L14 (valid "
        "ballots) must equal the sum of the candidates' votes (L14=679, sum(C)=680)",
    ),
    (
        "unknown station",
        _unknown_station,
        "protocols.csv line 5, column station: station '2-9' does not exist",
    ),
    (
        "bad turnout time",
        _bad_turnout_time,
        "turnout.csv line 3, column time: '13:00' is not one of the election's turnout times",
    ),
    (
        "duplicate station code",
        _duplicate_station_code,
        "stations.csv line 5, column code: station '2-1' is defined twice",
    ),
    ("bad election kind", _bad_json, "election.json, column kind: 'coronation' is not one of"),
]


@pytest.mark.parametrize(
    ("spoil", "message"), [(s, m) for _, s, m in BAD_INPUTS], ids=[n for n, _, _ in BAD_INPUTS]
)
def test_bad_input_is_refused_with_file_line_field_and_nothing_stored(
    tmp_path: Path, spoil: Callable[[Path], None], message: str
) -> None:
    # an election already in the database must stay exactly as it was
    import_bundle(read_bundle(write_small_bundle(tmp_path / "other", slug="other-2024")))
    before = db_counts()
    bundle = write_small_bundle(tmp_path / "in")
    spoil(bundle)
    result = CliRunner().invoke(cli, ["import", str(bundle), "--no-migrate"])
    assert result.exit_code == 2, result.output
    assert "Nothing was imported" in result.output
    assert message in result.output
    assert db_counts() == before


def test_failure_while_storing_rolls_back_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after stations were written leaves no trace of the election."""
    bundle = read_bundle(write_small_bundle(tmp_path / "in"))
    before = db_counts()

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    # fail when the public log is appended: units, stations and turnout are written by then
    monkeypatch.setattr("secki.ledger.chain.append_many", boom)
    with pytest.raises(RuntimeError):
        import_bundle(bundle)
    assert db_counts() == before


def test_empty_optional_files_are_fine(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    (source / "turnout.csv").unlink()
    (source / "protocols.csv").unlink()
    election = import_bundle(read_bundle(source))
    assert election.stations.count() == 4
    assert not Protocol.objects.exists()


def test_russian_schema_loads_from_a_file_without_code_changes(tmp_path: Path) -> None:
    from secki.protocol_schema import ProtocolSchema
    from secki.protocol_schema.schema import BUILTIN_DIR

    copy = tmp_path / "ru.toml"
    shutil.copy(BUILTIN_DIR / "ru-duma-2011.toml", copy)
    schema = ProtocolSchema.from_file(copy)
    assert [ln.code for ln in schema.lines] == [f"R{i}" for i in range(1, 13)]
    result = CliRunner().invoke(cli, ["schema", str(copy)])
    assert result.exit_code == 0 and "RU-4" in result.output
    assert "roles (what the tabulation reads):" in result.output
    assert "participants = R3 + R4 + R5" in " ".join(result.output.split())
    assert "cast = R7 + R8" in " ".join(result.output.split())


def test_schema_command_prints_roles_and_refuses_a_missing_role(tmp_path: Path) -> None:
    from secki.protocol_schema.schema import BUILTIN_DIR

    result = CliRunner().invoke(cli, ["schema", "az-presidential"])
    assert result.exit_code == 0, result.output
    lines = [" ".join(ln.split()) for ln in result.output.splitlines()]
    for role, expr in (
        ("registered", "L1"),
        ("participants", "L5 + L6"),
        ("cast", "L12 + L13"),
        ("valid", "L14"),
        ("invalid", "L15a + L15b"),
    ):
        assert f"{role} = {expr}" in lines
    broken = tmp_path / "broken.toml"
    text = (BUILTIN_DIR / "ru-duma-2011.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace('valid = "R10"\n', ""), encoding="utf-8")
    result = CliRunner().invoke(cli, ["schema", str(broken)])
    assert result.exit_code == 1 and "roles has no 'valid'" in result.output
