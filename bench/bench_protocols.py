"""Protocol intake on PostgreSQL with the production server (issue 3 targets).

    python bench/bench_protocols.py [--stations N] [--bulk N] [--concurrency C]
                                    [--group-commit on|off|both] [--pgbouncer [--pool-size P]]

1. Sustained single-protocol ingest: every protocol of a simulated election POSTed once to
   /api/v1/elections/{slug}/protocols by C concurrent keep-alive clients (target ≥ 300/s,
   p99 < 250 ms); the national totals are then checked against the simulator's files. With
   ``--group-commit both`` (the default) the ingest runs twice, on a fresh server each time,
   with group commit (``SECKI_GROUP_COMMIT=1``) and without, and the ratio is printed.
   With ``--pgbouncer`` each ingest also runs with a real PgBouncer (the machine's binary,
   ``secki.devtools.pgbouncer``) in transaction pool mode, ``--pool-size`` server connections
   (default 8), between the production server and PostgreSQL
   (``SECKI_DATABASE_POOLER=pgbouncer-transaction``), and the rate and p99 are printed beside
   the direct run's.
2. Time from accept to the national total reflecting it (target ≤ 1 s): the API's national
   results are polled right after each of several further accepts.
3. Bulk import of a 100,000-station protocols.csv through `secki upload-protocols` (target
   ≤ 60 s), printed with the ratio to a plain COPY of the same rows into PostgreSQL.
Everything runs on throwaway durable PostgreSQL servers (fsync on) and loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    CpuMeter,
    app_server,
    base_env,
    get_json,
    post_all,
    postmaster_pid,
    secki,
    tree_cpu,
)
from secki.devtools.pgbouncer import throwaway_pgbouncer
from secki.devtools.pgserver import throwaway_postgres

MAKE_BENCH_USER = (
    "from django.contrib.auth import get_user_model\n"
    "from secki.accounts.models import ApiToken, Membership\n"
    "from secki.elections.models import Election\n"
    "u = get_user_model().objects.create_user('bench')\n"
    "for e in Election.objects.all():\n"
    "    Membership.objects.create(user=u, election=e, role='cec_admin')\n"
    "print(ApiToken.issue(u, 'bench')[1])\n"
)


WORKERS, THREADS = 2, 4


def load_register(env: dict[str, str], out: Path, stations: int, seed: int) -> list[dict[str, str]]:
    secki(
        env,
        "simulate",
        "--quiet",
        "--out",
        str(out),
        "--stations",
        str(stations),
        "--seed",
        str(seed),
    )
    with (out / "protocols.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    (out / "protocols.csv").rename(out / "protocols.upload")
    (out / "turnout.csv").unlink()
    secki(env, "import", str(out))
    return rows


def ingest(
    env: dict[str, str],
    tmp: Path,
    stations: int,
    concurrency: int,
    pg: int | None,
    server_env: dict[str, str] | None = None,
    route: str = "direct",
    pooler: int | None = None,
) -> tuple[float, float]:
    """The ingest's rate, in protocols per second, and its p99 in ms. The register is loaded
    with ``env``; the server runs with ``server_env`` (default: ``env``)."""
    grouped = env.get("SECKI_GROUP_COMMIT", "1") != "0"
    rows = load_register(env, tmp, stations, seed=11)
    token = secki(env, "manage", "shell", "-c", MAKE_BENCH_USER).stdout.strip().splitlines()[-1]
    slug = "az-2024-simulated"
    bodies = [
        {
            "station": r["station"],
            # counts as JSON numbers (the API takes no digit strings), the instant L17 as text
            "values": {
                k: v if k == "L17" else int(v) for k, v in r.items() if k != "station" and v != ""
            },
        }
        for r in rows
    ]
    held_back = bodies[-5:]
    with app_server(server_env or env, workers=WORKERS, threads=THREADS) as server:
        port = server.port
        meter = CpuMeter(server.pid, pg)
        meter.start()
        pooler_before = tree_cpu(pooler) if pooler else 0.0
        result = post_all(
            port, f"/api/v1/elections/{slug}/protocols", bodies[:-5], token, concurrency
        )
        meter.stop()
        pooler_ms = 1000 * ((tree_cpu(pooler) if pooler else 0.0) - pooler_before) / result.sent
        print(
            f"protocol API ingest: {result.sent:,} protocols in {result.seconds:.1f} s, "
            f"{result.rate:.0f} protocols/s (target >= 300/s, {result.rate / 300:.2f}x); "
            f"p50 {result.percentile(50):.0f} ms, p99 {result.percentile(99):.0f} ms "
            f"(target < 250 ms); errors {result.errors or 'none'}; {concurrency} clients, "
            f"{server.label}, durable PostgreSQL, group commit {'on' if grouped else 'off'}, "
            f"{route}"
        )
        print(f"  {meter.per_request(result.sent)}")
        if pooler:
            print(f"  CPU per request: PgBouncer {pooler_ms:.2f} ms")

        # The public reads a published state, at most one interval old and per server
        # process: wait for the count each accept must reach, not for any change (two
        # processes may answer with states a moment apart).
        def reported() -> int:
            return int(get_json(port, f"/api/v1/elections/{slug}/results")["stations_reported"])

        def reach(count: int, since: float) -> float:
            while reported() < count and time.perf_counter() - since < 10:
                time.sleep(0.01)
            return time.perf_counter() - since

        reach(result.sent, time.perf_counter())
        lags = []
        for i, body in enumerate(held_back, start=1):
            post_all(port, f"/api/v1/elections/{slug}/protocols", [body], token, 1)
            lags.append(reach(result.sent + i, time.perf_counter()))
        print(
            f"accept → national total: max {max(lags):.3f} s, mean "
            f"{sum(lags) / len(lags):.3f} s over {len(lags)} accepts (target <= 1 s)"
        )
        national = get_json(port, f"/api/v1/elections/{slug}/results")
        settled = time.perf_counter() + 10  # until the answering process's state has them all
        while national["stations_reported"] < len(rows) and time.perf_counter() < settled:
            time.sleep(0.01)
            national = get_json(port, f"/api/v1/elections/{slug}/results")
    expected: dict[str, int] = {}
    for r in rows:
        for k, v in r.items():
            if k not in ("station", "L17") and v != "":
                expected[k] = expected.get(k, 0) + int(v)
    same = national["lines"] == expected and national["stations_reported"] == len(rows)
    print(f"national totals after ingest equal the simulator's files: {'yes' if same else 'NO'}")
    return result.rate, result.percentile(99)


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children (the CLI runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bulk(env: dict[str, str], tmp: Path, stations: int, url: str) -> None:
    import psycopg

    load_register(env, tmp / "bulk", stations, seed=12)
    secki(
        env,
        "manage",
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('bulk', 'b@example.org', 'x')",
    )
    upload = tmp / "bulk" / "protocols.upload"
    pg = postmaster_pid(url)
    cpu_before = children_cpu(), tree_cpu(pg) if pg else 0.0
    start = time.perf_counter()
    secki(env, "upload-protocols", str(upload), "--election", "az-2024-simulated", "--user", "bulk")
    elapsed = time.perf_counter() - start
    app_cpu = children_cpu() - cpu_before[0]
    db_cpu = (tree_cpu(pg) if pg else 0.0) - cpu_before[1]
    with upload.open() as handle:
        header = next(csv.reader(handle))
    columns = ", ".join(f'"{c}" {"text" if c in ("station", "L17") else "bigint"}' for c in header)
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as con:
        con.execute(f"CREATE TABLE copy_bench ({columns})")
        start = time.perf_counter()
        with (
            con.cursor() as cur,
            cur.copy("COPY copy_bench FROM STDIN WITH (FORMAT csv, HEADER)") as copy,
            upload.open("rb") as handle,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        copied = time.perf_counter() - start
        count = con.execute("SELECT COUNT(*) FROM protocols_protocol").fetchone()
    assert count is not None
    print(
        f"bulk import {stations:,} protocols: {elapsed:.1f} s (target <= 60 s, "
        f"{elapsed / 60:.2f}x target); plain COPY of the same rows: {copied:.2f} s; "
        f"ratio {elapsed / copied:.0f}x; {count[0]:,} protocols stored"
    )
    print(
        f"  CPU per protocol: upload-protocols {1e6 * app_cpu / stations:.0f} us, PostgreSQL "
        f"{1e6 * db_cpu / stations:.0f} us, together {1e6 * (app_cpu + db_cpu) / stations:.0f} "
        f"us; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )


def fresh_database(url: str, name: str, var: Path) -> dict[str, str]:
    """A new, migrated database ``bench_<name>`` on the server at ``url``: its environment."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as con:
        con.execute(f"CREATE DATABASE bench_{name}")
    env = base_env(DATABASE_URL=url.rsplit("/", 1)[0] + f"/bench_{name}", SECKI_VAR_DIR=str(var))
    secki(env, "manage", "migrate", "-v", "0")
    return env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=6_537)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="each ingest also through PgBouncer in transaction mode (rate and p99 beside)",
    )
    parser.add_argument("--pool-size", type=int, default=8, help="PgBouncer's server connections")
    parser.add_argument(
        "--group-commit",
        choices=["on", "off", "both", "off-first"],
        default="both",
        help="ingest with group commit, without, or both (off-first: both, without first)",
    )
    args = parser.parse_args()
    globals().update(WORKERS=args.workers, THREADS=args.threads)
    variants = {
        "on": ["on"],
        "off": ["off"],
        "both": ["on", "off"],
        "off-first": ["off", "on"],
    }[args.group_commit]
    routes = ["direct", "pgbouncer"] if args.pgbouncer else ["direct"]
    rates: dict[str, float] = {}
    pooled: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            for route in routes:
                # each run on a server of its own: none inherits another's WAL, checkpoints or
                # autovacuum work
                with throwaway_postgres(durable=True) as url:
                    name = f"{variant}_{route}"
                    env = fresh_database(url, "ingest", Path(tmp) / f"ingest_{name}")
                    env["SECKI_GROUP_COMMIT"] = "1" if variant == "on" else "0"
                    with contextlib.ExitStack() as stack:
                        server_env = None
                        label = "direct to PostgreSQL"
                        pooler_pid = None
                        if route == "pgbouncer":
                            bouncer = stack.enter_context(
                                throwaway_pgbouncer(url, pool_size=args.pool_size)
                            )
                            server_env = {
                                **env,
                                "DATABASE_URL": bouncer.url("bench_ingest"),
                                "SECKI_DATABASE_POOLER": "pgbouncer-transaction",
                            }
                            label = f"through PgBouncer (transaction, pool {args.pool_size})"
                            pooler_pid = bouncer.pid
                        pooled[name] = ingest(
                            env,
                            Path(tmp) / f"sim_{name}",
                            args.stations,
                            args.concurrency,
                            postmaster_pid(url),
                            server_env,
                            label,
                            pooler_pid,
                        )
                    if route == "direct":
                        rates[variant] = pooled[name][0]
            if args.pgbouncer:
                (direct_rate, direct_p99) = pooled[f"{variant}_direct"]
                (pool_rate, pool_p99) = pooled[f"{variant}_pgbouncer"]
                print(
                    f"PgBouncer (transaction, pool {args.pool_size}), group commit {variant}: "
                    f"{pool_rate:.0f} protocols/s, p99 {pool_p99:.0f} ms; direct: "
                    f"{direct_rate:.0f} protocols/s, p99 {direct_p99:.0f} ms; rate ratio "
                    f"pgbouncer/direct {pool_rate / direct_rate:.2f}"
                )
        if len(rates) == 2:
            print(
                f"group commit: {rates['on']:.0f} protocols/s on, {rates['off']:.0f} "
                f"protocols/s off; ratio on/off {rates['on'] / rates['off']:.2f}"
            )
        if args.bulk:
            with throwaway_postgres(durable=True) as url:
                env = fresh_database(url, "bulk", Path(tmp) / "bulk_var")
                bulk(env, Path(tmp), args.bulk, env["DATABASE_URL"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
