"""Benchmark the NIST SP 1500-100 v2 export of the default simulated election, and check it.

    python bench/bench_nist.py [--stations N]

On a fresh SQLite database in a temporary directory it simulates and imports the default
election (6,537 stations, every protocol published; the real commands in child processes, not
timed), then writes its release (``secki.opendata.snapshots.make_release``, the NIST file and
everything else) and times that and the NIST export alone. The file is then validated: against
the official schema, every id it refers to exists and every count adds up
(``check_report`` of tests/portal/test_nist.py, which runs the same checks on a 60-station
election). Its element types, properties and enumerated values are compared with
``FULL_EXPORT_SHAPES`` there, the list the small election of the test must cover.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATIONS = 6_537


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=DEFAULT_STATIONS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="secki-bench-") as tmp:
        root = Path(tmp)
        os.environ["SECKI_VAR_DIR"] = str(root / "var")
        os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
        os.environ.setdefault("SECKI_DEVELOPMENT", "1")  # a throwaway key in the throwaway var
        secki = [sys.executable, "-m", "secki.cli"]
        bundle = str(root / "in")
        stations = str(args.stations)
        subprocess.run([*secki, "simulate", "--quiet", "--out", bundle, "--stations", stations],
                       check=True)  # fmt: skip
        subprocess.run([*secki, "import", bundle], check=True, capture_output=True)
        return report(args.stations)


def report(stations: int) -> int:
    import django

    django.setup()
    sys.path.insert(0, str(ROOT))
    from tests.portal.test_nist import FULL_EXPORT_SHAPES, check_report, shapes

    from secki.elections.models import Election
    from secki.opendata import snapshots
    from secki.opendata.collect import collect
    from secki.opendata.nist_export import export_nist

    election = Election.objects.get()
    start = time.perf_counter()
    release = snapshots.make_release(election)
    released = time.perf_counter() - start
    start = time.perf_counter()
    export_nist(collect(election))
    exported = time.perf_counter() - start
    packed = (release / "nist.json.gz").read_bytes()
    text = gzip.decompress(packed)
    nist = json.loads(text)
    start = time.perf_counter()
    check_report(nist, election)  # raises AssertionError on the first problem
    checked = time.perf_counter() - start
    print(
        f"NIST export of {stations:,} stations: {exported:.2f} s (collect + export_nist); "
        f"whole release {released:.2f} s; nist.json {len(text) / 1e6:.1f} MB, "
        f"{len(packed) / 1e6:.1f} MB gzipped"
    )
    print(f"valid: yes (schema, ids, sums; checked in {checked:.1f} s)")
    found = shapes(nist)
    if found == FULL_EXPORT_SHAPES:
        print(
            "element types, properties, values: as FULL_EXPORT_SHAPES in tests/portal/test_nist.py"
        )
        return 0
    for kind in sorted(found.keys() | FULL_EXPORT_SHAPES.keys()):
        new = sorted(found.get(kind, set()) - FULL_EXPORT_SHAPES.get(kind, set()))
        gone = sorted(FULL_EXPORT_SHAPES.get(kind, set()) - found.get(kind, set()))
        if new or gone:
            print(f"  {kind}: emitted but not listed {new}; listed but not emitted {gone}")
    print("element types, properties, values: DIFFER from FULL_EXPORT_SHAPES (see above)")
    # other sizes may lack a part (under 11 constituencies there is no region)
    return 1 if stations == DEFAULT_STATIONS else 0


if __name__ == "__main__":
    sys.exit(main())
