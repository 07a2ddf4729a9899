"""Bulk upload of protocols.csv (API and CLI): all rows or none, errors naming line and field;
a SIGKILL mid-way leaves nothing; the public log verifies, and names an altered entry."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.protocols import bulk
from secki.protocols.models import Protocol, ProtocolValue
from tests.factories import PROTOCOLS, run_secki
from tests.logcheck import bodies, check_log
from tests.personas import make_personas
from tests.protocols.test_api import COLUMNS, register_only, state, write_small_bundle


def csv_text(rows: list[list[Any]], columns: list[str] = COLUMNS) -> bytes:
    lines = [",".join(columns)]
    lines += [",".join("" if v is None else str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def changed(station: str, column: str, value: Any) -> list[list[Any]]:
    rows = [list(r) for r in PROTOCOLS]
    row = next(r for r in rows if r[0] == station)
    row[COLUMNS.index(column)] = value
    return rows


BAD: list[tuple[str, str, bytes, int, str, str]] = [
    (
        "non-integer",
        "cec",
        csv_text(changed("1-2", "L5", "4.5e2")),
        422,
        "invalid_file",
        "protocols.csv line 3, column L5: '4.5e2' is not a non-negative integer",
    ),
    (
        "negative",
        "cec",
        csv_text(changed("2-1", "C3", "-1")),
        422,
        "invalid_file",
        "protocols.csv line 4, column C3: '-1' is negative",
    ),
    (
        "unknown station",
        "cec",
        csv_text(changed("2-2", "station", "5-5")),
        422,
        "invalid_file",
        "protocols.csv line 5, column station: station '5-5' does not exist",
    ),
    (
        "hard check",
        "cec",
        csv_text(changed("1-1", "C1", "499")),
        422,
        "invalid_file",
        "station 1-1 fails hard check AZ-6",
    ),
    (
        "missing column",
        "cec",
        csv_text([r[:-1] for r in PROTOCOLS], COLUMNS[:-1]),
        422,
        "invalid_file",
        "column C3: required column is missing",
    ),
    ("not csv", "cec", b"\x89PNG\r\n\x1a\n\x00\x00binary", 422, "invalid_file", "not a CSV file"),
    ("wrong role", "observer", csv_text(PROTOCOLS), 403, "forbidden_role", "enter_protocol"),
    ("wrong territory", "con1", csv_text(PROTOCOLS), 403, "forbidden_territory", "2-1"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "content", "status", "code", "text"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_bulk_upload_is_refused_whole(
    tmp_path: Path, persona: str, content: bytes, status: int, code: str, text: str
) -> None:
    election = register_only(write_small_bundle(tmp_path))
    people = make_personas(election)
    before = state()
    response = (
        people[persona]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols-bulk",
            data={"file": SimpleUploadedFile("protocols.csv", content)},
        )
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert text in error["message"] or any(text in str(d) for d in error.get("details", []))
    assert state() == before


@pytest.mark.django_db
def test_bulk_upload_duplicate_closed_and_good(tmp_path: Path) -> None:
    election = register_only(write_small_bundle(tmp_path))
    people = make_personas(election)
    url = f"/api/v1/elections/{election.slug}/protocols-bulk"
    client = people["cec"].client()
    response = client.post(url, data={"file": SimpleUploadedFile("p.csv", csv_text(PROTOCOLS))})
    assert response.status_code == 201, response.content
    assert response.json()["accepted"] == 4
    assert [b["kind"] for b in bodies(election, "protocol.")] == ["protocol.accepted"] * 4
    check_log(election)
    before = state()
    response = client.post(url, data={"file": SimpleUploadedFile("p.csv", csv_text(PROTOCOLS[:1]))})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate"
    assert "1-1" in response.json()["error"]["message"]
    Election.objects.filter(pk=election.pk).update(status="closed")
    response = client.post(url, data={"file": SimpleUploadedFile("p.csv", csv_text(PROTOCOLS))})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "election_closed"
    assert state() == before


@pytest.mark.django_db
def test_a_file_stored_in_chunks_is_the_file_stored_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """store_accepted builds a chunk of rows at a time (a national file's million rows never
    live as objects at once): the same protocols, lines and log entries, in the file's order,
    in one transaction."""

    def stored(directory: Path, chunk: int) -> tuple[list[Any], list[str]]:
        monkeypatch.setattr(bulk, "STORE_CHUNK", chunk)
        election = register_only(write_small_bundle(directory))
        people = make_personas(election)
        response = (
            people["cec"]
            .client()
            .post(
                f"/api/v1/elections/{election.slug}/protocols-bulk",
                data={"file": SimpleUploadedFile("p.csv", csv_text(PROTOCOLS))},
            )
        )
        assert response.status_code == 201, response.content
        assert response.json()["accepted"] == len(PROTOCOLS)
        check_log(election)
        rows = sorted(
            ProtocolValue.objects.filter(protocol__election=election).values_list(
                "protocol__station__code", "code", "value"
            )
        )
        return rows, [b["station"] for b in bodies(election, "protocol.")]

    whole, order = stored(tmp_path / "whole", 1000)
    Election.objects.all().delete()
    get_user_model().objects.all().delete()
    chunked, chunked_order = stored(tmp_path / "chunks", 3)  # 4 rows: chunks of 3 and 1
    assert chunked == whole and len(whole) > 0
    assert chunked_order == order == [r[0] for r in PROTOCOLS]


run = run_secki


# `secki upload-protocols` with a hold: once the bulk store has written every row, still
# inside accept_rows' transaction, it says so on stderr with what the transaction sees, then
# waits for stdin (the test kills it there; if the test goes away first it exits without
# committing). The moment of the kill is thus fixed, not timed.
HELD_UPLOAD = """
import os, sys
from secki.cli import main, setup_django

setup_django()
from secki.protocols import bulk

def store_and_hold(*args, **kwargs):
    from django.db import connection
    from secki.ledger.models import LedgerEntry
    from secki.protocols.models import Protocol, ProtocolValue

    bulk.store_accepted_unheld(*args, **kwargs)
    counts = [m.objects.count() for m in (Protocol, ProtocolValue, LedgerEntry)]
    print("held", connection.in_atomic_block, *counts, file=sys.stderr, flush=True)
    sys.stdin.read(1)
    os._exit(3)

bulk.store_accepted_unheld = bulk.store_accepted
bulk.store_accepted = store_and_hold
main()
"""

STATIONS = 200


def test_sigkill_mid_bulk_import_leaves_nothing_and_log_verifies(tmp_path: Path) -> None:
    """A subprocess on its own SQLite file: the upload is killed after it has stored every row,
    before its transaction commits. (Not a test of the test database: it runs once, with the
    SQLite half of ``make test``.)"""
    from secki.simulator import SimulationConfig, simulate, write_bundle

    env = {**os.environ, "SECKI_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    bundle = tmp_path / "sim"
    write_bundle(simulate(SimulationConfig(seed=3, stations=STATIONS)), bundle)
    protocols = (bundle / "protocols.csv").read_bytes()
    (bundle / "protocols.csv").unlink()
    run(env, "import", str(bundle))
    run(
        env,
        "manage",
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('root', 'r@example.org', 'x')",
    )
    db = tmp_path / "var" / "secki.sqlite3"
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT COUNT(*) FROM ledger_ledgerentry").fetchone()[0]
    upload = tmp_path / "protocols.csv"
    upload.write_bytes(protocols)
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_UPLOAD, "upload-protocols", str(upload), "--user", "root"],
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        assert "storing" in proc.stderr.readline()
        held = proc.stderr.readline().split()
        # inside the transaction: every protocol, its values and its ledger entry are written
        assert held[:2] == ["held", "True"], held
        stored, values, entries = map(int, held[2:])
        assert stored == STATIONS and values > 10 * STATIONS
        assert entries == before + STATIONS
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM protocols_protocol").fetchone() == (0,)
        assert con.execute("SELECT COUNT(*) FROM protocols_protocolvalue").fetchone() == (0,)
        assert con.execute("SELECT COUNT(*) FROM ledger_ledgerentry").fetchone() == (before,)
    verified = run(env, "verify-log")
    assert f"OK: {before:,} entries" in verified.stdout
    # the same upload, not killed, stores everything
    done = run(env, "upload-protocols", str(upload), "--user", "root")
    assert f"Accepted {STATIONS:,} protocols" in done.stdout
    assert f"OK: {before + STATIONS:,} entries" in run(env, "verify-log").stdout
    # tamper with one entry directly in the database: verify-log fails and names it
    with sqlite3.connect(db) as con:
        seq = con.execute(
            "SELECT seq FROM ledger_ledgerentry ORDER BY seq LIMIT 1 OFFSET ?", (before + 123,)
        ).fetchone()[0]
        con.execute(
            "UPDATE ledger_ledgerentry SET body = replace(body, '\"version\":1', "
            "'\"version\":2') WHERE seq = ?",
            (seq,),
        )
    failed = run(env, "verify-log", check=False)
    assert failed.returncode == 1
    assert f"(#{seq}, protocol.accepted)" in failed.stderr and "altered" in failed.stderr


@pytest.mark.django_db
def test_verify_log_names_a_deleted_or_relinked_entry(tmp_path: Path) -> None:
    from secki.ledger.chain import verify
    from secki.protocols import actions
    from tests.protocols.test_permissions import data

    election = register_only(write_small_bundle(tmp_path))
    people = make_personas(election)
    for code in ("1-1", "1-2", "2-1"):
        actions.submit_protocol(
            election, election.stations.get(code=code), data(code), actor=people["cec"].user
        )
    assert verify().ok
    second, third = LedgerEntry.objects.filter(election=election).order_by("index")[1:3]
    LedgerEntry.objects.filter(pk=second.pk).delete()
    result = verify()
    assert not result.ok and result.seq == third.seq
    assert f"entry {second.index} is missing (next is {third.index})" in (result.problem or "")
    assert ProtocolValue.objects.exists() and Protocol.objects.count() == 3


@pytest.mark.django_db
def test_bulk_upload_with_an_idempotency_key_is_done_once(tmp_path: Path) -> None:
    election = register_only(write_small_bundle(tmp_path))
    client = make_personas(election)["cec"].client()
    url = f"/api/v1/elections/{election.slug}/protocols-bulk"

    def send(rows: list[list[Any]]) -> Any:
        return client.post(
            url,
            data={"file": SimpleUploadedFile("p.csv", csv_text(rows))},
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    first = send(PROTOCOLS)
    assert first.status_code == 201, first.content
    before = state()
    again = send(PROTOCOLS)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = send(PROTOCOLS[:2])
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert state() == before
