"""Benchmark the render of a public station page from the published state (issue 15).

    python bench/bench_station_page.py [--stations 500] [--pages 300] [--profile]

On a fresh database in a temporary directory (the embedded SQLite file, or the PostgreSQL
server of ``DATABASE_URL``, e.g. under ``python -m secki.devtools.pgserver --``) it simulates
and imports an election (every protocol published, turnout reports included), runs one step
of the publisher so that a published state exists (its state file and parts, as
``secki publish --watch`` writes them), then renders ``--pages`` random public station pages
(``/e/<slug>/s/<code>/``, anonymous, through Django's test client, each page once so that
every request renders; at most the election's stations less 20 warming ones) and prints the
milliseconds per render (mean, p50, p99, wall and CPU of this process) and the SQL
statements per render (Django's and, on PostgreSQL, those of ``secki.rawsql``'s own cursor).
``--profile`` adds cProfile's 40 most expensive functions by cumulative time and 25 by own
time (and writes its stats to ``$BENCH_PROFILE_FILE`` when set).

Every render is what nginx sends to the app after a write removed a station's file
(``secki.opendata.stationpages``): at 300 writes/s its cost bounds the night. The figures are
of this machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import secki


def prepare(root: Path, stations: int) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "SECKI_VAR_DIR": str(root / "var"),
        "DJANGO_SETTINGS_MODULE": "secki.settings",
    }
    bundle = root / "bundle"
    secki(env, "simulate", "--quiet", "--out", str(bundle), "--stations", str(stations))
    secki(env, "import", str(bundle))
    slug = str(json.loads((bundle / "election.json").read_text(encoding="utf-8"))["slug"])
    return env, slug


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Counting:
    """A cursor of :func:`secki.rawsql.cursor` that counts the statements it sends."""

    def __init__(self, cursor: Any, sent: list[str]) -> None:
        self._cursor = cursor
        self._sent = sent

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._sent.append(sql)
        return self._cursor.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def count_raw_statements(sent: list[str]) -> None:
    """Count what :mod:`secki.rawsql` sends: on PostgreSQL its own psycopg cursor, which
    Django's query capture does not see (on SQLite it is Django's cursor, captured)."""
    from secki import rawsql

    real = rawsql.cursor

    @contextlib.contextmanager
    def cursor() -> Iterator[Any]:
        with real() as raw:
            yield Counting(raw, sent)

    rawsql.cursor = cursor  # type: ignore[assignment]


def measure(slug: str, pages: int, seed: int, profile: bool) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from secki.elections.models import Station
    from secki.opendata import published, snapshots

    publisher = published.Publisher(slug, open_data=False)
    publisher.step()
    state = published.read(slug)
    assert state is not None and state.parts is not None, "no published state"
    codes = list(Station.objects.filter(election__slug=slug).values_list("code", flat=True))
    # each page once: the process's page cache would answer a second request without a render
    # (emptying it would also drop the state read from its file)
    warm = 20
    chosen = random.Random(seed).sample(codes, min(len(codes), pages + warm))
    client = Client()
    raw: list[str] = []
    if connection.vendor == "postgresql":
        count_raw_statements(raw)

    def render(code: str) -> None:
        response = client.get(f"/e/{slug}/s/{code}/", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200, (code, response.status_code)

    for code in chosen[:warm]:  # warm: templates compiled, parts loaded, connection open
        render(code)
    chosen = chosen[warm:]
    pages = len(chosen)
    wall: list[float] = []
    cpu: list[float] = []
    queries: list[int] = []
    profiler = cProfile.Profile() if profile else None
    for number, code in enumerate(chosen):
        if number % 50 == 0:
            snapshots.beat()  # the publisher "runs": pages come from its state file
        raw.clear()
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            render(code)
            if profiler is not None:
                profiler.disable()
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        queries.append(len(captured.captured_queries) + len(raw))
    vendor = connection.vendor
    print(
        f"station page renders ({vendor}, {len(codes):,} stations, {pages} pages, "
        f"anonymous, from the published state, test client):"
    )
    for label, values in (("wall", wall), ("cpu", cpu)):
        print(
            f"  {label}: mean {statistics.mean(values):.2f} ms, "
            f"p50 {percentile(values, 0.5):.2f} ms, p99 {percentile(values, 0.99):.2f} ms"
        )
    print(
        f"  queries per render: mean {statistics.mean(queries):.2f}, "
        f"min {min(queries)}, max {max(queries)}"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        if os.environ.get("BENCH_PROFILE_FILE"):
            stats.dump_stats(os.environ["BENCH_PROFILE_FILE"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="print cProfile's figures")
    parser.add_argument("--keep", type=Path, help="use (and keep) this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="secki-station-page-") as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        marker = root / "slug"
        if marker.exists():
            slug = marker.read_text()
            os.environ.update(SECKI_VAR_DIR=str(root / "var"))
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
        else:
            env, slug = prepare(root, args.stations)
            os.environ.update(env)
            if args.keep:
                marker.write_text(slug)
        measure(slug, args.pages, args.seed, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
