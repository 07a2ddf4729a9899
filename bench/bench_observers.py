"""Benchmark the contradiction table: observers' copies of every station against the official
protocols (issue 17 target: 6,537 stations compared in <= 2 s).

    python bench/bench_observers.py [--stations N] [--rounds R]

A fresh SQLite database in a temporary directory (in this process) is migrated; the default
simulated election with fraud injected is imported with its protocols (published); two
accredited organisations upload copies through the real action: the first the true (clean)
numbers of every station, the second of every third station. Then the public table (published
protocols) is computed R times uncached (``compare.compute``), the cached ``compare.compare``
once, and the JSON and CSV exports once each; the median (wall and process CPU time), the
ratio to the target and the marks found are printed, with a check that the flagged stations
are exactly the altered ones.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET = 2.0  # seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=6537)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-observers-"))
    os.environ["SECKI_VAR_DIR"] = str(root / "var")
    os.environ.setdefault("SECKI_DEVELOPMENT", "1")
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "secki.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from secki.bundle.read import read_bundle
    from secki.intake.bundle_io import import_bundle
    from secki.observers import actions, compare
    from secki.simulator import SimulationConfig, parse_fraud, simulate, write_bundle

    def step(text: str) -> None:
        print(f"  … {text}", file=sys.stderr, flush=True)

    step("migrating a fresh SQLite database")
    call_command("migrate", verbosity=0)
    step(f"simulating and importing {args.stations:,} stations with fraud")
    sim = simulate(
        SimulationConfig(
            stations=args.stations,
            seed=17,
            fraud=parse_fraud("stuffing:fi=0.1,fe=0.02;integer:share=0.05"),
        )
    )
    write_bundle(sim, root / "bundle")
    election = import_bundle(read_bundle(root / "bundle"))
    codes = sim.station_codes()
    lines = actions.copy_lines(election)

    def rows(indexes: range) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["station", *[c for c, _r in lines]])
        for i in indexes:
            row: list[object] = [codes[i]]
            for code, _r in lines:
                if code in sim.clean.lines:
                    row.append(int(sim.clean.lines[code][i]))
                elif code.startswith("C"):
                    row.append(int(sim.clean.votes[i, int(code[1:]) - 1]))
                else:
                    row.append("")
            writer.writerow(row)
        return out.getvalue().encode()

    pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
    today = dt.datetime.now(dt.UTC).date()
    upload_seconds = []
    for name, indexes in (("Alpha", range(len(codes))), ("Beta", range(0, len(codes), 3))):
        step(f"organisation {name}: {len(indexes):,} copies")
        user = get_user_model().objects.create_user(username=f"rep-{name}")
        app = actions.apply(
            election,
            actor=user,
            name=name,
            kind="domestic",
            contact="c",
            observers="1",
            documents=[SimpleUploadedFile("c.pdf", pdf)],
        )
        actions.accept(
            app,
            actor=None,
            valid_from=today.isoformat(),
            valid_until=today.isoformat(),
            names="Observer",
        )
        started = time.perf_counter()
        actions.upload_copies(election, app.organisation, rows(indexes), actor=user)
        upload_seconds.append((name, len(indexes), time.perf_counter() - started))

    times = []
    cpu = []
    result = None
    for _ in range(args.rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = compare.compute(election, public=True)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    assert result is not None
    compare.compare(election, public=True)
    started = time.perf_counter()
    compare.compare(election, public=True)
    t_cached = time.perf_counter() - started
    started = time.perf_counter()
    compare.as_json(result)
    t_json = time.perf_counter() - started
    started = time.perf_counter()
    compare.as_csv(result)
    t_csv = time.perf_counter() - started

    altered = {codes[i] for i in range(len(codes)) if bool(sim.truth.touched[i])}
    flagged = {s.station.code for s in result.stations if s.flagged}
    median = statistics.median(times)
    load = os.getloadavg()[0]
    print(
        f"# {args.stations:,} stations on SQLite, {os.cpu_count()} CPUs, {args.rounds} rounds, "
        f"load average {load:.1f}"
    )
    for name, n, seconds in upload_seconds:
        print(f"upload of {n:,} copies by {name}: {seconds:.2f} s ({n / seconds:,.0f} rows/s)")
    print(
        f"contradiction table of {len(result.stations):,} stations: median {median:.3f} s, "
        f"max {max(times):.3f} s (target <= {TARGET:.0f} s; {median / TARGET:.2f}x target)"
    )
    print(
        f"  CPU time of this process per table: median {statistics.median(cpu):.3f} s "
        f"({statistics.median(cpu) / TARGET:.2f}x target)"
    )
    print(f"  the same table again (cached until the ledger head moves): {t_cached * 1000:.1f} ms")
    print(f"JSON export {t_json:.3f} s, CSV export {t_csv:.3f} s")
    print(f"marks: {result.counts()}")
    print(f"flagged = altered stations: {flagged == altered} ({len(altered):,} altered)")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if flagged == altered and median <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
