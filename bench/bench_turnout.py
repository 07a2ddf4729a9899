"""Benchmark turnout intake through the JSON API and the aggregate refresh, on PostgreSQL.

    python bench/bench_turnout.py [--stations N] [--clients C] [--workers W] [--threads T]

Targets (issue 4): 6,537 stations x 5 report times ingested through the API at >= 300
reports/s on PostgreSQL, and the turnout aggregate refreshed within 1 s after a report.

A throwaway durable PostgreSQL (fsync on) is started, migrated, and the default simulated
register is loaded (no turnout, no protocols). A constituency-free CEC operator gets an API
token; the production server (``secki.server``) serves the application; C client threads POST every
station's five cumulative reports (the simulator's numbers) with an ``Idempotency-Key``
each, report time by report time, and the throughput and latency percentiles are printed.
Then a correction is posted and ``GET /turnout-summary`` timed until it shows it (the ledger
head moved, so every unit x time is recomputed), first with no protocols, then again after
all 6,537 simulated protocols have been accepted (the summary's final turnout comes from
the protocols' tabulation).
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from _common import CpuMeter, app_server, postmaster_pid
from secki.server import DEFAULT_THREADS, DEFAULT_WORKERS

TARGET_RATE = 300.0  # reports per second
TARGET_REFRESH = 1.0  # seconds


class Client:
    """One keep-alive connection; a request that loses its connection is sent again with the
    same Idempotency-Key (which is what the key is for)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        payload = json.dumps(body) if body is not None else None
        for attempt in range(3):
            try:
                self.conn.request(method, path, payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else None
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def ingest(
    port: int, token: str, slug: str, jobs: list[dict[str, Any]], clients: int, keys: bool
) -> dict[str, Any]:
    work: queue.Queue[dict[str, Any] | None] = queue.Queue()
    for job in jobs:
        work.put(job)
    for _ in range(clients):
        work.put(None)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    path = f"/api/v1/elections/{slug}/turnout"

    def run() -> None:
        client = Client(port, token)
        mine: list[float] = []
        seen: Counter[int] = Counter()
        while (job := work.get()) is not None:
            started = time.perf_counter()
            status, body = client.call("POST", path, job, key=str(uuid.uuid4()) if keys else None)
            mine.append(time.perf_counter() - started)
            seen[status] += 1
            if status != 201 and len(problems) < 5:
                problems.append(f"{status} {body}")
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "latencies": latencies,
        "statuses": statuses,
        "problems": problems,
    }


def refresh_times(
    port: int, token: str, slug: str, stations: list[str], rounds: int
) -> list[float]:
    """Post a correction, then time GET /turnout-summary until the national 19:00 figure shows
    it (one GET normally: the cache is keyed by the ledger head, which the correction moved)."""
    client = Client(port, token)
    summary_path = f"/api/v1/elections/{slug}/turnout-summary"
    status, before = client.call("GET", summary_path)
    assert status == 200, before
    times: list[float] = []
    for i in range(rounds):
        code = stations[i]
        status, reports = client.call("GET", f"/api/v1/elections/{slug}/turnout/{code}")
        current = next(r for r in reports if r["time"] == "19:00" and r["is_current"])
        expected = next(r for r in before["reports"] if r["time"] == "19:00")["voters"] + 1
        status, body = client.call(
            "POST",
            f"/api/v1/elections/{slug}/turnout",
            {
                "station": code,
                "time": "19:00",
                "voters": current["voters"] + 1,
                "reason": "benchmark: one more voter found on recount",
            },
            key=str(uuid.uuid4()),
        )
        assert status == 201, body
        started = time.perf_counter()
        while True:
            status, after = client.call("GET", summary_path)
            assert status == 200, after
            if next(r for r in after["reports"] if r["time"] == "19:00")["voters"] == expected:
                break
        times.append(time.perf_counter() - started)
        before = after
    return times


def prepare(stations: int, work: Path) -> tuple[str, str, list[dict[str, Any]], list[str]]:
    """Migrate, load the simulated register, create the operator and token; return
    (slug, token, report jobs in report-time order, station codes)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
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
    bundle = read_bundle(work / "bundle")
    election = import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))
    operator = get_user_model().objects.create_user("operator", "operator@example.org")
    Membership.objects.create(user=operator, election=election, role=Role.CEC_ADMIN)
    _, token = ApiToken.issue(operator, "bench")
    codes = sim.station_codes()
    jobs: list[dict[str, Any]] = []
    # five reports per station: the simulator's numbers, a missed report filled from the
    # previous one (cumulative, so never decreasing)
    filled = np.maximum(sim.turnout, 0)
    for j in range(1, filled.shape[1]):
        filled[:, j] = np.where(sim.turnout[:, j] < 0, filled[:, j - 1], filled[:, j])
    for j, time_ in enumerate(sim.turnout_times):
        jobs.extend(
            {"station": code, "time": time_, "voters": int(filled[i, j])}
            for i, code in enumerate(codes)
        )
    return election.slug, token, jobs, codes


def accept_protocols(work: Path, slug: str) -> int:
    from secki.bundle.read import read_bundle
    from secki.elections.models import Election
    from secki.protocols.bulk import accept_rows
    from secki.protocols.models import ProtocolSource

    bundle = read_bundle(work / "bundle")
    election = Election.objects.get(slug=slug)
    superuser = _superuser()
    return accept_rows(election, bundle.protocols, actor=superuser, source=ProtocolSource.IMPORT)


def _superuser() -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    return user


def check_totals(slug: str, jobs: list[dict[str, Any]], n_stations: int) -> bool:
    """The national figures equal the sums of what was posted (before any correction)."""
    from secki.elections.models import Election
    from secki.results.turnout import turnout_summary

    summary = turnout_summary(Election.objects.get(slug=slug))
    posted: Counter[str] = Counter()
    for job in jobs:
        posted[job["time"]] += job["voters"]
    return all(
        r["voters"] == posted[r["time"]] and r["stations_reporting"] == n_stations
        for r in summary["reports"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=6_537)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-keys", action="store_true", help="send the reports without Idempotency-Key"
    )
    args = parser.parse_args()

    from secki.devtools.pgserver import PostgresUnavailable, throwaway_postgres

    try:
        server = throwaway_postgres(durable=True)
        url = server.__enter__()
    except PostgresUnavailable as exc:
        print(f"turnout API ingest: SKIPPED ({exc})")
        return 0
    try:
        os.environ["DATABASE_URL"] = url
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "secki.settings"}
        with tempfile.TemporaryDirectory(prefix="secki-bench-turnout-") as tmp:
            slug, token, jobs, codes = prepare(args.stations, Path(tmp))
            with app_server(env, workers=args.workers, threads=args.threads) as web:
                port = web.port
                meter = CpuMeter(web.pid, postmaster_pid(url))
                meter.start()
                result = ingest(port, token, slug, jobs, args.clients, not args.no_keys)
                meter.stop()
                consistent = check_totals(slug, jobs, len(codes))
                empty = refresh_times(port, token, slug, codes, args.rounds)
                protocols = accept_protocols(Path(tmp), slug)
                counted = refresh_times(port, token, slug, codes[args.rounds :], args.rounds)
    finally:
        server.__exit__(None, None, None)

    n = len(jobs)
    rate = n / result["elapsed"]
    lat = [x * 1000 for x in result["latencies"]]
    ok = result["statuses"].get(201, 0)
    print(
        f"turnout API ingest: {len(codes):,} x 5 reports, {rate:,.0f} reports/s "
        f"(target >= {TARGET_RATE:.0f}/s, {rate / TARGET_RATE:.2f}x), "
        f"p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms, "
        f"max {max(lat):.0f} ms; {ok:,}/{n:,} accepted; {args.clients} clients, "
        f"{web.label}, durable PostgreSQL"
        + ("" if args.no_keys else ", an Idempotency-Key on every request")
    )
    print(f"  {meter.per_request(n)}")
    if result["problems"]:
        print("  refused: " + "; ".join(result["problems"]))
    print(
        f"  national figures equal the sums of the posted reports: {'yes' if consistent else 'NO'}"
    )
    for label, times in (
        ("no protocols yet", empty),
        (f"{protocols:,} protocols counted", counted),
    ):
        worst = max(times)
        print(
            f"aggregate refresh after a report ({label}): {worst:.2f} s worst of {len(times)}, "
            f"median {statistics.median(times):.2f} s (target <= {TARGET_REFRESH:.0f} s, "
            f"{worst / TARGET_REFRESH:.2f}x)"
        )
    return 0 if ok == n and consistent else 1


if __name__ == "__main__":
    sys.exit(main())
