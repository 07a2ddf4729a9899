"""The production server (secki.server): its workers stop when told to, even while loading."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from secki.server import free_port, server_command


def blocks_sigterm(pid: int) -> bool:
    """Whether the process's main thread blocks SIGTERM (/proc/PID/status, SigBlk)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:"))
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def test_workers_stop_on_sigterm_while_they_load_the_application(tmp_path: Path) -> None:
    """SIGTERM to the whole server while its workers are still loading Django. Before
    secki.server.take_stop_signals_in_a_worker a worker missed such a signal (or one that a
    Rust thread caught), waited for ever and was killed by Granian 30 s later ("refused to
    gracefully stop"). The moment is the workers' own: each has taken over the stop signals
    (its main thread blocks SIGTERM) as the first step of loading the application."""
    env = {**os.environ, "SECKI_VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    command = server_command("127.0.0.1", free_port(), workers=2, threads=2)
    command[command.index("--log-level") + 1] = "info"  # to read the workers' PIDs
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        workers: list[int] = []
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"Spawning worker-\d+ with PID: (\d+)", line)
            if found:
                workers.append(int(found.group(1)))
            if len(workers) == 2:
                break
        deadline = time.monotonic() + 60
        while not all(blocks_sigterm(pid) for pid in workers):
            assert time.monotonic() < deadline, "the workers never took the stop signals"
            time.sleep(0.001)
        os.killpg(proc.pid, signal.SIGTERM)
        output = "".join(lines) + proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "refused to gracefully stop" not in output, output
    assert "Stopped worker-1" in output and "Stopped worker-2" in output, output
