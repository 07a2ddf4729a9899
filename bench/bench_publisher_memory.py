"""The memory of the publisher during the election-night soak (issue 15), without a server.

    python bench/bench_publisher_memory.py --dir DIR [--stations 6537] [--rounds 100]
        [--per-round 600] [--tracemalloc] [--frames 4] [--one-thread] [--live SECONDS]

``DIR`` holds an election simulated into ``DIR/b`` and imported whole (every protocol and
turnout report) into ``DIR/var`` (``SECKI_VAR_DIR``; with ``DATABASE_URL`` into that
database), as the soak of ``bench/bench_night.py --soak`` finds it after the night; this
script makes both when they are missing::

    secki simulate --quiet --out DIR/b --stations 6537
    SECKI_VAR_DIR=DIR/var secki import DIR/b

Then, in rounds, as ``secki publish --watch --state-interval 0.5`` would see them: it submits
``--per-round`` turnout corrections (each station's latest report time, its voters bumped by
one and back, with a reason, as the soak's writer does), runs a
:class:`~secki.opendata.published.Publisher` step (in a thread of its own, as ``publish_cmd``
does, unless ``--one-thread``) and one round of the transparency log
(:func:`secki.opendata.transparency.publish_all` with ``wait_for_state``). After each round it
prints the process's RSS, the entries of the log and, with ``--tracemalloc``, the Python heap
(traced with ``--frames`` frames) and its highest point in the round, and the releases cut
so far; at the end the lines that grew most since round 5. 100 rounds of 600 corrections are
about the soak's 9 minutes measured (~112 corrections/s).

With ``--live SECONDS`` it runs ``secki publish --watch`` itself in a process of its own (its
log in ``DIR/publisher.log``) while this process writes ``--rate`` corrections a second, and
prints the publisher's RSS every 10 s: the soak's publisher without a server.

What the soak's growth was (issue 15): not a structure growing with the facts (the rounds
show the heap flat once every station was corrected once, the tlog holding only its tiles'
edge) but the open-data release cut every ``SECKI_RELEASE_EVERY`` seconds (600: once in a
10-minute soak) in the publisher's thread: its peak (the election read again beside the kept
data, the NIST export 10,000 items at a time) stayed in the RSS. ``SECKI_RELEASE_EVERY=120``
puts a few releases in a short run. The figures are of this machine; nothing is asserted.

PostgreSQL: ``python -m secki.devtools.pgserver --durable -- python bench/bench_publisher_memory.py
--dir DIR`` (a fresh ``DIR``: the throwaway database holds nothing before).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("SECKI_DEVELOPMENT", "1")

#: the round whose heap the growth is compared with (the first ones fill caches)
BASELINE = 5


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def secki(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "secki.cli", *args], check=True, env=os.environ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--stations", type=int, default=6_537)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--per-round", type=int, default=600)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--frames", type=int, default=4, help="frames traced (--tracemalloc)")
    parser.add_argument("--one-thread", action="store_true", help="states in the main thread")
    parser.add_argument(
        "--live",
        type=float,
        metavar="SECONDS",
        help="instead of rounds: `secki publish --watch` in a process of its own while this "
        "one writes --rate corrections a second for SECONDS; its RSS every 10 s",
    )
    parser.add_argument("--rate", type=float, default=112.0, help="corrections a second (--live)")
    args = parser.parse_args()
    root = args.dir.resolve()
    os.environ["SECKI_VAR_DIR"] = str(root / "var")
    os.environ["DJANGO_SETTINGS_MODULE"] = "secki.settings"
    os.environ.setdefault("SECKI_LOG_NAME", "bench.secki/log")  # as bench_night
    os.environ.setdefault("SECKI_SNAPSHOT_AUTO", "1")
    if not (root / "b" / "election.json").exists():
        secki("simulate", "--quiet", "--out", str(root / "b"), "--stations", str(args.stations))
    slug = str(json.loads((root / "b" / "election.json").read_text())["slug"])
    import django

    django.setup()
    from django.db import connection

    from secki.elections.models import Election

    if os.environ.get("DATABASE_URL"):  # a throwaway server's empty database
        secki("manage", "migrate", "-v", "0")
    if not Election.objects.filter(slug=slug).exists():
        connection.close()
        secki("import", str(root / "b"))
    run(slug, args)


def corrections(slug: str) -> Any:
    """(station, report time, voters, reason) without end: each station's latest report
    corrected, its voters bumped by one and back (as bench_night's soak)."""
    from django.contrib.auth import get_user_model

    from secki.elections.models import Election, Station
    from secki.turnout.actions import report_turnout
    from secki.turnout.models import TurnoutReport

    user = get_user_model()
    admin = user.objects.filter(username="memory").first() or user.objects.create_superuser(
        "memory", password=None
    )
    election = Election.objects.get(slug=slug)
    stations = {s.pk: s for s in Station.objects.filter(election=election)}
    latest: dict[int, tuple[str, int]] = {}  # station → its latest report time and voters
    for station_id, at, voters in (
        TurnoutReport.objects.filter(election=election, is_current=True)
        .order_by("station_id", "time")
        .values_list("station_id", "time", "voters")
    ):
        latest[station_id] = (str(at), int(voters))
    writable = [pk for pk, (_t, v) in sorted(latest.items()) if v + 1 <= stations[pk].registered]
    flip = 0
    while True:
        for pk in writable:
            at, voters = latest[pk]
            bumped = voters + (1 if flip % 2 == 0 else 0)
            yield lambda s=stations[pk], a=at, v=bumped, r=f"recount {flip}": report_turnout(
                election, s, a, v, actor=admin, source="api", reason=r
            )
        flip += 1


def live(slug: str, args: Any) -> None:
    """The real publisher in a process of its own, its RSS every 10 s while this one writes."""
    root = args.dir.resolve()
    env = {**os.environ, "SECKI_LOG_LEVEL": "DEBUG", "SECKI_LOG_FORMAT": "json"}
    command = [sys.executable, "-m", "secki.cli", "publish", "--watch", "--quiet"]
    command += ["--interval", "1", "--state-interval", "0.5"]
    with (root / "publisher.log").open("ab") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    status = Path(f"/proc/{child.pid}/status")

    def child_rss() -> float:
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    feed = corrections(slug)
    time.sleep(15)  # its first state and round
    started = time.monotonic()
    written = 0
    sampled = started
    try:
        while (now := time.monotonic()) - started < args.live:
            due = int((now - started) * args.rate)
            while written < due:
                next(feed)()
                written += 1
            if now - sampled >= 10:
                sampled = now
                print(
                    json.dumps(
                        {
                            "s": round(now - started),
                            "written": written,
                            "publisher_rss_mb": round(child_rss(), 1),
                        }
                    ),
                    flush=True,
                )
            time.sleep(0.01)
    finally:
        child.terminate()
        child.wait()


def run(slug: str, args: Any) -> None:
    if args.live:
        live(slug, args)
        return
    from secki.elections.models import Election
    from secki.ledger.models import LedgerEntry
    from secki.opendata import published, snapshots, transparency

    election = Election.objects.get(slug=slug)
    feed = corrections(slug)
    clock = [0.0]
    publisher = published.Publisher(slug, interval=0.5, clock=lambda: clock[0])
    pool = None if args.one_thread else ThreadPoolExecutor(1, thread_name_prefix="public-state")
    heartbeat = snapshots.Heartbeat().start()

    def states() -> None:
        if pool is None:
            publisher.step()
        else:
            pool.submit(publisher.step).result()

    def log_round() -> list[transparency.Published]:
        return transparency.publish_all([election], wait_for_state=True)

    print(f"{args.per_round} corrections a round")
    t = time.perf_counter()
    states()
    done = log_round()
    print(f"first state and log: {time.perf_counter() - t:.1f} s, {done[0].size} entries")
    if args.tracemalloc:
        tracemalloc.start(args.frames)
    base = None
    first_rss = rss_mb()
    rows = []
    for number in range(1, args.rounds + 1):
        t = time.perf_counter()
        for _ in range(args.per_round):
            next(feed)()
        writes = time.perf_counter() - t
        clock[0] += 1.0
        t = time.perf_counter()
        states()
        state_s = time.perf_counter() - t
        t = time.perf_counter()
        done = log_round()
        log_s = time.perf_counter() - t
        gc.collect()
        row: dict[str, Any] = {
            "round": number,
            "rss_mb": round(rss_mb(), 1),
            "log": done[0].size,
            "status": done[0].status,
            "writes_s": round(writes, 1),
            "state_s": round(state_s, 2),
            "log_s": round(log_s, 2),
            "releases": len(snapshots.releases(election)),
        }
        if args.tracemalloc:
            current, peak = tracemalloc.get_traced_memory()
            row["heap_mb"] = round(current / 2**20, 2)
            row["peak_mb"] = round(peak / 2**20, 2)  # the round's highest heap
            tracemalloc.reset_peak()
            if number == BASELINE:
                base = tracemalloc.take_snapshot()
        rows.append(row)
        print(json.dumps(row), flush=True)
    heartbeat.close()
    entries = LedgerEntry.objects.filter(election=election).count()
    grown = rows[-1]["rss_mb"] - rows[min(BASELINE, len(rows)) - 1]["rss_mb"]
    facts = args.per_round * (len(rows) - min(BASELINE, len(rows)))
    print(
        f"RSS {first_rss:.0f} → {rows[-1]['rss_mb']:.0f} MB; since round {BASELINE}: "
        f"{grown:+.1f} MB for {facts} facts ({1024 * 1024 * grown / max(facts, 1):.0f} "
        f"bytes a fact); {entries} entries in the log"
    )
    if args.tracemalloc and base is not None:
        heap = rows[-1]["heap_mb"] - rows[BASELINE - 1]["heap_mb"]
        print(
            f"heap since round {BASELINE}: {heap:+.2f} MB ({heap * 2**20 / max(facts, 1):.0f} "
            "bytes a fact); grew most:"
        )
        snap = tracemalloc.take_snapshot()
        for stat in snap.compare_to(base, "traceback")[:12]:
            print(f"  {stat.size_diff / 2**20:+.2f} MB {stat.count_diff:+} blocks")
            for frame in stat.traceback.format()[: 2 * args.frames]:
                print("     ", frame.strip())


if __name__ == "__main__":
    main()
