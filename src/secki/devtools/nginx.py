"""Start Debian's nginx with the shipped configuration (deploy/nginx/) on loopback ports, for the
tests (tests/portal/test_nginx.py) and the benchmarks (bench/bench_portal.py).

Only the site-specific values that deploy/nginx/secki.conf names at its top are replaced: the
var directory, the app's address, the certificate (a fresh self-signed one), the include
directory, and the listening ports (loopback, no IPv6). Everything else is the file as shipped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "nginx"
HOST = "results.example.org"
SHIPPED = {
    "var": "/var/lib/secki",
    "cache": "/var/cache/nginx/secki",
    "app": "127.0.0.1:8000",
    "intake": "127.0.0.1:8001",
    "chain": "/etc/ssl/secki/fullchain.pem",
    "key": "/etc/ssl/secki/privkey.pem",
    "includes": "/etc/nginx/",
    "tls": "listen 443 ssl http2;",
    "plain": "listen 80;",
}


class Unavailable(RuntimeError):
    """No nginx binary on this machine."""


@dataclass
class Nginx:
    tls_port: int
    plain_port: int
    work: Path

    def context(self) -> ssl.SSLContext:
        """A client context that accepts the self-signed certificate."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context


def binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise Unavailable("no nginx binary (apt-get install nginx)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for :data:`HOST` valid for a day, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    chain, private = directory / "fullchain.pem", directory / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain, private


def render(
    var_dir: Path,
    app_port: int,
    work: Path,
    *,
    workers: int = 1,
    overrides: dict[str, str] | None = None,
    intake_port: int | None = None,
) -> Nginx:
    """Write the shipped files with this run's values, and a main nginx.conf including them,
    under ``work``; check them with ``nginx -t``. ``overrides``: more texts to replace (a
    test's lower rate limit); ``intake_port``: where the writes go (None: the app's port)."""
    conf = work / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    chain, private = self_signed(work)
    tls, plain = free_port(), free_port()
    replaced = {
        SHIPPED["cache"]: str(work / "cache"),
        SHIPPED["var"]: str(var_dir),
        SHIPPED["app"]: f"127.0.0.1:{app_port}",
        SHIPPED["intake"]: f"127.0.0.1:{intake_port or app_port}",
        SHIPPED["chain"]: str(chain),
        SHIPPED["key"]: str(private),
        SHIPPED["includes"]: f"{conf}/",
        SHIPPED["tls"]: f"listen 127.0.0.1:{tls} ssl http2;",
        SHIPPED["plain"]: f"listen 127.0.0.1:{plain};",
        **(overrides or {}),
    }
    # one pass: a value put in is never matched again (an app port 8001… is no intake)
    pattern = re.compile("|".join(re.escape(old) for old in sorted(replaced, key=len)[::-1]))
    for source in sorted(DEPLOY.glob("*.conf")):
        text = pattern.sub(lambda match: replaced[match.group()], source.read_text())
        lines = [line for line in text.splitlines() if "listen [::]" not in line]
        (conf / source.name).write_text("\n".join(lines) + "\n")
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"  {kind}_temp_path {work}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (work / "nginx.conf").write_text(
        f"{user}\nworker_processes {workers};\ndaemon off;\npid {work}/nginx.pid;\n"
        f"error_log {work}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n  access_log off;\n  keepalive_requests 1000000;\n{temp}\n"
        f"  include {conf / 'secki.conf'};\n}}\n"
    )
    command = [binary(), "-t", *_paths(work)]
    check = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if check.returncode != 0:
        raise RuntimeError(f"nginx refuses the configuration:\n{check.stderr}")
    return Nginx(tls, plain, work)


def _paths(work: Path) -> list[str]:
    return ["-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log")]


@contextlib.contextmanager
def shipped(
    var_dir: Path,
    app_port: int,
    work: Path,
    *,
    workers: int = 1,
    overrides: dict[str, str] | None = None,
    intake_port: int | None = None,
) -> Iterator[Nginx]:
    """nginx running the shipped configuration until the block ends (:func:`render`)."""
    site = render(
        var_dir, app_port, work, workers=workers, overrides=overrides, intake_port=intake_port
    )
    proc = subprocess.Popen([binary(), *_paths(work)])  # noqa: S603 - our own arguments
    try:
        deadline = time.monotonic() + 60
        while True:  # until it listens (the configuration was checked: it will)
            try:
                socket.create_connection(("127.0.0.1", site.tls_port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((work / "error.log").read_text()) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen within 60 s") from None
                time.sleep(0.05)
        yield site
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
