"""A throwaway PostgreSQL server from the machine's binaries, for tests and benchmarks.

    python -m secki.devtools.pgserver [--durable] -- COMMAND ARGS…

starts a fresh cluster in a temporary directory on a free loopback port, runs COMMAND with
``DATABASE_URL`` pointing at it, then stops the server and deletes the cluster. PostgreSQL
refuses to run as root, so when started by root the cluster belongs to the ``postgres``
user (or ``nobody``) and the server runs as that user.

Binaries: ``SECKI_PG_BINDIR``, else ``pg_config --bindir``, else the newest
``/usr/lib/postgresql/*/bin``. When none is found the command is skipped with a printed
reason, unless ``SECKI_REQUIRE_POSTGRES=1`` (CI), which makes it a failure.

Without ``--durable`` the server runs with fsync off (tests); benchmarks pass ``--durable``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from secki.env import env_bool
from secki.server import free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    explicit = os.environ.get("SECKI_PG_BINDIR")
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run(  # noqa: S603
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install postgresql "
        "or set SECKI_PG_BINDIR"
    )


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "running as root and no 'postgres' or 'nobody' user to run the server"
    )


class Cluster:
    """A throwaway cluster in a temporary directory, on a free loopback port: created by the
    constructor (initdb), then started, stopped, crashed (:meth:`kill`) and started again as
    a test needs; :meth:`remove` stops it and deletes the directory."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bindir = find_bindir()
        user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="secki-pg-"))
        self.data = self.root / "data"
        self.sock = sock = self.root / "sock"
        self.log = self.root / "server.log"
        sock.mkdir()
        self._kwargs: dict[str, object] = {}
        if user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)
            os.chown(sock, user.pw_uid, user.pw_gid)
            self._kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.port = free_port()
        self.url = f"postgres://secki@127.0.0.1:{self.port}/postgres"
        self._options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-k {sock}",
            "-c max_connections=200",
        ]
        if not durable:
            self._options += [
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "secki",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        run: Any = subprocess.run  # called with user/group when started by root
        run(
            [str(self.bindir / program), *args],
            check=check,
            capture_output=True,
            cwd=self.root,
            **self._kwargs,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (after a crash, once its
        recovery has replayed the WAL)."""
        try:
            self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "120",
                "-o",
                " ".join(self._options),
                "start",
            )
        except subprocess.CalledProcessError as exc:
            detail = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"PostgreSQL failed to start: {exc.stderr.decode(errors='replace')}\n{detail}"
            ) from exc

    def set(self, **options: str) -> None:
        """Server settings for the next :meth:`start` (``-c name=value``)."""
        self._options += [f"-c {name}={value}" for name, value in options.items()]

    @classmethod
    def standby_of(cls, primary: Cluster, name: str = "standby1") -> Cluster:
        """A streaming standby of ``primary`` (which must run): a base backup taken through a
        new replication slot ``name``, with the standby's connection settings written
        (``pg_basebackup -R``); its ``application_name`` is ``name``. Start it yourself."""
        standby = cls(durable=True)
        shutil.rmtree(standby.data)
        try:
            standby._run(
                "pg_basebackup",
                "-d",
                f"{primary.url}?application_name={name}",
                "-D",
                str(standby.data),
                "-X",
                "stream",
                "-c",
                "fast",
                "-R",
                "-C",
                "-S",
                name,
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(standby.root, ignore_errors=True)
            raise RuntimeError(
                f"pg_basebackup failed: {exc.stderr.decode(errors='replace')}"
            ) from exc
        with (standby.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=secki "
                f"application_name={name}'\nprimary_slot_name = '{name}'\n"
            )
        return standby

    def promote(self) -> None:
        """Make this standby a primary (``pg_ctl promote``, waiting until it accepts writes)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "120", "promote")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "stop", check=False)

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, WAL writer, checkpointer)."""
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        found = [postmaster]
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{postmaster}/task").iterdir():
                found.extend(int(c) for c in (task / "children").read_text().split())
        return found

    def kill(self) -> None:
        """Crash the server: SIGKILL to the postmaster and all its processes at once, as a
        crash of the database machine's processes would (what they had not written to the
        operating system is lost)."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            while alive(pid):
                time.sleep(0.01)
        # The postmaster is pg_ctl's orphan, and its zombie may outlive it here for a while
        # (until init reaps it): PostgreSQL would take the lock file's PID for a live server.
        # After a real crash nothing holds that PID any more (and a restarted machine has no
        # socket lock files either).
        for lock in [self.data / "postmaster.pid", *self.sock.glob(".s.PGSQL.*")]:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """Start a server; yield its ``postgres://`` URL; stop and delete it afterwards."""
    cluster = Cluster(durable=durable)
    try:
        cluster.start()
    except RuntimeError:
        shutil.rmtree(cluster.root, ignore_errors=True)
        raise
    try:
        yield cluster.url
    finally:
        cluster.remove()


def main(argv: list[str]) -> int:
    durable = "--durable" in argv[: argv.index("--")] if "--" in argv else False
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print(
            "usage: python -m secki.devtools.pgserver [--durable] -- COMMAND ARGS…", file=sys.stderr
        )
        return 2
    command = argv[argv.index("--") + 1 :]
    required = env_bool("SECKI_REQUIRE_POSTGRES", False)
    try:
        server = throwaway_postgres(durable=durable)
        url = server.__enter__()
    except PostgresUnavailable as exc:
        if required:
            print(
                f"FAILED: PostgreSQL is required (SECKI_REQUIRE_POSTGRES=1): {exc}", file=sys.stderr
            )
            return 1
        print(f"SKIPPED: PostgreSQL tests not run: {exc}", file=sys.stderr)
        return 0
    try:
        print(f"PostgreSQL: throwaway server at {url}", file=sys.stderr, flush=True)
        env = {**os.environ, "DATABASE_URL": url}
        return subprocess.run(command, env=env, check=False).returncode  # noqa: S603
    finally:
        server.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
