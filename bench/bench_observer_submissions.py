"""Benchmark observers' submissions through the JSON API on PostgreSQL: one election day's
check-ins and checklists.

    python bench/bench_observer_submissions.py [--observers N] [--checklists M] [--clients C]

Target (issue 17): 90,000 observers' check-ins and 20,000 checklists in one election day
through the API at >= 300 submissions/s on PostgreSQL, p99 < 250 ms.

A throwaway durable PostgreSQL (fsync on) is started, migrated, and the default simulated
register is loaded (6,537 stations). One accredited organisation gets N observers (45,000 by
default), each with an account and an API token, posted to the stations in turn, and the
built-in checklists. The production server (``secki.server``) serves the application; C
client threads POST, each request with its observer's token and its own Idempotency-Key (as
the phones' queues send them): every observer's arrival, then M answers to the opening
checklist, then every departure (2N + M submissions). Throughput, latency percentiles and
the ratios to the targets are printed, with the CPU per request and the load average; then
the stored rows are counted against what was sent.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import json
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from _common import CpuMeter, app_server, postmaster_pid
from secki.server import DEFAULT_THREADS, DEFAULT_WORKERS

TARGET_RATE = 300.0  # submissions per second
TARGET_P99 = 250.0  # milliseconds
OPENING = {"Q1": "07:55", "Q2": "5", "Q3": "yes", "Q4": "yes", "Q5": "yes"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Client:
    """One keep-alive connection; a request that loses its connection is sent again with the
    same Idempotency-Key."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, token: str, body: Any, key: str) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        payload = json.dumps(body)
        for attempt in range(3):
            try:
                self.conn.request("POST", path, payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else None
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def prepare(observers: int, work: Path) -> tuple[str, list[tuple[str, str]]]:
    """Migrate, load the register, accredit and post the observers, issue their tokens;
    return the election's slug and (token, station code) per observer."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone

    from secki.accounts.models import ApiToken, hash_token
    from secki.bundle.read import read_bundle
    from secki.elections.models import Station
    from secki.intake.bundle_io import import_bundle
    from secki.observers import field
    from secki.observers.models import (
        Accreditation,
        Application,
        ApplicationStatus,
        Assignment,
        Organisation,
    )
    from secki.simulator import SimulationConfig, simulate, write_bundle

    call_command("migrate", verbosity=0)
    write_bundle(simulate(SimulationConfig()), work / "bundle")
    bundle = read_bundle(work / "bundle")
    election = import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))
    field.install_checklists(election, actor=None)
    users = get_user_model()
    rep = users.objects.create_user("coordinator", "c@example.org")
    now = timezone.now()
    today = now.astimezone(election.tz).date()
    organisation = Organisation.objects.create(
        election=election, name="Bench Watch", kind="domestic", contact="c", representative=rep
    )
    application = Application.objects.create(
        election=election,
        organisation=organisation,
        observers=observers,
        status=ApplicationStatus.ACCEPTED,
        submitted_at=now,
        decided_at=now,
    )
    unusable = make_password(None)
    accounts = users.objects.bulk_create(
        [users(username=f"obs{i:06d}", password=unusable) for i in range(observers)],
        batch_size=5000,
    )
    accreditations = Accreditation.objects.bulk_create(
        [
            Accreditation(
                election=election,
                organisation=organisation,
                application=application,
                number=f"OBS-{i + 1:06d}",
                name=f"Observer {i + 1}",
                account=account,
                valid_from=today - dt.timedelta(days=1),
                valid_until=today + dt.timedelta(days=1),
                issued_at=now,
            )
            for i, account in enumerate(accounts)
        ],
        batch_size=5000,
    )
    stations = list(Station.objects.filter(election=election).order_by("code"))
    Assignment.objects.bulk_create(
        [
            Assignment(
                election=election,
                accreditation=a,
                station=stations[i % len(stations)],
                assigned_at=now,
            )
            for i, a in enumerate(accreditations)
        ],
        batch_size=5000,
    )
    raws = [f"secki_bench_{uuid.uuid4().hex}" for _ in accounts]
    ApiToken.objects.bulk_create(
        [
            ApiToken(user=account, name="phone", key_hash=hash_token(raw))
            for account, raw in zip(accounts, raws, strict=True)
        ],
        batch_size=5000,
    )
    return election.slug, [(raw, stations[i % len(stations)].code) for i, raw in enumerate(raws)]


def jobs_for(
    slug: str, posted: list[tuple[str, str]], checklists: int
) -> list[tuple[str, str, dict[str, Any]]]:
    base = f"/api/v1/elections/{slug}/observers"
    jobs: list[tuple[str, str, dict[str, Any]]] = [
        (f"{base}/checkins", token, {"station": code, "kind": "arrival"}) for token, code in posted
    ]
    jobs += [
        (
            f"{base}/checklist-answers",
            posted[i % len(posted)][0],
            {"form": "opening", "station": posted[i % len(posted)][1], "answers": OPENING},
        )
        for i in range(checklists)
    ]
    jobs += [
        (f"{base}/checkins", token, {"station": code, "kind": "departure"})
        for token, code in posted
    ]
    return jobs


def ingest(port: int, jobs: list[tuple[str, str, dict[str, Any]]], clients: int) -> dict[str, Any]:
    work: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue()
    for job in jobs:
        work.put(job)
    for _ in range(clients):
        work.put(None)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        client = Client(port)
        mine: list[float] = []
        seen: Counter[int] = Counter()
        while (job := work.get()) is not None:
            path, token, body = job
            started = time.perf_counter()
            status, answer = client.post(path, token, body, str(uuid.uuid4()))
            mine.append(time.perf_counter() - started)
            seen[status] += 1
            if status != 201 and len(problems) < 5:
                problems.append(f"{status} {answer}")
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "elapsed": time.perf_counter() - started,
        "latencies": latencies,
        "statuses": statuses,
        "problems": problems,
    }


def stored(slug: str) -> tuple[int, int]:
    from secki.elections.models import Election
    from secki.observers.models import CheckIn, ChecklistSubmission

    election = Election.objects.get(slug=slug)
    return (
        CheckIn.objects.filter(election=election).count(),
        ChecklistSubmission.objects.filter(election=election).count(),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observers", type=int, default=45_000, help="two check-ins each")
    parser.add_argument("--checklists", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args()

    from secki.devtools.pgserver import PostgresUnavailable, throwaway_postgres

    try:
        server = throwaway_postgres(durable=True)
        url = server.__enter__()
    except PostgresUnavailable as exc:
        print(f"observers' submissions: SKIPPED ({exc})")
        return 0
    try:
        os.environ["DATABASE_URL"] = url
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "secki.settings"}
        with tempfile.TemporaryDirectory(prefix="secki-bench-observers-") as tmp:
            print(f"· preparing {args.observers:,} accredited and posted observers …", flush=True)
            slug, posted = prepare(args.observers, Path(tmp))
            jobs = jobs_for(slug, posted, args.checklists)
            print(f"· sending {len(jobs):,} submissions …", flush=True)
            with app_server(env, workers=args.workers, threads=args.threads) as web:
                meter = CpuMeter(web.pid, postmaster_pid(url))
                meter.start()
                result = ingest(web.port, jobs, args.clients)
                meter.stop()
            checkins, checklists = stored(slug)
    finally:
        server.__exit__(None, None, None)

    n = len(jobs)
    rate = n / result["elapsed"]
    lat = [x * 1000 for x in result["latencies"]]
    p99 = percentile(lat, 99)
    ok = result["statuses"].get(201, 0)
    print(
        f"observers' submissions through the API: {2 * args.observers:,} check-ins and "
        f"{args.checklists:,} checklists, {rate:,.0f} submissions/s "
        f"(target >= {TARGET_RATE:.0f}/s, {rate / TARGET_RATE:.2f}x), "
        f"p50 {percentile(lat, 50):.0f} ms, p99 {p99:.0f} ms "
        f"(target < {TARGET_P99:.0f} ms, {p99 / TARGET_P99:.2f}x), max {max(lat):.0f} ms; "
        f"{ok:,}/{n:,} accepted; {args.clients} clients, {web.label}, durable PostgreSQL, "
        f"an Idempotency-Key and the observer's own token on every request"
    )
    print(f"  {meter.per_request(n)}")
    if result["problems"]:
        print("  refused: " + "; ".join(result["problems"]))
    same = (checkins, checklists) == (2 * args.observers, args.checklists)
    print(
        f"  stored: {checkins:,} check-ins, {checklists:,} checklists "
        f"({'each submission once' if same else 'NOT what was sent'})"
    )
    return 0 if ok == n and same else 1


if __name__ == "__main__":
    sys.exit(main())
