"""The memory of a public server worker while states come out (issue 15), without a server.

    python bench/bench_worker_memory.py --dir DIR [--rounds 30] [--per-round 200]
        [--stations-read 60] [--threads 1] [--tracemalloc]

``DIR`` holds an election made by ``secki simulate --out DIR/b`` and imported with
``secki import DIR/b`` into ``DIR/var`` (``SECKI_VAR_DIR``), its ``protocols.csv`` moved to
``DIR/protocols.csv`` beforehand so that the import leaves every station uncounted:

    secki simulate --quiet --out DIR/b --stations 6537
    mv DIR/b/protocols.csv DIR/b/turnout.csv DIR/
    SECKI_VAR_DIR=DIR/var secki import DIR/b

This process submits the protocols in rounds (``--per-round`` each) and runs a
:class:`~secki.opendata.published.Publisher` step after each round, as ``secki publish``
would. A second process, the reader, stands for a server worker: after every round it reads,
as an anonymous citizen through the open-data front (``secki.opendata.wsgi``, which keeps
answers) and Django, the national page, the national results JSON, a constituency page and
``--stations-read`` random station pages (with ``--threads`` threads, as a Granian worker's
blocking threads: with ``MALLOC_ARENA_MAX`` unset glibc gives threads arenas of their own),
and renders the pages the page refresher would
(:class:`secki.opendata.refresh.Refresher`). It prints its RSS and the size of each of its
caches after every round (``--tracemalloc``: also the Python heap and, at the end, the
lines that grew most since the first round; ``MEMORY_REFERRERS=1`` in the environment: what
refers to the oldest state still alive). The figures are of this machine; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import io
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("SECKI_DEVELOPMENT", "1")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def deep_size(root: object) -> int:
    """Bytes of ``root`` and everything it refers to (classes and modules left out)."""
    seen: set[int] = set()
    todo = [root]
    total = 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type) or type(obj).__name__ == "module":
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo.extend(obj)
        elif hasattr(obj, "__dict__"):
            todo.append(obj.__dict__)
        elif hasattr(obj, "__slots__"):
            todo.extend(getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s))
    return total


def held_by(obj: object, ignore: list[Any]) -> list[str]:
    """What refers to ``obj`` (debugging: two levels up)."""
    skip = {id(ignore)}
    kinds = [type(r).__name__ for r in gc.get_referrers(obj)]
    out = [f"refcount {sys.getrefcount(obj)} referrers {kinds}"]
    for ref in gc.get_referrers(obj):
        if id(ref) in skip:
            continue
        if type(ref).__name__ == "frame":
            out.append(f"frame {ref.f_code.co_name} {ref.f_code.co_filename}:{ref.f_lineno}")
            continue
        ups = [type(r).__name__ + ":" + repr(r)[:80] for r in gc.get_referrers(ref)[:4]]
        out.append(f"{type(ref).__name__} {repr(ref)[:100]} <- {ups}")
    return out[:6]


def environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT_ENCODING": "gzip",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


def reader(slug: str, stations_read: int, threads: int, trace: bool) -> None:
    """The worker's side: one round of reads per line on stdin, one JSON line out each."""
    import tracemalloc

    if trace:
        tracemalloc.start(1)
    import django

    django.setup()
    from secki.elections.models import Station, Unit
    from secki.opendata import published, refresh
    from secki.opendata import wsgi as front
    from secki.portal import http, stationpage

    codes = list(
        Station.objects.filter(election__slug=slug).values_list("code", flat=True).order_by("id")
    )
    units = list(
        Unit.objects.filter(election__slug=slug, stations__isnull=False)
        .values_list("code", flat=True)
        .distinct()
    )
    rng = random.Random(15)
    refresher = refresh.Refresher(front.render_station_page)
    first = None
    statuses: dict[str, int] = {}
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def get(path: str) -> None:
        got: list[str] = []
        body = b"".join(front.application(environ(path), lambda s, h, e=None: got.append(s)))
        statuses[got[0][:3]] = statuses.get(got[0][:3], 0) + 1
        del body

    for line in sys.stdin:
        if not line.strip():
            break
        t = time.perf_counter()
        get(f"/e/{slug}/")
        get(f"/api/v1/elections/{slug}/results")
        get(f"/e/{slug}/u/{rng.choice(units)}/")
        paths = [f"/e/{slug}/s/{c}/" for c in rng.sample(codes, min(stations_read, len(codes)))]
        if pool is None:
            for path in paths:
                get(path)
        else:  # as a server worker's threads do (glibc gives threads arenas of their own)
            list(pool.map(get, paths))
        rendered = refresher.once()
        reads = time.perf_counter() - t
        gc.collect()
        states = [o for o in gc.get_objects() if isinstance(o, published.State)]
        cache: Any = published._part_cache
        if isinstance(cache, dict):  # before issue 15's bound: path → part
            parts, files = list(cache.values()), sum(p.stat().st_size for p in cache if p.exists())
        else:
            parts, files = [p for _, p in cache.items.values()], cache.size
        out: dict[str, Any] = {
            "rss": round(rss_mb(), 1),
            "reads_s": round(reads, 2),
            "refreshed": rendered,
            "states_alive": len(states),
            "parts": len(parts),
            "parts_mb": round(deep_size(parts) / 2**20, 1),
            "parts_file_mb": round(files / 2**20, 1),
            "kept": len(front.kept.items),
            "kept_mb": round(front.kept.size / 2**20, 1),
            "pages": len(http.pages._items),
            "pages_mb": round(sum(len(v[1]) for v in http.pages._items.values()) / 2**20, 1),
            "states_mb": round(deep_size(states) / 2**20, 1),
            "made": len(stationpage._made),
            "layouts": len(stationpage._layouts),
            "statuses": dict(statuses),
        }
        if trace:
            current, _peak = tracemalloc.get_traced_memory()
            out["heap_mb"] = round(current / 2**20, 1)
            snap = tracemalloc.take_snapshot()
            if first is None:
                first = snap
            else:
                top = snap.compare_to(first, "lineno")[:8]
                out["grew"] = [f"{s.traceback[0]} {s.size_diff / 2**20:+.1f} MB" for s in top]
        if os.environ.get("MEMORY_REFERRERS") and len(states) > 1:
            oldest: Any = min(states, key=lambda s: s.version)
            out["held_by"] = held_by(oldest, states)
        del states, parts  # not kept to the next round's count
        oldest = None
        statuses.clear()
        print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--stations-read", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="the reader's threads")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--reader-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.dir.resolve()
    os.environ["SECKI_VAR_DIR"] = str(root / "var")
    os.environ["DJANGO_SETTINGS_MODULE"] = "secki.settings"
    if args.reader_of:
        reader(args.reader_of, args.stations_read, args.threads, args.tracemalloc)
        return
    slug = str(json.loads((root / "b" / "election.json").read_text())["slug"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from secki.elections.models import Election, Station
    from secki.opendata import published, snapshots
    from secki.protocols.actions import submit_protocol
    from secki.protocols.data import ProtocolData

    rows = list(csv.DictReader((root / "protocols.csv").open(encoding="utf-8")))
    random.Random(15).shuffle(rows)
    user = get_user_model()
    admin = user.objects.filter(username="memory").first() or user.objects.create_superuser(
        "memory", password=None
    )
    election = Election.objects.get(slug=slug)
    by_code = {s.code: s for s in Station.objects.filter(election=election)}
    done = set(election.protocols.values_list("station__code", flat=True))
    rows = [r for r in rows if r["station"] not in done]
    clock = [0.0]
    publisher = published.Publisher(slug, clock=lambda: clock[0])
    command = [sys.executable, __file__, "--dir", str(root), "--reader-of", slug]
    command += ["--stations-read", str(args.stations_read), "--threads", str(args.threads)]
    if args.tracemalloc:
        command.append("--tracemalloc")
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    print(f"{len(by_code)} stations, {len(rows)} protocols to submit, {args.per_round} a round")
    # as a server starts beside a publisher whose first state is not out yet (its heartbeat
    # beats): the worker's first reads find no state file
    heartbeat = snapshots.Heartbeat().start()  # as ``secki publish --watch`` beats
    child.stdin.write("round\n")
    child.stdin.flush()
    print("before the first state: reader", child.stdout.readline().strip(), flush=True)
    publisher.step()
    it = iter(rows)
    for number in range(args.rounds):
        t = time.perf_counter()
        for row in (r for _, r in zip(range(args.per_round), it, strict=False)):
            counts = {k: int(v) for k, v in row.items() if k[0] == "L" and k != "L17" and v}
            cands = tuple(int(row[k]) for k in row if k.startswith("C"))
            data = ProtocolData(counts, {"L17": dt.datetime.fromisoformat(row["L17"])}, cands)
            submit_protocol(election, by_code[row["station"]], data, actor=admin, source="api")
        clock[0] += 1.0
        publisher.step()
        writes = time.perf_counter() - t
        child.stdin.write("round\n")
        child.stdin.flush()
        figures = json.loads(child.stdout.readline())
        grew = figures.pop("grew", None)
        print(f"round {number + 1:3} writes {writes:5.1f} s publisher {rss_mb():6.0f} MB", end=" ")
        print("reader", json.dumps(figures), flush=True)
        if grew and number + 1 == args.rounds:
            print("grew most since the first round:", *grew, sep="\n  ")
    child.stdin.write("\n")
    child.stdin.close()
    child.wait()
    heartbeat.close()


if __name__ == "__main__":
    main()
