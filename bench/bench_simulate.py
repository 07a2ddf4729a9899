"""Benchmark ``secki simulate``: time and peak memory against the targets.

    python bench/bench_simulate.py [--quick]

Targets: the default election (6,537 stations) in < 2 s; 1,000,000 stations in < 60 s with a
peak resident set size < 4 GB. Each run is the real command (``python -m secki.cli simulate``)
in a child process, so the time includes interpreter start-up and every file written, and the
peak RSS is the child's (``resource.getrusage(RUSAGE_CHILDREN)``). The default size is timed
three times (best shown). ``--quick`` replaces the 1,000,000-station run by 100,000 stations
and extrapolates the time linearly (marked "extrapolated").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_STATIONS = 6_537
LARGE_STATIONS = 1_000_000
QUICK_STATIONS = 100_000
TARGET_DEFAULT_S = 2.0
TARGET_LARGE_S = 60.0
TARGET_LARGE_RSS_GB = 4.0


def run_child(stations: int, out: Path) -> tuple[float, float]:
    """Run the CLI in a fresh process; returns (wall seconds, peak RSS in GB of that child).

    ``ru_maxrss`` of RUSAGE_CHILDREN is the maximum over all waited-for children, so every
    measurement runs in its own intermediate process that reports its child's figure."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "elapsed = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(elapsed, rss)\n"
    )
    command = [
        sys.executable, "-c", probe,
        sys.executable, "-m", "secki.cli", "simulate", "--quiet",
        "--out", str(out), "--stations", str(stations),
    ]  # fmt: skip
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    elapsed, rss_kb = result.stdout.split()
    return float(elapsed), int(rss_kb) * 1024 / 1e9


def line(label: str, value: float, unit: str, target: float, note: str = "") -> str:
    ratio = value / target
    suffix = f", {note}" if note else ""
    return f"{label}: {value:.2f} {unit} (target < {target:g} {unit}, {ratio:.2f}x target{suffix})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="100,000 instead of 1,000,000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="secki-bench-") as tmp:
        out = Path(tmp) / "bundle"
        times = []
        for _ in range(3):
            elapsed, rss = run_child(DEFAULT_STATIONS, out)
            times.append(elapsed)
        best = min(times)
        print(
            line(f"simulate {DEFAULT_STATIONS} stations", best, "s", TARGET_DEFAULT_S), flush=True
        )
        print(f"simulate {DEFAULT_STATIONS} stations peak RSS: {rss:.2f} GB", flush=True)
        if args.quick:
            elapsed, rss = run_child(QUICK_STATIONS, out)
            print(line(f"simulate {QUICK_STATIONS} stations", elapsed, "s", TARGET_LARGE_S))
            scaled = elapsed * LARGE_STATIONS / QUICK_STATIONS
            print(line(f"simulate {LARGE_STATIONS} stations", scaled, "s", TARGET_LARGE_S,
                       "extrapolated"))  # fmt: skip
            print(f"simulate {QUICK_STATIONS} stations peak RSS: {rss:.2f} GB")
        else:
            elapsed, rss = run_child(LARGE_STATIONS, out)
            print(line(f"simulate {LARGE_STATIONS} stations", elapsed, "s", TARGET_LARGE_S))
            print(line(f"simulate {LARGE_STATIONS} stations peak RSS", rss, "GB",
                       TARGET_LARGE_RSS_GB))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
