"""`secki demo` end to end: the production server (Granian) serving a simulated election
while the replay runs, and its transparency log, published beside it, cosigned by the demo's
two witnesses and checked by the verifier (issue 14, "Done when"): a checkpoint saved
mid-replay, then at the end, over HTTP and on a copy of the directory, consistency with it,
a chosen station's inclusion and every total, unit and station (the open-data release the
publisher links beside the log included) recomputed and equal."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from secki.server import free_port
from secki.tlog import canonical
from secki.tlog.checkpoint import WitnessPolicy, open_checkpoint
from secki.tlog.note import VerifierKey
from secki.verifier.cli import main as verify
from tests.factories import run_secki


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return str(response.read().decode())


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def verify_printed(arguments: list[str]) -> tuple[int, str]:
    """``secki verify ARGUMENTS``: its exit status and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = verify(arguments)
    return status, out.getvalue()


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
#: the replay's speed: fast enough for a short test, slow enough that the replay is bound by
#: its clock and outlasts the server's start, so that the verifier saves a checkpoint mid-replay
SPEED = "8000"


def test_demo_serves_live_totals_of_a_simulated_election(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
            SPEED,
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
        state = tmp_path / "verifier.json"
        # mid-replay: the publisher's first checkpoint (the demo publishes once before its
        # replay starts), verified from its directory as soon as the site lists it, and saved
        # in the verifier's state file
        site = tmp_path / "var" / "log"
        while time.monotonic() < deadline and f'"{slug}"' not in read_text(site / "elections.json"):
            time.sleep(0.05)
        status, printed = verify_printed(
            [str(site), "--election", slug, "--no-totals", "--no-progress", "--state", str(state)]
        )
        assert status == 0, printed
        saved = int(printed.split(" checkpoint: size ", 1)[1].split(",", 1)[0])
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
        # an open-data release of the complete results, linked beside the log by a round of
        # the publisher (the demo's own rounds would link it too, at their pace)
        var = Path(env["SECKI_VAR_DIR"])
        publisher_env = {
            **env,
            "SECKI_DEVELOPMENT": "1",
            "SECKI_LOG_NAME": f"127.0.0.1:{port}/log",
            "SECKI_WITNESS_POLICY": str(var / "witnesses" / "policy.txt"),
        }
        run_secki(publisher_env, "snapshot", "--election", slug, "--release")
        run_secki(publisher_env, "publish", "--quiet")
        station = chosen_station(var, slug)
        arguments = [log, "--election", slug, "--log-key", log_key, "--no-progress"]
        arguments += ["--witnesses", str(tmp_path / "witnesses.txt"), "--station", station]
        status, printed = verify_printed([*arguments, "--state", str(state)])
        assert status == 0, printed
        final = checkpoint.checkpoint.size
        assert 0 < saved < final  # saved mid-replay
        assert f"PASS  {slug} consistency: extends the checkpoint saved at size {saved}" in (
            printed
        ), printed
        assert f"PASS  {slug} station {station}: " in printed and "entries included" in printed
        assert "every number equals the log's at size" in printed
        assert f"over {STATIONS} stations and " in printed  # every unit too
        assert f"PASS  {slug} open data v" in printed, printed  # every station's row
        # the same on a downloaded copy of the served files, offline
        copy = tmp_path / "downloaded"
        mirror(log, copy, slug, station, monkeypatch)
        status, offline = verify_printed([str(copy), *arguments[1:], "--state", str(state)])
        assert status == 0, offline
        assert f"PASS  {slug} consistency: the same checkpoint as the one saved" in offline
        assert f"PASS  {slug} open data v" in offline, offline
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


def chosen_station(var: Path, slug: str) -> str:
    """A station of the election with a scan: the first row of the live bulk CSV."""
    live = var / "opendata" / slug / "live" / "stations.csv.gz"
    rows = csv.DictReader(io.StringIO(gzip.decompress(live.read_bytes()).decode()))
    return str(next(rows)["station"])


def mirror(
    log: str, target: Path, slug: str, station: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Download every file the verifier reads from ``log`` over HTTP into ``target``: what
    ``wget --mirror`` of the site's ``/log/`` would hold for this election and station."""
    from secki.tlog import tiles
    from secki.verifier import site

    fetched: list[str] = []
    state = target.parent / "mirror-state.json"
    original = tiles.http_source

    def recording(
        prefix: str, *, timeout: float = 30.0, max_size: int = tiles.MAX_FILE_SIZE
    ) -> tiles.Source:
        source = original(prefix, timeout=timeout, max_size=max_size)

        def read(path: str) -> bytes | None:
            data = source(path)
            if data is not None:
                destination = target / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(data)
                fetched.append(path)
            return data

        return read

    with monkeypatch.context() as patched:
        patched.setattr(site, "http_source", recording)
        status, printed = verify_printed(
            [
                log,
                "--election",
                slug,
                "--station",
                station,
                "--no-progress",
                "--state",
                str(state),
            ]
        )
    assert status == 0, printed
    assert f"{slug}/checkpoint" in fetched and "elections.json" in fetched


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
