"""CPU and statements per write through the production WSGI path, on PostgreSQL (issue 15).

    python bench/bench_write_cost.py [--stations N] [--writes N] [--keys] [--profile FILE]

One protocol POSTed to ``/api/v1/elections/<slug>/protocols`` and one turnout report POSTed
to ``/api/v1/elections/<slug>/turnout`` at a time (one thread, so group commit runs every
write alone), through ``secki.opendata.wsgi:application`` (what ``secki serve`` runs:
observability, the open-data front, every middleware) called in this process. A throwaway
durable PostgreSQL server (fsync on) holds a simulated election; a CEC administrator's API
token sends the writes. For each kind the first writes warm the process up (imports, the API's
schemas, prepared statements), then ``--writes`` accepted writes are measured and this prints:
CPU per write of the application (this process) and of PostgreSQL (its server's processes),
the statements per write (Django's own cursors and :mod:`secki.rawsql`'s alike), and the
wall time. ``--keys`` sends every write with an ``Idempotency-Key`` of its own, as the phones
and bench_turnout.py do. ``--profile FILE`` also writes a cProfile of the measured writes
(``FILE.protocol``, ``FILE.turnout``) and prints the top entries. The figures are CPU, not
throughput: see bench_protocols.py and bench_turnout.py for rates under concurrent load.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import dataclasses
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import postmaster_pid, tree_cpu


def prepare(stations: int, work: Path) -> tuple[str, str, list[dict[str, Any]], list[str], str]:
    """Migrate, load a simulated register (no turnout, no protocols), issue a CEC
    administrator's token; return (slug, token, protocol bodies, station codes, first report
    time)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from secki.accounts.models import ApiToken, Membership, Role
    from secki.bundle.read import read_bundle
    from secki.intake.bundle_io import import_bundle
    from secki.simulator import SimulationConfig, simulate, write_bundle

    call_command("migrate", verbosity=0)
    sim = simulate(dataclasses.replace(SimulationConfig(), stations=stations))
    write_bundle(sim, work / "bundle")
    with (work / "bundle" / "protocols.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    bundle = read_bundle(work / "bundle")
    election = import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))
    user = get_user_model().objects.create_user("bench", "bench@example.org")
    Membership.objects.create(user=user, election=election, role=Role.CEC_ADMIN)
    _, token = ApiToken.issue(user, "bench")
    bodies = [
        {
            "station": r["station"],
            "values": {
                k: v if k == "L17" else int(v) for k, v in r.items() if k != "station" and v != ""
            },
        }
        for r in rows
    ]
    return election.slug, token, bodies, sim.station_codes(), sim.turnout_times[0]


def wsgi_post(
    app: Callable[..., Any], path: str, body: dict[str, Any], token: str, key: str | None = None
) -> int:
    """POST ``body`` as JSON through the WSGI application (with ``key`` as its
    Idempotency-Key); the status."""
    payload = json.dumps(body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(payload)),
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT_ENCODING": "gzip, br",
        "wsgi.input": io.BytesIO(payload),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if key is not None:
        environ["HTTP_IDEMPOTENCY_KEY"] = key
    status: list[str] = []

    def start_response(code: str, headers: Any, *exc: Any) -> Callable[[bytes], None]:
        status.append(code)
        return lambda data: None

    result = app(environ, start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return int(status[0].split(" ", 1)[0])


@dataclasses.dataclass
class Cost:
    label: str
    writes: int
    app_ms: float
    db_ms: float
    statements: float
    wall_ms: float

    def line(self) -> str:
        return (
            f"{self.label}: CPU per write: application {self.app_ms:.2f} ms, PostgreSQL "
            f"{self.db_ms:.2f} ms, together {self.app_ms + self.db_ms:.2f} ms; "
            f"{self.statements:.1f} statements per write; wall {self.wall_ms:.2f} ms per write "
            f"({self.writes} writes, one at a time, fsync on)"
        )


def measure(
    label: str,
    app: Callable[..., Any],
    path: str,
    bodies: Sequence[dict[str, Any]],
    token: str,
    pg: int | None,
    warm: int,
    profile: str | None,
    keys: bool = False,
) -> Cost:
    from secki.rawsql import counting

    prefix = f"{label.split()[0]}-" if keys else None

    def key(index: int) -> str | None:
        return None if prefix is None else f"{prefix}{index}"

    for index, body in enumerate(bodies[:warm]):
        status = wsgi_post(app, path, body, token, key(index))
        assert status == 201, (status, body)
    measured = bodies[warm:]
    with counting() as sent:
        wsgi_post(app, path, measured[0], token, key(warm))
    statements = len(sent)
    if os.environ.get("BENCH_SHOW_SQL"):
        print("\n".join(f"  {sql[:160]}" for sql in sent.sql))
    measured = measured[1:]
    profiler = cProfile.Profile(time.process_time) if profile else None
    db_before, app_before, wall_before = (
        tree_cpu(pg) if pg else 0.0,
        time.process_time(),
        time.perf_counter(),
    )
    if profiler:
        profiler.enable()
    for index, body in enumerate(measured, start=warm + 1):
        status = wsgi_post(app, path, body, token, key(index))
        assert status == 201, (status, body)
    if profiler:
        profiler.disable()
    wall, app_cpu = time.perf_counter() - wall_before, time.process_time() - app_before
    db_cpu = (tree_cpu(pg) if pg else 0.0) - db_before
    n = len(measured)
    if profiler and profile:
        profiler.dump_stats(f"{profile}.{label.split()[0]}")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(70)
        print(out.getvalue())
    return Cost(label, n, 1000 * app_cpu / n, 1000 * db_cpu / n, statements, 1000 * wall / n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=2_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--profile", help="write cProfile data to FILE.protocol, FILE.turnout")
    parser.add_argument(
        "--keys", action="store_true", help="send each write with an Idempotency-Key of its own"
    )
    args = parser.parse_args()
    if args.warm + args.writes + 1 > args.stations:
        parser.error("--stations must exceed --warm + --writes")

    from secki.devtools.pgserver import PostgresUnavailable, throwaway_postgres

    try:
        server = throwaway_postgres(durable=True)
        url = server.__enter__()
    except PostgresUnavailable as exc:
        print(f"write cost: SKIPPED ({exc})")
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="secki-bench-writes-") as tmp:
            os.environ["DATABASE_URL"] = url
            os.environ.setdefault("SECKI_VAR_DIR", str(Path(tmp) / "var"))
            os.environ["DJANGO_SETTINGS_MODULE"] = "secki.settings"
            slug, token, bodies, codes, first_time = prepare(args.stations, Path(tmp))
            from secki.opendata.wsgi import application

            n = args.warm + args.writes + 1
            pg = postmaster_pid(url)
            protocol = measure(
                "protocol POST" + (" with Idempotency-Key" if args.keys else ""),
                application,
                f"/api/v1/elections/{slug}/protocols",
                bodies[:n],
                token,
                pg,
                args.warm,
                args.profile,
                args.keys,
            )
            reports = [{"station": code, "time": first_time, "voters": 1} for code in codes[:n]]
            turnout = measure(
                "turnout POST" + (" with Idempotency-Key" if args.keys else ""),
                application,
                f"/api/v1/elections/{slug}/turnout",
                reports,
                token,
                pg,
                args.warm,
                args.profile,
                args.keys,
            )
            from django.db import connections

            connections.close_all()
    finally:
        server.__exit__(None, None, None)
    for cost in (protocol, turnout):
        print(cost.line())
    print(f"  {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
