"""Election night: the public side while results pour in (issue 15).

    python bench/bench_night.py [--stations N] [--db postgresql|sqlite|both] [--rate R]
                                [--sqlite-rate R] [--connections C] [--offer R]
                                [--intake-workers N] [--intake-threads N]
                                [--turnout-reports N] [--soak SECONDS] [--no-fill]

For each database (a throwaway durable PostgreSQL, then SQLite) it simulates the default
election (6,537 stations), imports its register only, and runs what production runs: the
production server (Granian, ``secki.opendata.wsgi``: open-data and log files before Django),
the one publisher (``secki publish --watch``: the transparency log, the open-data live files
and the published public state every public page is served from), the intake server the
writes go to (``--intake-workers``, ``--intake-threads``) and, in front of them, nginx with
the shipped configuration (deploy/nginx: TLS, the open-data files, the station pages and the
national results answer from disk, the other public pages and results answers kept a second
for every reader); every read goes through it. It writes every station page first
(``secki refresh --once --fill``, as an operator before the polls close; ``--no-fill``: only
the pages read so far are files, the workers write the rest between states). Then it
replays the night through the HTTP API as a CEC operator's token: every turnout report, then
every protocol, paced at ``--rate`` per second on PostgreSQL (target >= 300/s) and
``--sqlite-rate`` on SQLite (the demo's replay, about 145/s), while ``wrk`` (``--connections``
in all, >= 64, split over the URLs) reads the national page, the national results JSON, a
constituency page, random station pages and the live open-data file. Each URL's readers offer
about ``--offer`` requests a second (default 2,400: the target and a margin; each connection
pauses after an answer), so that the figures say whether the target load is served while the
writes go on; ``--offer 0`` makes them a closed loop that takes every cycle it can, the
writes' included, and prints the most each URL gets. It prints, for each phase
and URL: requests/s, p50, p99 and errors; the write rate and its p99; the freshness (from a
protocol's 201 to its station's JSON, its constituency's and the national total showing it: p50
and p99, measured by probes in a process of their own, at a priority of their own with
``--priorities``, as readers on other machines; with the time their own showing read took);
the RSS of every server process (Granian's main process and workers, the publisher, nginx)
at the start and the end. ``--soak S`` then goes on for S seconds (reads as above,
writes: turnout corrections at the target rate) and prints every process's RSS growth after the
first minute (target < 10 %) and the errors.

Targets on 2 cores: every public URL >= 2,000 req/s with p99 < 100 ms during the writes,
freshness p99 <= 2 s, writes >= 300/s with p99 < 250 ms, 0 errors. The load client, the
writer and the server share the machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import multiprocessing
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import RestartableServer, base_env, descendants, postmaster_pid, secki, tree_cpu
from bench_protocols import MAKE_BENCH_USER, fresh_database
from secki.devtools.nginx import shipped as shipped_nginx
from secki.devtools.pgserver import throwaway_postgres

SLUG = "az-2024-simulated"
TARGET_READ_RATE = 2000.0
TARGET_READ_P99_MS = 100.0
TARGET_FRESH_S = 2.0
TARGET_WRITE_RATE = 300.0
TARGET_WRITE_P99_MS = 250.0
WORKERS, THREADS = 2, 4
#: the niceness deploy/systemd gives the publisher and the intake server (relative to the rest)
PUBLISHER_NICE, INTAKE_NICE, REFRESHER_NICE = -15, -3, -10
#: the freshness probes' niceness (with --priorities): they stand for readers on machines of
#: their own, so their own wait for this machine's CPU is left out of the figure as far as may be
PROBE_NICE = -5


# -- the night's data ----------------------------------------------------------------------


@dataclass
class Night:
    turnout: list[dict[str, Any]]
    protocols: list[dict[str, Any]]
    unit_of: dict[str, str]  # station code → the unit holding it
    registered: dict[str, int]
    constituency: str


def simulate(env: dict[str, str], out: Path, stations: int) -> Night:
    secki(env, "simulate", "--quiet", "--out", str(out), "--stations", str(stations))
    with (out / "protocols.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with (out / "turnout.csv").open() as handle:
        reports = list(csv.DictReader(handle))
    with (out / "stations.csv").open() as handle:
        register = list(csv.DictReader(handle))
    (out / "protocols.csv").unlink()
    (out / "turnout.csv").unlink()
    protocols = [
        {
            "station": r["station"],
            "values": {
                k: v if k == "L17" else int(v) for k, v in r.items() if k != "station" and v != ""
            },
        }
        for r in rows
    ]
    turnout = [
        {"station": r["station"], "time": r["time"], "voters": int(r["voters"])}
        for r in reports
        if r.get("voters", "") != ""
    ]
    turnout.sort(key=lambda r: (r["time"], r["station"]))
    unit_of = {s["code"]: s["unit"] for s in register}
    return Night(
        turnout,
        protocols,
        unit_of,
        {s["code"]: int(s["registered"]) for s in register},
        Counter(unit_of.values()).most_common(1)[0][0],
    )


# -- measuring -----------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def private_mb(pid: int) -> float | None:
    """The process's resident memory no other process shares (``Private_*`` of
    ``/proc/PID/smaps_rollup``): its RSS without the shared pages it has touched, such as
    nginx's cache zone or a forked server's pages still shared with its parent."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Private_"))
    return kb / 1024


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Writes:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: protocols acknowledged: (time of the 201, station, count in its unit, count overall)
    acks: list[tuple[float, str, int, int]] = field(default_factory=list)
    #: a pipe's file descriptor the acknowledgements also go to, one line each (the freshness
    #: probes' process: written at once by the writer's thread, no feeder thread), or None
    relay: int | None = None

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def line(self, what: str, target: float | None) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        errors = {k: v for k, v in self.statuses.items() if k != 201}
        aim = f" (target >= {target:.0f}/s: {rate / target:.2f}x)" if target else ""
        return (
            f"  writes {what}: {self.sent:,} in {self.seconds:.1f} s, {rate:,.0f}/s{aim}; "
            f"p50 {percentile(self.latencies, 50) * 1000:.0f} ms, p99 "
            f"{percentile(self.latencies, 99) * 1000:.0f} ms (target < "
            f"{TARGET_WRITE_P99_MS:.0f} ms); errors {errors or 0}"
            + (f" e.g. {self.problems[0]}" if self.problems else "")
        )


def post_paced(
    port: int,
    path: str,
    token: str,
    bodies: list[dict[str, Any]],
    rate: float,
    unit_of: dict[str, str] | None = None,
    clients: int = 16,
    stop: threading.Event | None = None,
    out: Writes | None = None,
) -> Writes:
    """POST every body once, the i-th not before start + i / rate, over ``clients``
    keep-alive connections (into ``out``, which others may read meanwhile)."""
    out = out if out is not None else Writes()
    lock = threading.Lock()
    cursor = [0]
    per_unit: Counter[str] = Counter()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    started = time.perf_counter()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while stop is None or not stop.is_set():
            with lock:
                index = cursor[0]
                cursor[0] += 1
            if index >= len(bodies):
                break
            wait = started + index / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            body = bodies[index]
            begin = time.perf_counter()
            try:
                conn.request("POST", path, json.dumps(body), headers)
                response = conn.getresponse()
                answer = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, answer = 599, str(exc).encode()
            done = time.perf_counter()
            with lock:
                out.latencies.append(done - begin)
                out.statuses[status] += 1
                if status != 201 and len(out.problems) < 3:
                    out.problems.append(f"{status} {answer[:200]!r}")
                if status == 201 and unit_of is not None:
                    unit = unit_of[body["station"]]
                    per_unit[unit] += 1
                    ack = (done, body["station"], per_unit[unit], len(out.acks) + 1)
                    out.acks.append(ack)
                    if out.relay is not None:  # one short write: atomic on a pipe
                        os.write(
                            out.relay, f"{done!r} {body['station']} {ack[2]} {ack[3]}\n".encode()
                        )
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.seconds = time.perf_counter() - started
    return out


def front(port: int) -> http.client.HTTPSConnection:
    """A connection to the shipped nginx (HTTPS with its self-signed certificate)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=context)


def get(conn: http.client.HTTPConnection, path: str) -> Any:
    """The JSON at ``path`` (None: not 200); a keep-alive connection the server closed
    meanwhile is opened again once."""
    for attempt in (1, 2):
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            break
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()  # the next request connects again
            if attempt == 2:
                raise
    return json.loads(body) if response.status == 200 else None


def freshness(
    name: str,
    port: int,
    writes: Writes,
    unit_of: dict[str, str],
    stop: threading.Event,
    took: list[float] | None = None,
    at: list[float] | None = None,
) -> list[float]:
    """Repeatedly: the protocol acknowledged last, then the time until ``name`` shows it
    (polled every 20 ms on a connection of this probe's own, one probe per name, so that one
    slow answer never delays another's figure): its station's public JSON shows its values
    (``station``), its constituency's ``stations_reported`` (``constituency``) and the
    national one (``national``) reach the counts acknowledged by then, read as the public
    reads them: through the shipped nginx (``port``), which serves files (the national one
    the publisher writes with each state; the station's and the unit's, written by the app
    and marked stale by each state that changes them until a web process's refresher asks
    for them again) and otherwise keeps the app's answer up to a second; or
    the national JSON from the public server itself (``port`` the app's: ``national, past
    nginx``, the published state's own delay). The time is the answer's arrival: it includes
    that read's own time under the load (into ``took``, the seconds of each read that showed
    it: the probe shares the machine, a reader elsewhere would not)."""
    found: list[float] = []
    conn = (
        http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        if name == PAST_NGINX
        else front(port)
    )
    measured = 0  # the acknowledgements measured so far (by their number): each once only
    while not stop.is_set():
        if not writes.acks or writes.acks[-1][3] <= measured:
            time.sleep(0.005)  # (after the last one: never the same again, older each time)
            continue
        acked, code, in_unit, overall = writes.acks[-1]
        measured = overall
        path, key, least = {
            "station": (f"/api/v1/elections/{SLUG}/results/stations/{code}", "values", None),
            "constituency": (
                f"/api/v1/elections/{SLUG}/results/units/{unit_of[code]}",
                "stations_reported",
                in_unit,
            ),
        }.get(name, (f"/api/v1/elections/{SLUG}/results", "stations_reported", overall))
        seen = float("inf")  # not within 30 s
        while time.perf_counter() - acked < 30:
            asked = time.perf_counter()
            doc = get(conn, path)
            value = doc.get(key) if doc is not None else None
            if (least is None and value is not None) or (
                least is not None and value is not None and value >= least
            ):
                seen = time.perf_counter() - acked
                if took is not None:
                    took.append(time.perf_counter() - asked)
                break
            time.sleep(0.02)
        found.append(seen)
        if at is not None:  # when it was acknowledged (the worst one's moment in the phase)
            at.append(acked)
    conn.close()
    return found


#: the national JSON read from the public server itself, not through nginx
PAST_NGINX = "national, past nginx"


def worst_at(values: list[float], at: list[float], writes: Writes) -> float:
    """Seconds from the phase's first acknowledgement to that of its slowest-shown protocol."""
    if not values or len(at) != len(values) or not writes.acks:
        return float("nan")
    return at[values.index(max(values))] - writes.acks[0][0]


def probes(
    ports: dict[str, int],
    unit_of: dict[str, str],
    relay: tuple[int, int],
    results: Any,
    nice: int = 0,
) -> None:
    """The freshness probes (one thread each, :func:`freshness`) in a process of their own, as
    a reader's browser is: not in the writers' process, whose 16 threads would hold the
    interpreter's lock while a probe waits for it. The acknowledgements arrive on the pipe
    ``relay`` (its reading and writing ends; closed by the writers' side: the phase is over);
    the figures (name → seconds, name → the showing reads' seconds, name → when each was
    acknowledged, and how late each acknowledgement got here) go back on ``results``.
    ``time.perf_counter`` is the machine's monotonic clock, the same in both processes.
    ``nice``: this process's niceness, relative."""
    if nice:
        os.nice(nice)
    reading, writing = relay
    os.close(writing)  # this process's copy: the pipe ends when the writers' side closes it
    seen = Writes()
    stop = threading.Event()
    fresh: dict[str, list[float]] = {}
    took: dict[str, list[float]] = {name: [] for name in ports}
    at: dict[str, list[float]] = {name: [] for name in ports}

    late: list[float] = []  # how long after its 201 each acknowledgement got here

    def listen() -> None:
        with os.fdopen(reading, "rb") as lines:
            for line in lines:  # until the writers' end closes the pipe
                at, station, in_unit, overall = line.split()
                seen.acks.append((float(at), station.decode(), int(in_unit), int(overall)))
                late.append(time.perf_counter() - float(at))
        stop.set()

    def sample(name: str) -> None:
        fresh[name] = freshness(name, ports[name], seen, unit_of, stop, took[name], at[name])

    threads = [threading.Thread(target=listen)]
    threads += [threading.Thread(target=sample, args=(name,)) for name in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((fresh, took, at, late))


class PublisherLog:
    """The states the publisher logged (``published state``, at DEBUG) since a point in its
    log: how often they came and what each cost, printed by :meth:`line`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def line(self) -> str:
        states: list[dict[str, Any]] = []
        rounds: list[dict[str, Any]] = []
        with self.path.open("rb") as f:
            f.seek(self.start)
            for raw in f:
                if b'"published state' not in raw and b'"log round"' not in raw:
                    continue
                try:
                    doc = json.loads(raw)
                except ValueError:
                    continue
                (rounds if doc.get("message") == "log round" else states).append(doc)
        if not states:
            return "  publisher: no state logged"
        # the first state's time since the last one counts the quiet before the phase

        def spread(key: str, docs: list[dict[str, Any]] = states) -> str:
            values = [float(s[key]) for s in docs if float(s.get(key, -1)) >= 0]
            if not values:
                return "-"
            return (
                f"p50 {percentile(values, 50):.0f} / p99 {percentile(values, 99):.0f} / "
                f"max {max(values):.0f} ms"
            )

        every = sum(1 for s in states if s.get("pages_changed") == -1)
        return (
            f"  publisher: {len(states)} states ({every} of them new data: every page "
            "removed); "
            f"between two {spread('since_last_ms', states[1:])}; "
            f"state written in {spread('state_ms')} (its thread's CPU {spread('state_cpu_ms')}); "
            f"then open data etc. {spread('after_ms')}; the oldest fact new in a state "
            f"{spread('oldest_fact_ms')} old when it was written; garbage collection "
            f"{spread('gc_ms')} a state; "
            f"{len(rounds)} log rounds beside them: {spread('log_ms', rounds)} "
            f"(CPU {spread('log_cpu_ms', rounds)})"
        )


class RefresherLog:
    """The looks ``secki refresh`` logged (``refreshed …``, at DEBUG) since a point in its log:
    how long each took and what it wrote (the stale answers first, then pages)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def line(self) -> str:
        looks: list[dict[str, Any]] = []
        with self.path.open("rb") as f:
            f.seek(self.start)
            for raw in f:
                if b'"refreshed ' in raw:
                    with contextlib.suppress(ValueError):
                        looks.append(json.loads(raw))
        if not looks:
            return "  refresher: nothing written again"
        ms = [float(d["look_ms"]) for d in looks]
        return (
            f"  refresher: {len(looks)} looks wrote {sum(d['answers'] for d in looks):,} answers "
            f"and {sum(d['pages'] for d in looks):,} pages again; a look p50 "
            f"{percentile(ms, 50):.0f} / p99 {percentile(ms, 99):.0f} / max {max(ms):.0f} ms; "
            f"pages left for the next look p99 "
            f"{percentile([float(d['pages_left']) for d in looks], 99):.0f}"
        )


# -- wrk -----------------------------------------------------------------------------------

LUA_RANDOM = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
math.randomseed(%d)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""

#: a connection waits this many milliseconds after each answer before its next request: the
#: reader offers about ``--offer`` requests a second per URL instead of as many as the CPU
#: allows (wrk calls ``delay()`` between an answer and the next request)
LUA_PACED = """
delay = function()
  return %d
end
"""


@dataclass
class Read:
    label: str
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    raw: str
    requests: int = 0


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(label: str, out: str) -> Read:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        errors += sum(int(x) for x in sockets.groups())
    return Read(
        label,
        float(rate.group(1)) if rate else 0.0,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
        errors,
        out,
        int(total.group(1)) if total else 0,
    )


def paced_scripts(
    targets: list[tuple[str, int, str, Path | None]], connections: int, offer: float, work: Path
) -> list[tuple[str, int, str, Path | None]]:
    """The targets with their scripts made to offer about ``offer`` requests a second each
    (0: as many as they can, a closed loop)."""
    if not offer:
        return targets
    each = max(1, connections // len(targets))
    wait = max(1, round(each * 1000 / offer))
    out = []
    for i, (label, port, path, script) in enumerate(targets):
        body = (script.read_text() if script is not None else "") + LUA_PACED % wait
        paced = work / f"paced-{i}.lua"
        paced.write_text(body)
        out.append((label, port, path, paced))
    return out


@contextmanager
def readers(
    targets: list[tuple[str, int, str, Path | None]], connections: int, seconds: float | None
) -> Iterator[list[Read]]:
    """One wrk per target (label, port of the shipped nginx's HTTPS, path, Lua script), the
    connections split evenly,
    running for ``seconds``, or with None until the block ends (stopped by SIGINT when the
    block ends first: a phase's reads last as long as its writes, however slow they are)."""
    if seconds is None:
        seconds = 24 * 3600
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    each = max(1, connections // len(targets))
    procs = []
    for label, port, path, script in targets:
        command = [
            wrk,
            "-t1",
            f"-c{each}",
            f"-d{max(1, int(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
        ]
        if script is not None:
            command += ["-s", str(script)]
        command.append(f"https://127.0.0.1:{port}{path}")
        procs.append((label, subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))
    results: list[Read] = []
    try:
        yield results
    finally:
        for _label, proc in procs:
            if proc.poll() is None:
                proc.send_signal(2)  # SIGINT: wrk prints what it measured so far
        for label, proc in procs:
            out, _ = proc.communicate(timeout=60)
            results.append(parse_wrk(label, out))


class Cpu:
    """CPU seconds used by the public server's processes, the intake server's (None: the
    writes go to the public one) and the publisher over a phase."""

    def __init__(self, server: int, publisher: int, intake: int | None = None) -> None:
        self.server, self.publisher, self.intake = server, publisher, intake
        self.start = (
            tree_cpu(server),
            tree_cpu(publisher),
            tree_cpu(intake) if intake is not None else 0.0,
        )

    def line(self, reads: list[Read], writes: int, seconds: float) -> str:
        server = tree_cpu(self.server) - self.start[0]
        publisher = tree_cpu(self.publisher) - self.start[1]
        if self.intake is None:
            per = 1000 * server / writes if writes else float("nan")
            servers = (
                f"server {server:.1f} s ({per:.2f} ms per write, with the reads that reached "
                "it through nginx)"
            )
        else:
            intake = tree_cpu(self.intake) - self.start[2]
            per = 1000 * intake / writes if writes else float("nan")
            servers = (
                f"public server {server:.1f} s ({100 * server / seconds:.0f} % of a core: the "
                f"reads that reached it through nginx), intake server {intake:.1f} s "
                f"({per:.2f} ms per write)"
            )
        return (
            f"  CPU: {servers}, publisher {publisher:.1f} s "
            f"({100 * publisher / seconds:.0f} % of a core); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )


def _busy() -> tuple[float, float]:
    """The machine's (busy, all) CPU seconds so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


class Budget:
    """Where the machine's CPU went over a phase, as shares of one core: each server's, the
    publisher's, PostgreSQL's, nginx's, the load client's (wrk, reaped by this process at the
    end of the phase) and this process's (the writer and the freshness probes)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        now = {name: tree_cpu(pid) for name, pid in self.pids.items()}
        now["wrk (the readers)"] = children.ru_utime + children.ru_stime
        now["the bench (writer, probes)"] = me.ru_utime + me.ru_stime
        now["machine"], now["all"] = _busy()
        return now

    def line(self) -> str:
        end = self._now()
        used = {name: end[name] - self.start[name] for name in end}
        wall = used.pop("all") / (os.cpu_count() or 1)
        machine = used.pop("machine")
        parts = ", ".join(f"{name} {100 * cpu / wall:.0f} %" for name, cpu in used.items())
        return (
            f"  CPU, % of one core: {parts}; the machine {100 * machine / wall:.0f} % of "
            f"{100 * (os.cpu_count() or 1)} %"
        )


def print_reads(reads: list[Read]) -> None:
    for r in reads:
        ok = r.rate >= TARGET_READ_RATE and r.p99_ms < TARGET_READ_P99_MS and r.errors == 0
        print(
            f"  {r.label:<26} {r.rate:>8,.0f} req/s ({r.rate / TARGET_READ_RATE:.2f}x), "
            f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, errors {r.errors}"
            f"{'' if ok else '  [below target]'}"
        )


# -- the run -------------------------------------------------------------------------------


def renice_postgres(url: str, niceness: int) -> None:
    """Give the PostgreSQL server of ``url`` (its postmaster and the processes it runs; the
    backends it starts later inherit it) the niceness ``niceness``."""
    postmaster = postmaster_pid(url)
    if postmaster is None:
        raise SystemExit(f"no PostgreSQL server found for {url}")
    for pid in (postmaster, *descendants(postmaster)):
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, pid, niceness)


def processes(
    server: RestartableServer,
    publisher: subprocess.Popen[bytes],
    nginx_pid: int | None,
    intake: RestartableServer | None = None,
) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, each in (("granian", server), ("intake", intake)):
        pids = each.pids() if each is not None else []
        if pids:
            found[f"{name} main"] = pids[0]
            for i, pid in enumerate(pids[1:], 1):
                found[f"{name} worker {i}"] = pid
    found["publisher"] = publisher.pid
    if nginx_pid is not None:
        found["nginx master"] = nginx_pid
        for i, pid in enumerate(descendants(nginx_pid), 1):
            found[f"nginx worker {i}"] = pid
    return found


def rss_line(pids: dict[str, int]) -> str:
    parts = []
    for name, pid in pids.items():
        mb = rss_mb(pid)
        parts.append(f"{name} {mb:.0f} MB" if mb is not None else f"{name} gone")
    return ", ".join(parts)


def nginx_master(work: Path) -> int | None:
    try:
        return int((work / "nginx.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def wait_for(path: Path, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.2)


def night(
    env: dict[str, str], work: Path, label: str, stations: int, rate: float, args: Any
) -> None:
    print(f"\n== {label}: {stations:,} stations, writes paced at {rate:.0f}/s ==", flush=True)
    bundle = work / "bundle"
    data = simulate(env, bundle, stations)
    if args.turnout_reports is not None:  # the day's first reports only (a large election)
        data.turnout = data.turnout[: args.turnout_reports]
    secki(env, "import", str(bundle))
    token = secki(env, "manage", "shell", "-c", MAKE_BENCH_USER).stdout.strip().splitlines()[-1]
    var = Path(env["SECKI_VAR_DIR"])
    env = {**env, "SECKI_LOG_NAME": "bench.secki/log", "SECKI_SNAPSHOT_AUTO": "1"}
    log = work / "server.log"
    own = args.refresher == "process"  # the stale pages written by a process of their own
    server = RestartableServer(
        {**env, "SECKI_PAGE_REFRESH": "0"} if own else env,
        workers=WORKERS,
        threads=THREADS,
        app="secki.opendata.wsgi:application",
        log=log,
    )
    # the commissions' writes reach servers of their own (deploy/nginx: secki_intake), so
    # that a write never waits in a queue behind the public's page renders
    intake = (
        RestartableServer(
            # as deploy/systemd/secki-intake.service: its CPU is for the writes, the public
            # server's workers render the stale station pages again
            {**env, "SECKI_PAGE_REFRESH": "0"},
            workers=args.intake_workers,
            threads=args.intake_threads,
            app="secki.opendata.wsgi:application",
            log=work / "intake.log",
        )
        if args.intake_workers
        else None
    )
    if intake is not None and args.priorities:
        intake.command = ["nice", "-n", str(INTAKE_NICE), *intake.command]
    # the priorities of deploy/systemd (Nice=): the publisher first (every reader's freshness
    # waits for it), then the intake (the legal record), then the public server and nginx
    first = ["nice", "-n", str(args.publisher_nice)] if args.priorities else []
    publisher = subprocess.Popen(
        [
            *first,
            sys.executable,
            "-m",
            "secki.cli",
            "publish",
            "--watch",
            "--quiet",
            "--interval",
            "1",
        ],
        # each state's timings, one JSON line each (:class:`PublisherLog` reads them)
        env={**env, "SECKI_LOG_LEVEL": "DEBUG", "SECKI_LOG_FORMAT": "json"},
        stdout=(work / "publisher.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    # `secki refresh` in a process of its own, beside a web server that runs none
    refresher = (
        subprocess.Popen(
            [
                *(["nice", "-n", str(args.refresher_nice)] if args.priorities else []),
                sys.executable,
                "-m",
                "secki.cli",
                "refresh",
            ],
            env={**env, "SECKI_LOG_LEVEL": "DEBUG", "SECKI_LOG_FORMAT": "json"},
            stdout=(work / "refresher.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        if own
        else None
    )
    try:
        wait_for(var / "state" / f"{SLUG}.state")
        wait_for(var / "opendata" / SLUG / "live" / "index.json")
        server.start()
        if intake is not None:
            intake.start()
        # the production front: the shipped nginx configuration (TLS, open data from disk,
        # public pages and results kept a second for everyone), in front of the server
        with shipped_nginx(var, server.port, work / "nginx", workers=2) as site:
            time.sleep(0.5)
            pids = processes(server, publisher, nginx_master(work / "nginx"), intake)
            if refresher is not None:
                pids["refresher"] = refresher.pid
            port = intake.port if intake is not None else server.port
            intake_pid = intake.pids()[0] if intake is not None else None
            tls = site.tls_port
            codes = sorted(data.unit_of)
            paths = work / "stations.txt"
            paths.write_text("".join(f"/e/{SLUG}/s/{c}/\n" for c in codes))
            script = work / "random.lua"
            script.write_text(LUA_RANDOM % (paths, 7))
            targets = [
                ("national page", tls, f"/e/{SLUG}/", None),
                ("national JSON", tls, f"/api/v1/elections/{SLUG}/results", None),
                ("constituency page", tls, f"/e/{SLUG}/u/{data.constituency}/", None),
                ("random station pages", tls, "/", script),
                ("live open data", tls, f"/data/{SLUG}/live/index.json", None),
            ]
            targets = paced_scripts(targets, args.connections, args.offer, work)
            for _label, p, path, _s in targets[:3] + targets[4:]:  # warm: every URL answers
                conn = front(p)
                conn.request("GET", path)
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    raise SystemExit(f"{path}: HTTP {answer.status}")
                conn.close()
            if args.fill:  # as an operator before the polls close: every page on disk
                began = time.monotonic()
                out = secki(env, "refresh", "--once", "--fill").stderr
                filled = re.search(r"(\d+) station pages and (\d+) results answers written", out)
                pages, answers = filled.groups() if filled else ("?", "?")
                print(
                    f"  station pages and results answers written before the reads (secki "
                    f"refresh --once --fill): {pages} and {answers} in "
                    f"{time.monotonic() - began:.0f} s",
                    flush=True,
                )
            print(f"  RSS at start: {rss_line(pids)}", flush=True)
            budget_pids = {
                "public server": server.pids()[0],
                "intake server": intake_pid,
                "publisher": publisher.pid,
                "refresher": refresher.pid if refresher is not None else None,
                "PostgreSQL": postmaster_pid(env["DATABASE_URL"])
                if env.get("DATABASE_URL", "").startswith("postgres")
                else None,
                "nginx": nginx_master(work / "nginx"),
            }
            cpu = Cpu(server.pids()[0], publisher.pid, intake_pid)
            budget = Budget(budget_pids)
            with readers(targets, args.connections, args.quiet) as reads:
                time.sleep(args.quiet)
            print(f"quiet ({args.quiet:.0f} s of reads, no writes):")
            print_reads(reads)
            print(cpu.line(reads, 0, args.quiet))
            print(budget.line())

            cpu = Cpu(server.pids()[0], publisher.pid, intake_pid)
            budget = Budget(budget_pids)
            states = PublisherLog(work / "publisher.log")
            looks = RefresherLog(work / "refresher.log") if refresher is not None else None
            with readers(targets, args.connections, None) as reads:
                writes = post_paced(
                    port, f"/api/v1/elections/{SLUG}/turnout", token, data.turnout, rate
                )
            print(f"turnout phase ({len(data.turnout):,} reports):")
            print(cpu.line(reads, writes.sent, writes.seconds))
            print(budget.line())
            print(states.line())
            if looks is not None:
                print(looks.line())
            print(
                writes.line("(turnout reports)", TARGET_WRITE_RATE if "Postgre" in label else None)
            )
            print_reads(reads)

            forked = multiprocessing.get_context("fork")
            relay, results = os.pipe(), forked.Queue()
            names = ("station", "constituency", "national", PAST_NGINX)
            ports = {name: server.port if name == PAST_NGINX else tls for name in names}
            prober = forked.Process(
                target=probes,
                args=(ports, data.unit_of, relay, results, PROBE_NICE if args.priorities else 0),
            )
            shared = Writes(relay=relay[1])

            cpu = Cpu(server.pids()[0], publisher.pid, intake_pid)
            budget = Budget(budget_pids)
            states = PublisherLog(work / "publisher.log")
            looks = RefresherLog(work / "refresher.log") if refresher is not None else None
            with readers(targets, args.connections, None) as reads:
                prober.start()
                os.close(relay[0])
                protocol_writes = post_paced(
                    port,
                    f"/api/v1/elections/{SLUG}/protocols",
                    token,
                    data.protocols,
                    rate,
                    data.unit_of,
                    out=shared,
                )
                time.sleep(3)  # the last acknowledged protocols reach the state
                os.close(relay[1])
                fresh, probe_reads, probe_at, late = results.get(timeout=120)
                prober.join()
            print(f"protocol phase ({len(data.protocols):,} protocols):")
            print(cpu.line(reads, protocol_writes.sent, protocol_writes.seconds))
            print(budget.line())
            print(states.line())
            if looks is not None:
                print(looks.line())
            print(
                protocol_writes.line(
                    "(protocols)", TARGET_WRITE_RATE if "Postgre" in label else None
                )
            )
            print_reads(reads)
            for name in ("station", "constituency", "national", PAST_NGINX):
                values = fresh.get(name, [])
                p99 = percentile(values, 99)
                print(
                    f"  freshness → {name}: p50 {percentile(values, 50):.2f} s, p99 {p99:.2f} s "
                    f"over {len(values)} protocols (target p99 <= {TARGET_FRESH_S:.0f} s"
                    f"{'' if p99 <= TARGET_FRESH_S else ': missed'}); the read that showed it "
                    f"took p50 {1000 * percentile(probe_reads.get(name, []), 50):.0f} / p99 "
                    f"{1000 * percentile(probe_reads.get(name, []), 99):.0f} ms of that; the "
                    f"worst {max(values, default=float('nan')):.2f} s, acknowledged "
                    f"{worst_at(values, probe_at.get(name, []), protocol_writes):.0f} s into "
                    f"the phase"
                )
            print(
                f"  the acknowledgements reached the probes p50 {1000 * percentile(late, 50):.0f}"
                f" / p99 {1000 * percentile(late, 99):.0f} ms after their 201 (a probe measures "
                "from the 201, not from its arrival)"
            )
            print(f"  RSS at end: {rss_line(pids)}", flush=True)
            check_final(port, data)
            if args.soak:
                soak(port, token, data, rate, targets, args, pids)
    finally:
        server.stop()
        if intake is not None:
            intake.stop()
        for each in (publisher, refresher):
            if each is None:
                continue
            each.terminate()
            try:
                each.wait(timeout=30)
            except subprocess.TimeoutExpired:
                each.kill()


def check_final(port: int, data: Night) -> None:
    """After the load: the national JSON equals the sums of the protocols sent."""
    time.sleep(2.5)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    national = get(conn, f"/api/v1/elections/{SLUG}/results")
    conn.close()
    expected: Counter[str] = Counter()
    for body in data.protocols:
        for k, v in body["values"].items():
            if k != "L17":
                expected[k] += v
    same = national is not None and national["lines"] == dict(expected)
    print(
        "  after the load the national JSON equals the sum of the protocols sent: "
        f"{'yes' if same else 'NO'} ({national['stations_reported'] if national else '?'} "
        f"stations reported)"
    )


def soak(
    port: int,
    token: str,
    data: Night,
    rate: float,
    targets: list[tuple[str, int, str, Path | None]],
    args: Any,
    pids: dict[str, int],
) -> None:
    """Reads and turnout corrections for ``args.soak`` seconds; RSS after the first minute
    and at the end."""
    last = {}
    for r in data.turnout:
        last[r["station"]] = r  # the latest report time of each station
    corrections = []
    flip = 0
    while len(corrections) < int(args.soak * rate) + 1000:
        for code, r in last.items():
            bump = 1 if flip % 2 == 0 else 0
            if r["voters"] + 1 > data.registered[code]:
                continue
            corrections.append({**r, "voters": r["voters"] + bump, "reason": f"recount {flip}"})
        flip += 1
    stop = threading.Event()
    box: list[Writes] = []
    writer = threading.Thread(
        target=lambda: box.append(
            post_paced(
                port, f"/api/v1/elections/{SLUG}/turnout", token, corrections, rate, stop=stop
            )
        )
    )
    started = time.monotonic()
    with readers(targets, args.connections, args.soak) as reads:
        writer.start()
        while time.monotonic() - started < 60:
            time.sleep(1)
        first = {name: rss_mb(pid) for name, pid in pids.items()}
        first_private = {name: private_mb(pid) for name, pid in pids.items()}
        print(f"  soak: RSS after the first minute: {rss_line(pids)}", flush=True)
        while time.monotonic() - started < args.soak:
            time.sleep(1)
        stop.set()
        writer.join()
    end = {name: rss_mb(pid) for name, pid in pids.items()}
    end_private = {name: private_mb(pid) for name, pid in pids.items()}

    def growth(before: dict[str, float | None], after: dict[str, float | None]) -> str:
        out = []
        for name, was in before.items():
            now = after.get(name)
            if was and now:
                out.append(f"{name} {100 * (now - was) / was:+.1f} % ({now - was:+.1f} MB)")
        return ", ".join(out)

    print(f"soak {args.soak:.0f} s:")
    print(box[0].line("(turnout corrections)", None) if box else "  no writes")
    print_reads(reads)
    print(f"  RSS growth after the first minute (target < 10 %): {growth(first, end)}")
    private = growth(first_private, end_private)
    print(f"  of which private (not shared with another process): {private}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, nargs="+", default=[6_537])
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--sqlite-rate", type=float, default=145.0)
    parser.add_argument("--connections", type=int, default=160)
    parser.add_argument(
        "--offer",
        type=float,
        default=2400.0,
        help="requests a second each URL's readers offer (0: a closed loop, as many as the "
        "CPU allows)",
    )
    parser.add_argument(
        "--intake-workers",
        type=int,
        default=2,
        help="workers of the intake server the writes go to (0: the public server's)",
    )
    parser.add_argument(
        "--intake-threads",
        type=int,
        default=THREADS,
        help="threads per worker of the intake server",
    )
    parser.add_argument(
        "--priorities",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the publisher and the intake at the priorities of deploy/systemd (root only)",
    )
    parser.add_argument(
        "--turnout-reports",
        type=int,
        default=None,
        help="replay only the day's first N turnout reports (default: every one; at 100,000 "
        "stations they are 500,000)",
    )
    parser.add_argument(
        "--postgres-nice",
        type=int,
        default=0,
        help="run PostgreSQL at this niceness (with --priorities; a systemd drop-in's Nice= "
        "in production): the writes and the publisher wait for it",
    )
    parser.add_argument(
        "--publisher-nice",
        type=int,
        default=PUBLISHER_NICE,
        help="run the publisher at this niceness (with --priorities; deploy/systemd's Nice=)",
    )
    parser.add_argument(
        "--refresher",
        choices=["workers", "process"],
        default="workers",
        help="who writes the stale station pages and answers again: a thread in each web "
        "server's worker, or `secki refresh` in a process of its own (deploy/systemd)",
    )
    parser.add_argument(
        "--refresher-nice",
        type=int,
        default=REFRESHER_NICE,
        help="run `secki refresh` at this niceness (with --priorities and --refresher process)",
    )
    parser.add_argument(
        "--fill",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="before the reads, write every station page in every language (`secki refresh "
        "--once --fill`, as before the polls close); --no-fill: only the pages read so far "
        "are files, the workers' refreshers write the rest between states",
    )
    parser.add_argument("--soak", type=float, default=0.0)
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of reads first")
    args = parser.parse_args()
    if args.priorities and os.geteuid() != 0:
        print("not root: --no-priorities (a negative nice needs root)")
        args.priorities = False
    print(
        f"bench_night: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Granian "
        f"{WORKERS} workers x {THREADS} threads"
        + (
            f", intake {args.intake_workers} workers x {args.intake_threads} threads"
            if args.intake_workers
            else ", writes to the same server"
        )
        + (
            f"; publisher at nice {args.publisher_nice:+d}, intake {INTAKE_NICE:+d}"
            + (
                f", refresher process {args.refresher_nice:+d}"
                if args.refresher == "process"
                else ""
            )
            + (f", PostgreSQL {args.postgres_nice:+d}" if args.postgres_nice else "")
            + f", freshness probes {PROBE_NICE:+d}"
            + " (relative)"
            if args.priorities
            else ""
        )
        + f"; wrk {args.connections} connections, "
        + (
            f"offering about {args.offer:,.0f} req/s per URL"
            if args.offer
            else "each as fast as it can (closed loop)"
        )
    )
    for stations in args.stations:
        with tempfile.TemporaryDirectory(prefix="secki-bench-night-") as tmp:
            if args.db in ("postgresql", "both"):
                with throwaway_postgres(durable=True) as url:
                    if args.priorities and args.postgres_nice:
                        renice_postgres(url, args.postgres_nice)
                    work = Path(tmp) / "pg"
                    env = fresh_database(url, "night", work / "var")
                    night(env, work, "PostgreSQL", stations, args.rate, args)
            if args.db in ("sqlite", "both"):
                work = Path(tmp) / "sqlite"
                env = base_env(SECKI_VAR_DIR=str(work / "var"))
                env.pop("DATABASE_URL", None)
                secki(env, "manage", "migrate", "-v", "0")
                night(env, work, "SQLite", stations, args.sqlite_rate, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
