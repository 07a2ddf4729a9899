"""Run every benchmark in bench/ (``make bench``); each prints its own figures and ratios.

python bench/run_all.py [--quick]   # --quick is passed to benchmarks that accept it
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = []
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        args = [sys.executable, str(script)]
        if quick and "--quick" in script.read_text():
            args.append("--quick")
        if subprocess.run(args, check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
