"""The production server: Granian (HTTP in Rust, the WSGI application in worker processes).

One definition of the command line for ``secki serve``, ``secki demo`` and the benchmarks.
Granian rather than gunicorn: gunicorn's gthread workers let one worker take every keep-alive
connection while the others idle, and spend more Python per request on HTTP; Granian spreads
connections over its workers and does HTTP in Rust (docs/architecture.md, "Serving").
"""

from __future__ import annotations

import subprocess
import sys

DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4


def server_command(
    host: str,
    port: int,
    *,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    app: str = "secki.wsgi:application",
) -> list[str]:
    """The command that serves ``app`` on ``host:port``: ``workers`` processes with
    ``threads`` threads each for the (blocking) Django code."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        app,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "30",
        "--log-level",
        "warning",
    ]


def take_stop_signals_in_a_worker() -> None:
    """Make a Granian worker stop when told to, whenever the signal comes and whichever of its
    threads the kernel hands it to.

    A worker's main thread waits for its shutdown event with no timeout, and only the main
    thread runs Python's signal handlers. Two ways a SIGTERM was lost (a worker "refused to
    gracefully stop" and was killed after ``--workers-kill-timeout``):
    the kernel gave the signal to one of the server's Rust threads, so the handler was only
    marked as due and the waiting main thread never ran it; or the signal came while the
    worker was still loading the application, before the worker's handler was installed.

    So, in a worker, SIGTERM and SIGINT are blocked in the main thread while the application
    loads (every thread started afterwards inherits that), and one daemon thread takes them
    with ``sigwait``: it waits until the worker has installed its own handler (not the one
    inherited from the parent process) and calls it. Call this first thing in the worker's
    main thread while the application loads (:mod:`secki.wsgi`); elsewhere it does nothing.
    """
    import multiprocessing
    import signal
    import threading
    import time

    if (
        multiprocessing.current_process().name != "granian-worker"
        or threading.current_thread() is not threading.main_thread()
    ):
        return
    stops = {signal.SIGTERM, signal.SIGINT}
    inherited: dict[int, object] = {signum: signal.getsignal(signum) for signum in stops}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def relay() -> None:
        signum = signal.sigwait(stops)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            handler = signal.getsignal(signum)
            if callable(handler) and handler is not inherited[signum]:
                handler(signum, None)
                return
            time.sleep(0.05)  # the worker is still starting: its handler comes next

    threading.Thread(target=relay, name="secki-stop-signals", daemon=True).start()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for tests, benchmarks, fuzzing)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_answering(
    port: int, proc: subprocess.Popen[bytes], *, path: str = "/", timeout: float = 60
) -> None:
    """Wait until the server started as ``proc`` answers ``GET path`` on ``port``; raise
    RuntimeError when it exits first or ``timeout`` seconds pass."""
    import http.client
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the application server did not start") from None
            time.sleep(0.2)
