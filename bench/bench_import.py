"""Benchmark ``secki import`` of the default simulated election on the embedded SQLite database.

    python bench/bench_import.py [--stations N]

Target: the default election (6,537 stations, 32,500 turnout reports, 6,537 protocols with
every line) in < 20 s. The import runs as the real command in a child process on a fresh
SQLite file (migrations applied first and not timed), then the result is checked by exporting
it again and comparing the files byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--stations", type=int, default=6_537)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="secki-bench-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "SECKI_VAR_DIR": str(root / "var")}
        env.setdefault("SECKI_DEVELOPMENT", "1")  # a throwaway key in the throwaway var dir
        env.pop("DATABASE_URL", None)
        secki = [sys.executable, "-m", "secki.cli"]
        subprocess.run(
            [
                *secki,
                "simulate",
                "--quiet",
                "--out",
                str(root / "in"),
                "--stations",
                str(args.stations),
            ],
            check=True,
            env=env,
        )
        subprocess.run([*secki, "manage", "migrate", "-v", "0"], check=True, env=env)
        start = time.perf_counter()
        subprocess.run(
            [*secki, "import", "--no-migrate", str(root / "in")],
            check=True,
            env=env,
            capture_output=True,
        )
        elapsed = time.perf_counter() - start
        subprocess.run(
            [*secki, "export", str(root / "out")], check=True, env=env, capture_output=True
        )
        same = all(
            filecmp.cmp(root / "in" / name, root / "out" / name, shallow=False)
            for name in (
                "election.json",
                "units.csv",
                "stations.csv",
                "candidates.csv",
                "turnout.csv",
                "protocols.csv",
            )
        )
    print(
        f"import {args.stations:,} stations on SQLite: {elapsed:.2f} s "
        f"(target < {TARGET_S:.0f} s, {elapsed / TARGET_S:.2f}x target); "
        f"export round-trip {'identical' if same else 'DIFFERS'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
