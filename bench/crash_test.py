"""Crash test: every write the API acknowledged survives a crash of PostgreSQL or of the app.

    python bench/crash_test.py [--rounds N] [--seed S] [--stations N] [--clients C]

A durable PostgreSQL (fsync on, ``secki.devtools.pgserver.Cluster``) holds a simulated
election's register; the production server (Granian, ``secki.server``) serves the API. Each
round, C client threads post single protocols and turnout reports of fresh stations (every
request with its own ``Idempotency-Key``, retried with the same key when it fails) and one
more thread uploads protocols-bulk and turnout-bulk files of a few hundred rows; every 2xx
answer is recorded with what was sent. At a random moment (seeded; in every other round
while a bulk upload is in flight) the round crashes one side with SIGKILL: PostgreSQL (the
postmaster and all its processes) in the first N rounds, the Granian server (main process
and workers at once) in the next N. The clients keep going through the outage, the crashed
side is started again (PostgreSQL runs its crash recovery), and the clients must get writes
through again without the app being touched. Then the clients stop and every write
acknowledged so far, in this round or an earlier one, is looked up in the database (a
read-only connection): each protocol current with exactly the values sent, each turnout
report current with its voters; ``secki verify-log`` must pass.

One line per round, then a summary; the exit status is 1 when an acknowledged write is
missing, the log does not verify, the app did not recover after a crash, or a client hung.
Everything is bounded (rounds, retries, time limits) and on loopback addresses only; the
default 20 + 20 rounds take about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from _common import RestartableServer, base_env, secki
from bench_protocols import MAKE_BENCH_USER
from secki.devtools.pgserver import Cluster, PostgresUnavailable

SLUG = "az-2024-simulated"
WORKERS, THREADS = 2, 4
HTTP_TIMEOUT = 30.0  # seconds a request may take before the client calls it a hang
MAX_ATTEMPTS = 200  # tries of one request (same Idempotency-Key) before giving up
AFTER_RESTART = 1.5  # seconds the clients keep going after the restart, at least …
AFTER_ACKS = 20  # … and until this many requests sent after the restart were acknowledged
RECOVERY_LIMIT = 30.0  # seconds the app has to get writes through again after a restart
JOIN_LIMIT = HTTP_TIMEOUT + 10  # seconds the clients have to stop
BULK_PROTOCOLS = 200  # stations per protocols-bulk upload
BULK_TURNOUT = 60  # stations per turnout-bulk upload (x up to 5 report times)


@dataclass(frozen=True)
class StationData:
    code: str
    protocol: dict[str, str]  # the protocols.csv row without the station, empty cells dropped
    turnout: list[tuple[str, int]]  # (time, cumulative voters), in report-time order


@dataclass
class Book:
    """What the server acknowledged (current values expected in the database) and what the
    clients saw, shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    protocols: dict[str, dict[str, int]] = field(default_factory=dict)
    turnout: dict[tuple[str, str], int] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer (connection error)
    acks: int = 0  # acknowledged writes (rows of a bulk upload count one each)
    acked_uploads: int = 0
    acked_after: int = 0  # acknowledged requests first sent after ``restarted_at``
    restarted_at: float = float("inf")
    unavailable: int = 0  # 503 answers …
    shaped: int = 0  # … with the JSON error shape {"error": {...}}
    retry_after: int = 0  # … with a Retry-After header
    refusals: list[str] = field(default_factory=list)  # unexpected 4xx, a few
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503, a few
    hangs: int = 0  # requests that got no answer within HTTP_TIMEOUT
    in_flight_bulk: int = 0
    reported: set[str] = field(default_factory=set)  # losses printed already


class Pool:
    """Stations not used yet: every write of the test is new."""

    def __init__(self, stations: list[StationData]) -> None:
        self._stations = stations
        self._next = 0
        self._lock = threading.Lock()
        self.exhausted = False  # a client found too few stations left (use --stations)

    def take(self, n: int) -> list[StationData]:
        with self._lock:
            taken = self._stations[self._next : self._next + n]
            self._next += len(taken)
            self.exhausted |= len(taken) < n
        return taken

    @property
    def used(self) -> int:
        return self._next


class Client:
    """One keep-alive connection to the app, opened again after an error."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def send(
        self, path: str, body: bytes, content_type: str, key: str
    ) -> tuple[int, dict[str, str], bytes]:
        """POST once; (0, {}, b"") when the connection failed, (-1, …) on a timeout."""
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": content_type,
            "Idempotency-Key": key,
        }
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            self.conn.request("POST", path, body, headers)
            response = self.conn.getresponse()
            data = response.read()
        except TimeoutError:
            self.close()
            return -1, {}, b""
        except (http.client.HTTPException, OSError):
            self.close()
            return 0, {}, b""
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def post(
    client: Client,
    book: Book,
    stop: threading.Event,
    rng: random.Random,
    path: str,
    body: bytes,
    content_type: str,
) -> bool:
    """POST until a 2xx (True) or a refusal, or until the round stops (False); every retry
    carries the same Idempotency-Key and the same bytes."""
    key = str(uuid.uuid4())
    first_sent = time.monotonic()
    for _ in range(MAX_ATTEMPTS):
        status, headers, data = client.send(path, body, content_type, key)
        with book.lock:
            book.statuses[status] += 1
            if status == 503:
                book.unavailable += 1
                book.retry_after += "retry-after" in headers
                book.shaped += _error_shaped(data)
            elif status == -1:
                book.hangs += 1
            elif status >= 500 and len(book.server_errors) < 5:
                book.server_errors.append(f"{status} {path}: {data[:200]!r}")
        if 200 <= status < 300:
            with book.lock:
                if first_sent > book.restarted_at:
                    book.acked_after += 1
            return True
        if 400 <= status < 500 and status not in (408, 429):
            with book.lock:
                if len(book.refusals) < 5:
                    book.refusals.append(f"{status} {path}: {data[:200]!r}")
            return False
        if stop.is_set():
            return False
        time.sleep(rng.uniform(0.02, 0.2))
    return False


def _error_shaped(data: bytes) -> bool:
    try:
        body = json.loads(data)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def single_writer(
    port: int, token: str, pool: Pool, book: Book, stop: threading.Event, seed: int
) -> None:
    """One station after the other: its protocol, then its turnout reports, one request each."""
    rng = random.Random(seed)
    client = Client(port, token)
    try:
        while not stop.is_set():
            taken = pool.take(1)
            if not taken:
                return
            station = taken[0]
            # counts as JSON numbers (the API takes no digit strings), the instant L17 as text
            values = {k: v if k == "L17" else int(v) for k, v in station.protocol.items()}
            body = json.dumps({"station": station.code, "values": values}).encode()
            if post(client, book, stop, rng, f"/api/v1/elections/{SLUG}/protocols", body, JSON):
                with book.lock:
                    book.protocols[station.code] = expected_values(station)
                    book.acks += 1
            for time_, voters in station.turnout:
                if stop.is_set():
                    return
                body = json.dumps(
                    {"station": station.code, "time": time_, "voters": voters}
                ).encode()
                if post(client, book, stop, rng, f"/api/v1/elections/{SLUG}/turnout", body, JSON):
                    with book.lock:
                        book.turnout[station.code, time_] = voters
                        book.acks += 1
    finally:
        client.close()


JSON = "application/json"
BOUNDARY = "secki-crash-test-boundary"


def bulk_writer(
    port: int,
    token: str,
    pool: Pool,
    book: Book,
    stop: threading.Event,
    seed: int,
    header: list[str],
) -> None:
    """Protocols-bulk and turnout-bulk uploads in turn, a short pause between them."""
    rng = random.Random(seed)
    client = Client(port, token)
    upload = 0
    try:
        while not stop.is_set():
            upload += 1
            protocols = upload % 2 == 1
            stations = pool.take(BULK_PROTOCOLS if protocols else BULK_TURNOUT)
            if not stations:
                return
            if protocols:
                path = f"/api/v1/elections/{SLUG}/protocols-bulk"
                body, content_type = protocols_upload(header, stations)
                rows = len(stations)
            else:
                path = f"/api/v1/elections/{SLUG}/turnout-bulk"
                text = io.StringIO()
                out = csv.writer(text, lineterminator="\n")
                out.writerow(["station", "time", "voters"])
                out.writerows((s.code, t, v) for s in stations for t, v in s.turnout)
                body, content_type = text.getvalue().encode(), "text/csv"
                rows = sum(len(s.turnout) for s in stations)
            with book.lock:
                book.in_flight_bulk += 1
            try:
                acked = post(client, book, stop, rng, path, body, content_type)
            finally:
                with book.lock:
                    book.in_flight_bulk -= 1
            if acked:
                with book.lock:
                    book.acks += rows
                    book.acked_uploads += 1
                    for s in stations:
                        if protocols:
                            book.protocols[s.code] = expected_values(s)
                        else:
                            for t, v in s.turnout:
                                book.turnout[s.code, t] = v
            stop.wait(rng.uniform(0.2, 0.8))
    finally:
        client.close()


def protocols_upload(header: list[str], stations: list[StationData]) -> tuple[bytes, str]:
    """A protocols.csv as the ``file`` field of a multipart form (the same bytes each retry)."""
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(header)
    for s in stations:
        out.writerow([s.code, *(s.protocol.get(c, "") for c in header[1:])])
    body = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="protocols.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        f"{text.getvalue()}\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def expected_values(station: StationData) -> dict[str, int]:
    """The protocol's line values as stored (the completion time L17 is not a value)."""
    return {k: int(v) for k, v in station.protocol.items() if k != "L17"}


# -- the database side -----------------------------------------------------------------------


def load_election(env: dict[str, str], out: Path, stations: int) -> tuple[list[str], list[Any]]:
    """Simulate an election, import its register only; return (protocols.csv header,
    stations with the protocol and turnout reports the clients will send)."""
    secki(env, "simulate", "--quiet", "--out", str(out), "--stations", str(stations))
    with (out / "protocols.csv").open() as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        protocols = {r["station"]: r for r in reader}
    reports: dict[str, list[tuple[str, int]]] = {}
    with (out / "turnout.csv").open() as handle:
        for r in csv.DictReader(handle):
            reports.setdefault(r["station"], []).append((r["time"], int(r["voters"])))
    (out / "protocols.csv").rename(out / "protocols.sent")
    (out / "turnout.csv").rename(out / "turnout.sent")
    secki(env, "import", str(out))
    data = [
        StationData(
            code,
            {k: v for k, v in row.items() if k != "station" and v != ""},
            reports.get(code, []),
        )
        for code, row in protocols.items()
    ]
    return header, data


def lost_writes(url: str, book: Book) -> list[str]:
    """Every acknowledged write that is not current in the database as sent (read-only)."""
    with book.lock:
        protocols = dict(book.protocols)
        turnout = dict(book.turnout)
    stored: dict[str, dict[str, int]] = {}
    reports: dict[tuple[str, str], int] = {}
    with psycopg.connect(url, options="-c default_transaction_read_only=on") as con:
        rows = con.execute(
            "SELECT s.code, v.code, v.value FROM protocols_protocol p "
            "JOIN elections_station s ON s.id = p.station_id "
            "JOIN protocols_protocolvalue v ON v.protocol_id = p.id "
            "WHERE p.is_current AND s.code = ANY(%s)",
            [list(protocols)],
        )
        for station, code, value in rows:
            stored.setdefault(station, {})[code] = value
        rows = con.execute(
            "SELECT s.code, r.time, r.voters FROM turnout_turnoutreport r "
            "JOIN elections_station s ON s.id = r.station_id "
            "WHERE r.is_current AND s.code = ANY(%s)",
            [sorted({s for s, _ in turnout})],
        )
        for station, time_, voters in rows:
            reports[station, time_] = voters
    lost = [
        f"protocol {code}: sent {values}, stored {stored.get(code)}"
        for code, values in protocols.items()
        if {k: stored.get(code, {}).get(k) for k in values} != values
    ]
    lost += [
        f"turnout {station} {time_}: sent {voters}, stored {reports.get((station, time_))}"
        for (station, time_), voters in turnout.items()
        if reports.get((station, time_)) != voters
    ]
    return lost


def log_verifies(env: dict[str, str]) -> tuple[bool, str]:
    try:
        result = secki(env, "verify-log")
    except subprocess.CalledProcessError as exc:
        return False, (exc.stdout + exc.stderr).strip()
    return True, result.stdout.strip()


# -- rounds ----------------------------------------------------------------------------------


@dataclass
class RoundResult:
    ok: bool
    acks: int


def run_round(
    number: int,
    total: int,
    kind: str,
    crash: Callable[[], None],
    restart: Callable[[], None],
    *,
    rng: random.Random,
    port: int,
    token: str,
    pool: Pool,
    book: Book,
    clients: int,
    header: list[str],
    env: dict[str, str],
    url: str,
) -> RoundResult:
    before_acks, before_statuses = book.acks, book.statuses.copy()
    before_503 = (book.unavailable, book.shaped, book.retry_after)
    before_hangs = book.hangs
    book.restarted_at = float("inf")
    book.acked_after = 0
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=single_writer, args=(port, token, pool, book, stop, rng.randrange(1 << 30))
        )
        for _ in range(clients)
    ]
    threads.append(
        threading.Thread(
            target=bulk_writer,
            args=(port, token, pool, book, stop, rng.randrange(1 << 30), header),
        )
    )
    moment = rng.uniform(0.3, 3.0)
    during_bulk = number % 2 == 0
    outage = rng.uniform(0.2, 1.5)
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(moment)
    if during_bulk:  # wait (bounded) for an upload to be on its way, then strike inside it
        deadline = time.monotonic() + 10
        while book.in_flight_bulk == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
    killed_at = time.monotonic() - started
    bulk_in_flight = book.in_flight_bulk > 0
    crash()
    time.sleep(outage)
    restart()
    book.restarted_at = time.monotonic()
    deadline = book.restarted_at + RECOVERY_LIMIT
    while time.monotonic() < deadline and (
        time.monotonic() < book.restarted_at + AFTER_RESTART or book.acked_after < AFTER_ACKS
    ):
        time.sleep(0.05)
    recovered = book.acked_after > 0
    stop.set()
    limit = time.monotonic() + JOIN_LIMIT
    for t in threads:
        t.join(max(0.0, limit - time.monotonic()))
    hung = sum(t.is_alive() for t in threads) + book.hangs - before_hangs
    lost = lost_writes(url, book)
    verified, log_line = log_verifies(env)
    statuses = book.statuses - before_statuses
    unavailable, shaped, retry_after = (
        now - then
        for now, then in zip(
            (book.unavailable, book.shaped, book.retry_after), before_503, strict=True
        )
    )
    errors = ", ".join(
        f"{'no answer' if s == 0 else 'timeout' if s == -1 else s} x{n}"
        for s, n in sorted(statuses.items())
        if not 200 <= s < 300
    )
    print(
        f"round {number:2}/{total} {kind:10} killed at {killed_at:4.2f} s "
        f"(bulk in flight: {'yes' if bulk_in_flight else 'no '}), down {outage:.2f} s; "
        f"acknowledged {book.acks - before_acks:,} (so far {book.acks:,}), "
        f"lost {len(lost)}/{book.acks:,}; "
        f"503s {unavailable} (JSON shape {shaped}, Retry-After {retry_after}); "
        f"other failures: {errors or 'none'}; "
        f"recovered {'yes' if recovered else 'NO'} ({book.acked_after} after restart); "
        f"log verifies: {'yes' if verified else 'NO'}"
        + (f"; {hung} HUNG (no answer in {HTTP_TIMEOUT:.0f} s)" if hung else ""),
        flush=True,
    )
    fresh = [line for line in lost if line not in book.reported]
    book.reported.update(fresh)
    for line in fresh[:10]:
        print(f"  LOST {line}")
    if not verified:
        print(f"  verify-log: {log_line}")
    if pool.exhausted:
        print("  NO FRESH STATIONS LEFT: the clients ran dry (run again with more --stations)")
    ok = not lost and verified and recovered and not hung and not pool.exhausted
    return RoundResult(ok, book.acks - before_acks)


@dataclass
class Crashes:
    cluster: Cluster
    server: RestartableServer

    def kill_postgres(self) -> None:
        self.cluster.kill()

    def start_postgres(self) -> None:
        self.cluster.start()

    def kill_app(self) -> None:
        self.server.kill()

    def start_app(self) -> None:
        self.server.start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each crash kind")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stations", type=int, default=None, help="default: 2,000 per round")
    parser.add_argument("--clients", type=int, default=12)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    stations = args.stations or 2_000 * 2 * args.rounds
    print(f"crash test: seed {seed} (--seed {seed} repeats the moments), {stations:,} stations")
    try:
        cluster = Cluster(durable=True)
    except PostgresUnavailable as exc:
        print(f"crash test: SKIPPED ({exc})")
        return 0
    with tempfile.TemporaryDirectory(prefix="secki-crash-") as tmp:
        try:
            cluster.start()
            return run(cluster, Path(tmp), stations, args, rng)
        finally:
            cluster.remove()


def run(
    cluster: Cluster, tmp: Path, stations: int, args: argparse.Namespace, rng: random.Random
) -> int:
    env = base_env(DATABASE_URL=cluster.url, SECKI_VAR_DIR=str(tmp / "var"))
    secki(env, "manage", "migrate", "-v", "0")
    header, data = load_election(env, tmp / "sim", stations)
    token = secki(env, "manage", "shell", "-c", MAKE_BENCH_USER).stdout.strip().splitlines()[-1]
    pool = Pool(data)
    book = Book()
    server = RestartableServer(env, workers=WORKERS, threads=THREADS, log=tmp / "server.log")
    server.start()
    crashes = Crashes(cluster, server)
    print(
        f"crash test: durable PostgreSQL, {server.label}, {args.clients} clients + 1 bulk "
        f"uploader, {args.rounds} rounds of each crash",
        flush=True,
    )
    results: list[RoundResult] = []
    plan: Iterator[tuple[str, Callable[[], None], Callable[[], None]]] = iter(
        [("PostgreSQL", crashes.kill_postgres, crashes.start_postgres)] * args.rounds
        + [("app server", crashes.kill_app, crashes.start_app)] * args.rounds
    )
    try:
        for number, (kind, crash, restart) in enumerate(plan, 1):
            results.append(
                run_round(
                    number,
                    2 * args.rounds,
                    kind,
                    crash,
                    restart,
                    rng=rng,
                    port=server.port,
                    token=token,
                    pool=pool,
                    book=book,
                    clients=args.clients,
                    header=header,
                    env=env,
                    url=cluster.url,
                )
            )
    finally:
        server.stop()
    lost = lost_writes(cluster.url, book)
    verified, log_line = log_verifies(env)
    ok = all(r.ok for r in results) and not lost and verified
    print(
        f"crash test: PostgreSQL killed {args.rounds} times, app server killed {args.rounds} "
        f"times; {book.acks:,} acknowledged writes ({book.acked_uploads} bulk uploads among "
        f"them), {len(lost)} lost; log verifies: {'yes' if verified else 'NO'} ({log_line}); "
        f"{pool.used:,} of {len(data):,} stations used; "
        f"503 answers {book.unavailable} (JSON error shape {book.shaped}, "
        f"Retry-After {book.retry_after}); hangs {book.hangs}"
    )
    if book.refusals:
        print("  unexpected refusals: " + "; ".join(book.refusals))
    if book.server_errors:
        print("  server errors (first few): " + "; ".join(book.server_errors))
    if not ok and (tmp / "server.log").exists():
        tail = (tmp / "server.log").read_text(errors="replace").splitlines()[-12:]
        print("  the app server's last log lines:\n    " + "\n    ".join(tail))
    print(f"crash test: {'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
