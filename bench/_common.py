"""Shared pieces of the benchmarks: a throwaway durable PostgreSQL, gunicorn, a load client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def secki(env: dict[str, str], *args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secki.cli", *args],
        env=env,
        check=True,
        text=True,
        capture_output=quiet,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (from /proc), in seconds."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


SERVER_PID: list[int] = []


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2, threads: int = 4) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "secki.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    SERVER_PID[:] = [proc.pid]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@dataclass
class LoadResult:
    sent: int
    ok: int
    errors: dict[int, int]
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def post_all(
    port: int, path: str, bodies: Sequence[dict[str, Any]], token: str, concurrency: int = 16
) -> LoadResult:
    """POST every body once over ``concurrency`` keep-alive connections (bounded: one pass)."""
    lock = threading.Lock()
    cursor = [0]
    latencies: list[float] = []
    errors: dict[int, int] = {}
    ok = [0]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                index = cursor[0]
                cursor[0] += 1
            if index >= len(bodies):
                break
            payload = json.dumps(bodies[index])
            start = time.perf_counter()
            conn.request("POST", path, payload, headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if response.status in (200, 201):
                    ok[0] += 1
                else:
                    errors[response.status] = errors.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(len(bodies), ok[0], errors, time.perf_counter() - start, latencies)


def get_json(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return json.loads(body)


def base_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    return env
