"""The production server: Granian (HTTP in Rust, the WSGI application in worker processes).

One definition of the command line for ``secki serve``, ``secki demo`` and the benchmarks.
Granian rather than gunicorn: measured on the protocol intake benchmark (2 cores, durable
PostgreSQL), gunicorn's gthread workers let one worker take every keep-alive connection (the
other idled at ~1 % CPU) and spent ~2.4 ms of Python per request on HTTP; Granian spreads
connections over its workers and its HTTP costs ~1 ms (see docs/architecture.md).
"""

from __future__ import annotations

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
