"""A whole national election at India's scale on one durable PostgreSQL (issue 20).

    python bench/bench_national.py [--stations N] [--api-stations K] [--work DIR]
    python bench/bench_national.py --quick     # 100,000 stations (what run_all.py runs)

On a throwaway durable PostgreSQL (fsync on; ``max_wal_size`` raised for bulk loads) it runs,
phase by phase, what an election with N polling stations (default 1,000,000) goes through:

1. simulate the election (``secki simulate``: above 250,000 stations about 2,000 stations per
   constituency) and write the files the intake needs;
2. import the register (``secki import`` of the bundle without turnout and protocols), then a
   plain ``COPY`` of the same rows into scratch tables of the same shape (``LIKE … INCLUDING
   ALL``) on the same server (target <= 5 min);
3. turnout day: five reports per station, one ``turnout.csv`` per report time uploaded to
   the bulk API (``/turnout-bulk``) of the production server, then K stations' reports
   through the single-report API;
4. the night's protocols through bulk intake (``secki upload-protocols``, all but five
   stations), then a plain ``COPY`` of the same rows (target <= 15 min);
5. the integrity forensics the app runs (``secki.integrity.analysis``: the station arrays
   read from the database, then the integer-percentage test, digit tests, fingerprint,
   Klimek fit and risk scores) on every counted station (target <= 2 min);
6. the first publication by the one publisher (``secki publish --watch``): the public state
   and the open-data live files (until the public results API shows the bulk upload), then
   the transparency log over every entry (tiles, signed checkpoint, totals, hints);
7. while it keeps publishing, the last five protocols accepted one by one through the API:
   the time from each 201 to the national total of the public results API showing it
   (target <= 1 s) and to the open-data live file showing it (target <= 30 s).

For each phase it prints the wall time, the ratio to its target, and the peak memory of
every process involved, sampled every 0.25 s: this process, each child (the ``secki``
commands, the server's processes, the publisher) and PostgreSQL (its processes' proportional
set size summed, so shared buffers count once); and at the end the peak over the run
(target <= 8 GB for everything together).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import RestartableServer, base_env, descendants, post_all, postmaster_pid, secki
from bench_protocols import MAKE_BENCH_USER
from secki.devtools.pgserver import Cluster

SLUG = "az-2024-simulated"
GB = 1024**3
TARGETS = {
    "register import": 300.0,
    "protocols bulk intake": 900.0,
    "national total after an accept": 1.0,
    "open data after an accept": 30.0,
    "forensics": 120.0,
}
TARGET_RSS_GB = 8.0
HELD_BACK = 5  # protocols kept for the API, one by one, at the end
#: set when the memory limit stopped the run's processes: waits end at once
STOPPED = threading.Event()


# -- memory --------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _label(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    if not words:
        return "?"
    if "secki.cli" in words:
        rest = words[words.index("secki.cli") + 1 :]
        return "secki " + " ".join(rest[:1] + [w for w in rest[1:2] if w == "--watch"])
    if any("granian" in w for w in words[:3]):
        return "server"
    return Path(words[0]).name


@dataclass
class Peaks:
    """Peak memory (bytes) per process label over a phase: the largest RSS of one process of
    that label, and the largest total (PSS) of all processes at one sample."""

    single: dict[str, int] = field(default_factory=dict)
    group: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def line(self) -> str:
        parts = []
        for name in sorted(self.group, key=lambda n: -self.group[n]):
            parts.append(
                f"{name} {self.group[name] / GB:.2f} GB"
                + (
                    f" (largest process {self.single[name] / GB:.2f} GB)"
                    if self.single.get(name, 0) != self.group[name]
                    else ""
                )
            )
        return f"peak memory together {self.total / GB:.2f} GB: " + ", ".join(parts)


class MemoryWatch:
    """Samples this process, its descendants and PostgreSQL's processes every ``every`` s."""

    def __init__(self, pg_pid: int | None, limit: float, every: float = 0.25) -> None:
        self.pg_pid = pg_pid
        self.limit = limit
        self.tripped = False
        self.every = every
        self.phase = Peaks()
        self.run = Peaks()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        pids: dict[int, str] = {os.getpid(): "bench_national (this process)"}
        for pid in descendants(os.getpid()):
            pids[pid] = _label(pid)
        if self.pg_pid:
            for pid in [self.pg_pid, *descendants(self.pg_pid)]:
                pids[pid] = "PostgreSQL"
        single: dict[str, int] = {}
        group: Counter[str] = Counter()
        for pid, name in pids.items():
            rss = _status_kb(pid, "VmRSS:") * 1024
            pss = _pss_kb(pid) * 1024 or rss
            single[name] = max(single.get(name, 0), rss)
            group[name] += pss
        total = sum(group.values())
        if total > self.limit and not self.tripped:
            # the machine is shared: stop the run's own processes rather than push others out
            self.tripped = True
            STOPPED.set()
            print(
                f"!! memory {total / GB:.2f} GB above the limit of {self.limit / GB:g} GB "
                f"({', '.join(f'{n} {v / GB:.2f} GB' for n, v in group.most_common(4))}); "
                "stopping the run",
                flush=True,
            )
            for pid in descendants(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with self.lock:
            for peaks in (self.phase, self.run):
                for name, value in single.items():
                    peaks.single[name] = max(peaks.single.get(name, 0), value)
                for name, value in group.items():
                    peaks.group[name] = max(peaks.group.get(name, 0), value)
                peaks.total = max(peaks.total, total)

    def _loop(self) -> None:
        while not self.stop_event.wait(self.every):
            self._sample()

    def new_phase(self) -> None:
        with self.lock:
            self.phase = Peaks()

    def end_phase(self) -> Peaks:
        self._sample()
        with self.lock:
            return self.phase

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()


class Report:
    def __init__(self, memory: MemoryWatch) -> None:
        self.memory = memory
        self.rows: list[str] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a phase; the block may set ``note`` and ``seconds`` (the timed part) in the
        dict it gets."""
        print(f"-- {name} …", flush=True)
        self.memory.new_phase()
        box: dict[str, Any] = {}
        started = time.perf_counter()
        yield box
        wall = time.perf_counter() - started
        seconds = box.get("seconds", wall)
        peaks = self.memory.end_phase()
        target = TARGETS.get(name)
        aim = (
            f" (target <= {target:g} s: {seconds / target:.2f}x target"
            f"{'' if seconds <= target else ', MISSED'})"
            if target
            else ""
        )
        text = f"{name}: {seconds:.1f} s{aim}"
        if box.get("note"):
            text += f"; {box['note']}"
        text += f"\n    {peaks.line()}"
        print(text, flush=True)
        self.rows.append(text)


# -- PostgreSQL -----------------------------------------------------------------------------


def connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True)


def id_marks(url: str) -> dict[str, int]:
    """The largest ``id`` of every application table that has one (0 when empty)."""
    with connect(url) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = "
                "'public' AND column_name = 'id' AND table_name NOT LIKE 'copy\\_%'"
            ).fetchall()
        ]
        return {
            t: con.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"').fetchone()[0]  # noqa: S608 - catalogue names
            for t in tables
        }


def copy_same_rows(url: str, before: dict[str, int], scratch: Path) -> tuple[float, Counter[str]]:
    """The rows written since ``before`` (by ``id``), copied out, then timed: one plain
    ``COPY`` per table into a new table ``LIKE`` it (indexes, defaults and checks included),
    all in one committed transaction. Returns (seconds, rows per table)."""
    after = id_marks(url)
    grown = {t: before.get(t, 0) for t, top in after.items() if top > before.get(t, 0)}
    rows: Counter[str] = Counter()
    files: dict[str, Path] = {}
    with connect(url) as con:
        for table, mark in grown.items():
            path = scratch / f"{table}.copy"
            with (
                path.open("wb") as out,
                con.cursor() as cur,
                cur.copy(
                    f'COPY (SELECT * FROM "{table}" WHERE id > {mark}) TO STDOUT '  # noqa: S608 - table names from the catalogue
                    "(FORMAT binary)"
                ) as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
            files[table] = path
            rows[table] = con.execute(
                f'SELECT COUNT(*) FROM "{table}" WHERE id > {mark}'  # noqa: S608 - catalogue names
            ).fetchone()[0]
            con.execute(f'DROP TABLE IF EXISTS "copy_{table}"')
            con.execute(f'CREATE TABLE "copy_{table}" (LIKE "{table}" INCLUDING ALL)')
        con.autocommit = False
        started = time.perf_counter()
        with con.cursor() as cur:
            for table, path in files.items():
                with (
                    cur.copy(f'COPY "copy_{table}" FROM STDIN (FORMAT binary)') as copy,
                    path.open("rb") as handle,
                ):
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
        con.commit()
        seconds = time.perf_counter() - started
        con.autocommit = True
        for table, path in files.items():
            con.execute(f'DROP TABLE "copy_{table}"')
            path.unlink()
    return seconds, rows


def rows_line(rows: Counter[str]) -> str:
    return ", ".join(f"{t} {n:,}" for t, n in rows.most_common(6))


# -- the election's files ------------------------------------------------------------------


@dataclass
class Files:
    bundle: Path
    turnout: list[tuple[str, Path, int]]  # report time, file, rows
    turnout_api: list[dict[str, Any]]
    protocols: Path
    protocol_rows: int
    held_back: list[dict[str, Any]]


def split_files(bundle: Path, work: Path, api_stations: int) -> Files:
    """Move turnout.csv and protocols.csv out of the bundle (the import takes the register
    only): turnout into one file per report time (each <= the stations), all but
    ``api_stations`` stations' reports for the bulk upload; protocols all but the last
    HELD_BACK rows. Streams: nothing holds every row."""
    api_codes: set[str] = set()
    with (bundle / "stations.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if len(api_codes) >= api_stations:
                break
            api_codes.add(row["code"])
    outputs: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    api: list[dict[str, Any]] = []
    with (bundle / "turnout.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if row["voters"] == "":
                continue
            if row["station"] in api_codes:
                api.append(
                    {"station": row["station"], "time": row["time"], "voters": int(row["voters"])}
                )
                continue
            out = outputs.get(row["time"])
            if out is None:
                f = (work / f"turnout-{row['time'].replace(':', '')}.csv").open("w", newline="")
                out = outputs[row["time"]] = (f, csv.writer(f))
                out[1].writerow(["station", "time", "voters"])
            out[1].writerow([row["station"], row["time"], row["voters"]])
            counts[row["time"]] += 1
    for f, _ in outputs.values():
        f.close()
    (bundle / "turnout.csv").unlink()
    api.sort(key=lambda r: (r["time"], r["station"]))
    turnout = [(t, work / f"turnout-{t.replace(':', '')}.csv", counts[t]) for t in sorted(outputs)]
    upload = work / "protocols.upload.csv"
    rows = 0
    tail: list[dict[str, str]] = []
    with (bundle / "protocols.csv").open(newline="") as src, upload.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            tail.append(row)
            if len(tail) > HELD_BACK:
                writer.writerow(tail.pop(0))
                rows += 1
    (bundle / "protocols.csv").unlink()
    held = [
        {
            "station": r["station"],
            "values": {
                k: v if k == "L17" else int(v) for k, v in r.items() if k != "station" and v != ""
            },
        }
        for r in tail
    ]
    return Files(bundle, turnout, api, upload, rows, held)


# -- HTTP ----------------------------------------------------------------------------------


def upload_file(port: int, path: str, token: str, file: Path) -> tuple[int, Any]:
    """POST ``file`` as the ``file`` field of a multipart form, streamed from disk."""
    boundary = "secki-bench-national-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file.name}"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + file.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.putrequest("POST", path)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    conn.send(head)
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body[:500]


def get_json(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return json.loads(body) if response.status == 200 else None


def national_reported(port: int) -> int:
    doc = get_json(port, f"/api/v1/elections/{SLUG}/results")
    return int(doc["stations_reported"]) if doc else -1


def opendata_reported(var: Path) -> int:
    """Stations reported according to the open-data live index (-1 while there is none)."""
    path = var / "opendata" / SLUG / "live" / "index.json"
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return -1
    found = _find_key(doc, "stations_reported")
    return int(found) if found is not None else -1


def _find_key(doc: Any, key: str) -> Any:
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        for value in doc.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


def checkpoint_size(path: Path) -> int:
    """The size the published checkpoint names (its second line; -1 while there is none)."""
    try:
        return int(path.read_text().splitlines()[1])
    except (OSError, IndexError, ValueError):
        return -1


def wait_until(check: Any, timeout: float, every: float = 0.01) -> float | None:
    """Seconds until ``check()`` is true (None past ``timeout``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if STOPPED.is_set():
            raise SystemExit("the run stopped: its processes went above the memory limit")
        if check():
            return time.perf_counter() - started
        time.sleep(every)
    return None


# -- the run -------------------------------------------------------------------------------

FORENSICS = """
import time
from secki.elections.models import Election
from secki.integrity import analysis
from secki.integrity.station_arrays import load
from secki.ledger.chain import ledger_head
election = Election.objects.get(slug=%r)
started = time.perf_counter()
data = load(election, public=False, head=ledger_head())
loaded = time.perf_counter() - started
result = analysis.analyse(data, analysis.AnalysisConfig.from_settings())
total = time.perf_counter() - started
print(f"{total:.3f} {loaded:.3f} {data.n} {result.integer is not None} {result.fit is not None}")
"""


def run(args: argparse.Namespace, work: Path) -> int:
    stations = args.stations
    cluster = Cluster(durable=True)
    # a bulk load's WAL between checkpoints: PostgreSQL's default (1 GB) checkpoints every
    # few seconds during a million-row COPY; shared buffers as a 2-core server would have
    cluster.set(max_wal_size="8GB", shared_buffers="1GB", checkpoint_timeout="15min")
    cluster.start()
    server: RestartableServer | None = None
    publisher: subprocess.Popen[bytes] | None = None
    memory: MemoryWatch | None = None
    report: Report | None = None
    failed = False
    finished = False
    try:
        url = cluster.url
        memory = MemoryWatch(postmaster_pid(url), args.memory_limit * GB)
        report = Report(memory)
        with connect(url) as con:
            con.execute("CREATE DATABASE bench_national")
        db_url = url.rsplit("/", 1)[0] + "/bench_national"
        var = work / "var"
        env = base_env(
            DATABASE_URL=db_url,
            SECKI_VAR_DIR=str(var),
            SECKI_LOG_NAME="bench.secki/log",
        )
        print(
            f"bench_national: {stations:,} stations; {os.cpu_count()} CPUs; load average "
            f"{os.getloadavg()[0]:.1f}; durable PostgreSQL (fsync on) max_wal_size 8GB, "
            f"shared_buffers 1GB",
            flush=True,
        )
        secki(env, "manage", "migrate", "-v", "0")
        bundle = work / "bundle"
        with report.phase("simulate") as box:
            secki(env, "simulate", "--quiet", "--out", str(bundle), "--stations", str(stations))
            files = split_files(bundle, work, args.api_stations)
            box["note"] = (
                f"{len(files.turnout)} turnout files of {max(n for _, _, n in files.turnout):,} "
                f"rows at most, {files.protocol_rows:,} protocols for the bulk upload"
            )

        before = id_marks(db_url)
        with report.phase("register import") as box:
            started = time.perf_counter()
            secki(env, "import", "--no-migrate", str(bundle))
            box["seconds"] = time.perf_counter() - started
            copied, rows = copy_same_rows(db_url, before, work)
            box["note"] = (
                f"plain COPY of the same rows {copied:.1f} s, ratio {box['seconds'] / copied:.1f}x "
                f"({rows_line(rows)})"
            )

        token = secki(env, "manage", "shell", "-c", MAKE_BENCH_USER).stdout.strip().splitlines()[-1]
        secki(
            env,
            "manage",
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            "get_user_model().objects.create_superuser('bulk', 'b@example.org', None)",
        )
        server = RestartableServer(
            env, app="secki.opendata.wsgi:application", log=work / "server.log"
        )
        server.start()
        port = server.port

        with report.phase("turnout bulk upload") as box:
            accepted = 0
            for time_, path, count in files.turnout:
                status, answer = upload_file(
                    port, f"/api/v1/elections/{SLUG}/turnout-bulk", token, path
                )
                if status != 201:
                    raise SystemExit(f"turnout bulk {time_}: HTTP {status} {answer}")
                accepted += int(answer["accepted"])
                print(f"    {time_}: {count:,} reports accepted", flush=True)
            box["note"] = f"{accepted:,} reports through /turnout-bulk"

        with report.phase("turnout API sample") as box:
            result = post_all(port, f"/api/v1/elections/{SLUG}/turnout", files.turnout_api, token)
            box["seconds"] = result.seconds
            box["note"] = (
                f"{result.sent:,} reports ({args.api_stations:,} stations), {result.rate:,.0f} "
                f"reports/s, p50 {result.percentile(50):.0f} ms, p99 {result.percentile(99):.0f} "
                f"ms, errors {result.errors or 'none'}; {server.label}, 16 clients"
            )
            if result.errors:
                failed = True

        before = id_marks(db_url)
        with report.phase("protocols bulk intake") as box:
            started = time.perf_counter()
            secki(
                env,
                "upload-protocols",
                str(files.protocols),
                "--election",
                SLUG,
                "--user",
                "bulk",
            )
            box["seconds"] = time.perf_counter() - started
            copied, rows = copy_same_rows(db_url, before, work)
            box["note"] = (
                f"{files.protocol_rows:,} protocols; plain COPY of the same rows {copied:.1f} s, "
                f"ratio {box['seconds'] / copied:.1f}x ({rows_line(rows)})"
            )

        with report.phase("forensics") as box:
            out = secki(env, "manage", "shell", "-c", FORENSICS % SLUG).stdout.split()
            total, loaded, n, integer, fit = out[-5:]
            box["seconds"] = float(total)
            box["note"] = (
                f"{int(n):,} stations; reading the station arrays {float(loaded):.1f} s, the "
                f"tests {float(total) - float(loaded):.1f} s (integer test {integer}, Klimek fit "
                f"{fit}); in a child process (Django's start-up not timed)"
            )

        with connect(db_url) as con:
            entries = con.execute("SELECT COUNT(*) FROM ledger_ledgerentry").fetchone()[0]
        expected = files.protocol_rows
        checkpoint = var / "log" / SLUG / "checkpoint"
        with report.phase("first publication") as box:
            # the one publisher, as production runs it: first the public state and the
            # open-data live files, then the transparency log; then it keeps them current
            publisher = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "secki.cli",
                    "publish",
                    "--watch",
                    "--quiet",
                    "--interval",
                    "1",
                ],
                env=env,
                stdout=(work / "publisher.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
            # the state's file first: asked before it exists, a web process would build a
            # state of its own
            state_file = var / "state" / f"{SLUG}.state"
            wait_until(state_file.exists, 7200, 0.5)
            shown = wait_until(lambda: national_reported(port) >= expected, 7200, 0.5)
            print(
                "    the public results API shows the bulk upload after "
                + (f"{shown:.1f} s" if shown is not None else "NOT within 2 h"),
                flush=True,
            )
            logged = wait_until(lambda: checkpoint_size(checkpoint) >= entries, 7200, 0.5)
            box["note"] = (
                "the public results API showed the bulk upload after "
                + (f"{shown:.1f} s" if shown is not None else "NOT within 2 h")
                + f"; the transparency log's checkpoint covered all {entries:,} entries "
                "(tiles, signed checkpoint, totals, hints) after "
                + (f"{(shown or 0) + logged:.1f} s" if logged is not None else "NOT within 2 h")
            )

        with report.phase("national total after an accept") as box:
            national: list[float] = []
            opendata: list[float] = []
            for i, body in enumerate(files.held_back, start=1):
                answer = post_all(port, f"/api/v1/elections/{SLUG}/protocols", [body], token, 1)
                if answer.ok != 1:
                    raise SystemExit(f"accept {body['station']}: {answer.errors}")
                accepted_at = time.perf_counter() - answer.seconds + answer.latencies[0]
                seen = wait_until(lambda n=expected + i: national_reported(port) >= n, 120)
                national.append(
                    (time.perf_counter() - accepted_at) if seen is not None else float("inf")
                )
                seen = wait_until(lambda n=expected + i: opendata_reported(var) >= n, 300, 0.05)
                opendata.append(
                    (time.perf_counter() - accepted_at) if seen is not None else float("inf")
                )
            box["seconds"] = max(national)
            box["note"] = (
                f"worst of {len(national)} accepts through the API, mean "
                f"{sum(national) / len(national):.3f} s; with the publisher running"
            )
        with report.phase("open data after an accept") as box:
            box["seconds"] = max(opendata)
            box["note"] = (
                f"worst of {len(opendata)} accepts (the live open-data index showing it), "
                f"mean {sum(opendata) / len(opendata):.2f} s"
            )
        final = get_json(port, f"/api/v1/elections/{SLUG}/results")
        print(
            f"    national total: {final['stations_reported']:,} stations reported of {stations:,}",
            flush=True,
        )

        finished = True
    finally:
        if memory is not None:
            memory.stop()
            peak = memory.run
            print()
            print(
                f"== summary, {stations:,} stations"
                + ("" if finished else " (the run stopped early: the phases it finished)")
            )
            for row in report.rows if report else []:
                print(row)
            over = peak.total / GB > TARGET_RSS_GB
            print(
                f"peak memory over the run, every process together: {peak.total / GB:.2f} GB "
                f"(target <= {TARGET_RSS_GB:.0f} GB: {peak.total / GB / TARGET_RSS_GB:.2f}x "
                f"target{', MISSED' if over else ''})\n    {peak.line()}",
                flush=True,
            )
        if server is not None:
            server.stop()
        if publisher is not None:
            publisher.terminate()
            publisher.wait(timeout=120)
        cluster.remove()
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 stations")
    parser.add_argument("--api-stations", type=int, default=1_000)
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=12.0,
        help="GB: above this (every process together) the run stops its processes",
    )
    args = parser.parse_args()
    if args.quick:
        args.stations = min(args.stations, 100_000)
    args.api_stations = min(args.api_stations, max(1, args.stations // 10))
    if args.work is not None:
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
        return run(args, args.work)
    with tempfile.TemporaryDirectory(prefix="secki-bench-national-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
