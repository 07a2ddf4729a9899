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
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from secki.env import env_bool


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "running as root and no 'postgres' or 'nobody' user to run the server"
    )


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """Start a server; yield its ``postgres://`` URL; stop and delete it afterwards."""
    bindir = find_bindir()
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="secki-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    kwargs: dict[str, object] = {}
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        os.chown(sock, user.pw_uid, user.pw_gid)
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    port = _free_port()
    options = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        f"-k {sock}",
        "-c max_connections=200",
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    run: Any = subprocess.run  # called with user/group when started by root
    try:
        run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "secki",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=root,
            **kwargs,
        )
        run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-o",
                " ".join(options),
                "start",
            ],
            check=True,
            capture_output=True,
            cwd=root,
            **kwargs,
        )
    except subprocess.CalledProcessError as exc:
        log = root / "server.log"
        detail = log.read_text() if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"PostgreSQL failed to start: {exc.stderr.decode(errors='replace')}\n{detail}"
        ) from exc
    try:
        yield f"postgres://secki@127.0.0.1:{port}/postgres"
    finally:
        run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            cwd=root,
            **kwargs,
        )
        shutil.rmtree(root, ignore_errors=True)


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
