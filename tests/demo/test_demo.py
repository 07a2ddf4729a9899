"""`secki demo` end to end: the production server (Granian) serving a simulated election
while the replay runs, and its transparency log, published beside it, cosigned by the demo's
two witnesses and checked by the verifier at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from secki.server import free_port
from secki.tlog import canonical
from secki.tlog.checkpoint import WitnessPolicy, open_checkpoint
from secki.tlog.note import VerifierKey
from secki.verifier.cli import main as verify
from tests.factories import run_secki


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return str(response.read().decode())


def counted(log: str, slug: str) -> int:
    """The stations counted by the log's latest published results (-1 before any)."""
    try:
        latest = canonical.decode(fetch(f"{log}{slug}/results/latest.json").encode())
    except OSError:
        return -1
    value = latest["stations_counted"]
    return value if isinstance(value, int) else -1


# Enough for every report time and a protocol per station; the replay is bound by its writes
# (each one durable), not by its clock, so its time grows with the stations.
STATIONS = 60


def test_demo_serves_live_totals_of_a_simulated_election(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SECKI_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)  # the demo runs on the embedded database
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secki.cli",
            "demo",
            "--port",
            str(port),
            "--stations",
            str(STATIONS),
            "--speed",
            "20000",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    slug = "az-2024-simulated"
    url = f"http://127.0.0.1:{port}/e/{slug}/"
    log = f"http://127.0.0.1:{port}/log/"
    try:
        deadline = time.monotonic() + 90
        page = ""
        while time.monotonic() < deadline:
            try:
                page = fetch(url)
                if f'id="reporting">{STATIONS} / {STATIONS}<' in page:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert "Simulated data" in page
        assert f'id="reporting">{STATIONS} / {STATIONS}<' in page, page[:2000]
        home = fetch(f"http://127.0.0.1:{port}/")
        assert "Simulated" in home
        # the log catches up within seconds, cosigned by both witnesses
        while counted(log, slug) < STATIONS and time.monotonic() < deadline + 30:
            time.sleep(0.2)
        assert counted(log, slug) == STATIONS
        log_key = fetch(f"{log}log.vkey").strip()
        policy_text = fetch(f"{log}witnesses.txt")
        policy = WitnessPolicy.parse(policy_text)
        assert len(policy.witnesses) == 2 and policy.quorum == 2
        checkpoint = open_checkpoint(
            fetch(f"{log}{slug}/checkpoint"),
            VerifierKey.parse(log_key),
            policy,
            f"127.0.0.1:{port}/log/{slug}",
            int(time.time()),
        )
        assert len(checkpoint.cosignatures) == 2
        (tmp_path / "witnesses.txt").write_text(policy_text)
        arguments = [log, "--election", slug, "--log-key", log_key, "--no-progress"]
        arguments += ["--witnesses", str(tmp_path / "witnesses.txt")]
        arguments += ["--state", str(tmp_path / "verifier.json")]
        assert verify(arguments) == 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # leave no server behind, then fail
            proc.communicate()
            raise
    assert proc.returncode == 0, output  # stopped cleanly, children waited for
    assert f"serving at http://127.0.0.1:{port}/" in output
    assert "[replay] done: " in output and ", 0 refused" in output, output
    # the replay's log: valid, and its tally is the public tabulation and turnout
    assert "OK: " in run_secki(env, "verify-log").stdout
    checked = subprocess.run(
        [sys.executable, "-c", CHECK_LOGS],
        env=env,
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    )
    assert f"checked az-2024-simulated: {STATIONS} stations counted" in checked.stdout


ROOT = Path(__file__).resolve().parents[2]
CHECK_LOGS = """
from secki.cli import setup_django

setup_django()
from secki.elections.models import Election
from tests.logcheck import check_log

for election in Election.objects.all():
    tally = check_log(election)
    print(f"checked {election.slug}: {tally.stations_counted} stations counted")
"""
