"""``secki witness keygen`` and ``secki witness serve`` as programs: the key file (mode 0600,
never overwritten), and the server started as a process that cosigns over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from tests.witness.conftest import MemoryLog, log_key

from secki.cli import cli
from secki.tlog.note import KeyType, Signer, VerifierKey, add_signatures, open_note
from secki.witness.cli import main
from secki.witness.client import submit


def test_keygen_writes_a_private_key_readable_only_by_its_owner(tmp_path: Path) -> None:
    key_file = tmp_path / "w1.key"
    result = CliRunner().invoke(
        cli, ["witness", "keygen", "--name", "w1.example", "--out", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    vkey = VerifierKey.parse(result.output.strip())
    assert (vkey.name, vkey.key_type) == ("w1.example", KeyType.COSIGNATURE)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Signer.parse(key_file.read_text().strip()).verifier == vkey
    # never overwritten
    assert main(["keygen", "--name", "w1.example", "--out", str(key_file)]) == 1
    assert Signer.parse(key_file.read_text().strip()).verifier == vkey


def test_serve_runs_as_a_process_until_stopped(tmp_path: Path) -> None:
    key_file = tmp_path / "w.key"
    assert main(["keygen", "--name", "w9.example", "--out", str(key_file)]) == 0
    witness_vkey = Signer.parse(key_file.read_text().strip()).verifier
    command = [
        sys.executable,
        "-m",
        "secki.witness.cli",
        "serve",
        "--key",
        str(key_file),
        "--state",
        str(tmp_path / "state.sqlite"),
        "--log-key",
        log_key().verifier.format(),
        "--port",
        "0",
        "--quiet",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"witness {witness_vkey.format()}"
        listening = process.stdout.readline().strip()
        assert listening.startswith("listening on http://127.0.0.1:")
        url = listening.removeprefix("listening on ")
        log = MemoryLog(log_key())
        log.add(2)
        lines = submit(url, 0, [], log.note())
        opened = open_note(add_signatures(log.note(), lines), [witness_vkey])
        assert len(opened.verified) == 1
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()
    assert (tmp_path / "state.sqlite").exists()


def test_serve_refuses_a_bad_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "log.key"
    key_file.write_text(log_key().format() + "\n")
    code = main(
        [
            "serve",
            "--key",
            str(key_file),
            "--state",
            str(tmp_path / "s.sqlite"),
            "--log-key",
            log_key().verifier.format(),
            "--port",
            "0",
        ]
    )
    assert code == 1
