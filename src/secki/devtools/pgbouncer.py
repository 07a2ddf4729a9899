"""A throwaway PgBouncer (the machine's binary, Debian's ``pgbouncer`` package) in front of a
PostgreSQL server, for tests and benchmarks.

:class:`Bouncer` writes an ini file and an auth file into a temporary directory, listens on a
free loopback port (no Unix socket) and passes every database name through to the server it
fronts (``* = host=… port=…``), as the user of that server's URL, in ``transaction`` or
``session`` pool mode with ``pool_size`` server connections per database and user. Clients
authenticate with ``trust`` (loopback only, like the throwaway servers of
:mod:`secki.devtools.pgserver`). PgBouncer refuses to run as root, so when started by root it
runs as the ``postgres`` user (or ``nobody``), as the throwaway PostgreSQL servers do.

Binary: ``SECKI_PGBOUNCER``, else ``pgbouncer`` on the ``PATH``, else ``/usr/sbin/pgbouncer``.
When none is found :class:`Unavailable` is raised; tests skip then, unless
``SECKI_REQUIRE_PGBOUNCER=1`` (CI), which makes it a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from secki.devtools.pgserver import _server_user
from secki.server import free_port

MODES = ("transaction", "session")


class Unavailable(RuntimeError):
    """No pgbouncer binary on this machine."""


def find_binary() -> Path:
    explicit = os.environ.get("SECKI_PGBOUNCER")
    candidates: list[str | None] = [explicit, shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise Unavailable("no pgbouncer binary found: install pgbouncer or set SECKI_PGBOUNCER")


class Bouncer:
    """PgBouncer in front of the server at ``server_url`` (``postgres://user@host:port/db``).
    :meth:`start` returns once it accepts connections; :meth:`stop` shuts it down (every
    client connection is closed) and :meth:`remove` also deletes its directory."""

    def __init__(
        self,
        server_url: str,
        *,
        mode: str = "transaction",
        pool_size: int = 8,
        max_client_conn: int = 500,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"pool mode {mode!r}: use one of {', '.join(MODES)}")
        if pool_size < 1:
            raise ValueError(f"pool_size {pool_size}: at least 1")
        self.binary = find_binary()
        server = urlsplit(server_url)
        if server.hostname is None or server.username is None:
            raise ValueError(f"{server_url!r}: a postgres:// URL with a user and a host")
        self.user = server.username
        self.mode = mode
        self.pool_size = pool_size
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="secki-pgbouncer-"))
        self.log = self.root / "pgbouncer.log"
        self.ini = self.root / "pgbouncer.ini"
        auth = self.root / "users.txt"
        auth.write_text(f'"{self.user}" ""\n')
        target = f"host={server.hostname} port={server.port or 5432}"
        self.ini.write_text(
            "[databases]\n"
            f"* = {target}\n"
            "\n[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {auth}\n"
            f"logfile = {self.log}\n"
            f"pool_mode = {mode}\n"
            f"default_pool_size = {pool_size}\n"
            f"max_client_conn = {max_client_conn}\n"
            # a reserve pool would let more server connections in than ``pool_size``
            "reserve_pool_size = 0\n"
            # psycopg sends none of these, other clients (pg_dump, JDBC) do
            "ignore_startup_parameters = extra_float_digits\n"
        )
        self._kwargs: dict[str, object] = {}
        user = _server_user()
        if user is not None:
            for path in (self.root, auth, self.ini):
                os.chown(path, user.pw_uid, user.pw_gid)
            self._kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running pgbouncer's process id."""
        return None if self._proc is None else self._proc.pid

    def url(self, database: str = "postgres") -> str:
        """A client URL for ``database`` through the pooler."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        popen: Any = subprocess.Popen  # called with user/group when started by root
        self._proc = popen(
            [str(self.binary), "-q", str(self.ini)],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            **self._kwargs,
        )
        deadline = time.monotonic() + timeout
        while True:  # until it listens (it reads its configuration first)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"pgbouncer exited: {self._failure()}") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not listen: {self._failure()}") from None
                time.sleep(0.02)

    def _failure(self) -> str:
        err = b""
        if self._proc is not None and self._proc.poll() is not None and self._proc.stderr:
            err = self._proc.stderr.read()
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        return (err.decode(errors="replace") + log).strip()[-2000:]

    def stop(self) -> None:
        """Immediate shutdown (SIGTERM): client connections are closed, the servers' too."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_pgbouncer(
    server_url: str, *, mode: str = "transaction", pool_size: int = 8
) -> Iterator[Bouncer]:
    """A started :class:`Bouncer` in front of ``server_url``; removed afterwards."""
    bouncer = Bouncer(server_url, mode=mode, pool_size=pool_size)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.remove()
