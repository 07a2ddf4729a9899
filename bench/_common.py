"""Shared pieces of the benchmarks: a throwaway durable PostgreSQL, gunicorn, a load client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secki.devtools.pgserver import alive
from secki.server import (
    DEFAULT_THREADS,
    DEFAULT_WORKERS,
    free_port,
    server_command,
    wait_answering,
)

ROOT = Path(__file__).resolve().parents[1]
# Benchmarks run on throwaway databases: without SECKI_SECRET_KEY, the settings' development
# switch gives each run a random key in its var directory (docs/configuration.md).
os.environ.setdefault("SECKI_DEVELOPMENT", "1")


def secki(env: dict[str, str], *args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secki.cli", *args],
        env=env,
        check=True,
        text=True,
        capture_output=quiet,
    )


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants, live ones
    and those it has reaped (PostgreSQL backends come and go with the connections)."""
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / TICK
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server of a ``postgres://…:PORT/db`` URL (started with ``-p PORT``)."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and f"-p {port}".encode() in b" ".join(argv):
            return int(proc.name)
    return None


@dataclass
class CpuMeter:
    """CPU used by the application server, PostgreSQL and this process (the load client)
    between :meth:`start` and :meth:`stop`, per request."""

    server_pid: int
    pg_pid: int | None
    before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float]:
        pg = tree_cpu(self.pg_pid) if self.pg_pid else 0.0
        return tree_cpu(self.server_pid), pg, time.process_time()

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> None:
        self.after = self._now()

    def per_request(self, n: int) -> str:
        app, db, client = (1000 * (b - a) / n for a, b in zip(self.before, self.after, strict=True))
        return (
            f"CPU per request: application {app:.2f} ms, PostgreSQL {db:.2f} ms, together "
            f"{app + db:.2f} ms, load client {client:.2f} ms; {os.cpu_count()} CPUs, load "
            f"average {os.getloadavg()[0]:.1f}"
        )


@dataclass
class Server:
    port: int
    pid: int
    label: str


def descendants(pid: int) -> list[int]:
    """Every live process started by ``pid``, its children's children included."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found.extend(children)
                todo.extend(children)
        except (OSError, ValueError):
            continue
    return found


class RestartableServer:
    """The production server as :func:`app_server` runs it, on one loopback port for its whole
    life, which can be crashed (:meth:`kill`: SIGKILL to the main process and all its workers
    at once) and started again on the same port (crash tests)."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = DEFAULT_WORKERS,
        threads: int = DEFAULT_THREADS,
        app: str = "secki.wsgi:application",
        log: Path | None = None,
    ) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.command = server_command(
            "127.0.0.1", self.port, workers=workers, threads=threads, app=app
        )
        self.label = f"Granian {workers} workers x {threads} threads"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers (its output appended to ``log``)."""
        if self.log is None:
            self.proc = subprocess.Popen(self.command, env=self.env)
        else:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
                )
        wait_answering(self.port, self.proc)

    def pids(self) -> list[int]:
        """The main process and every worker process it started."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def kill(self) -> None:
        """SIGKILL to the main process and all its workers at once; return once they are
        gone."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(pid) for pid in pids[1:]):
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@contextlib.contextmanager
def app_server(
    env: dict[str, str],
    *,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    app: str = "secki.wsgi:application",
) -> Iterator[Server]:
    """The production server (``secki.server``, as ``secki serve`` runs it) on a loopback port,
    yielded once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        server_command("127.0.0.1", port, workers=workers, threads=threads, app=app), env=env
    )
    try:
        wait_answering(port, proc)
        yield Server(port, proc.pid, f"Granian {workers} workers x {threads} threads")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


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
