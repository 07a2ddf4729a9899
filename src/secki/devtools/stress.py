"""Run the test suite on a busy machine: `make test-stress`.

    python -m secki.devtools.stress [--sqlite N] [--postgres N] [--groupcommit N] [--load K]

CI runs on shared 2-core machines, so a test that passes only when the machine is quiet fails
submissions at random. This keeps K CPU hogs running (Debian's ``stress-ng --cpu K`` when it
is installed, otherwise K busy Python processes) while it runs, one after the other: the whole
suite on SQLite N times, the database tests on a throwaway PostgreSQL N times, and
``tests/test_groupcommit.py`` (the batching hand-off between threads, on SQLite then on
PostgreSQL) N times. Each run's output goes to ``var/stress/``; one line per run and a
summary are printed, and the exit status is non-zero if any run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SUMMARY = re.compile(r"^=*\s*(\d+ \w+(?:, \d+ \w+)*|no tests ran) in [\d.]+s", re.MULTILINE)


def _spin() -> None:  # pragma: no cover - runs in the hog processes
    while True:
        pass


@contextlib.contextmanager
def cpu_load(hogs: int) -> Iterator[str]:
    """Keep ``hogs`` CPU-bound processes running for the duration of the block."""
    if hogs <= 0:
        yield "no load"
        return
    stress_ng = shutil.which("stress-ng")
    if stress_ng:
        proc = subprocess.Popen(  # noqa: S603
            [stress_ng, "--cpu", str(hogs), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield f"stress-ng --cpu {hogs}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_spin, daemon=True) for _ in range(hogs)]
    for worker in workers:
        worker.start()
    try:
        yield f"{hogs} busy Python processes"
    finally:
        for worker in workers:
            worker.kill()
            worker.join()


def _run(name: str, command: list[str], log: Path) -> tuple[bool, str]:
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(  # noqa: S603
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    found = SUMMARY.findall(text)
    summary = found[-1] if found else "no pytest summary"
    failures = re.findall(r"^(?:FAILED|ERROR) .*$", text, flags=re.MULTILINE)
    line = f"{name}: {summary}, exit {code}, {elapsed:.0f} s"
    for failure in failures[:10]:
        line += f"\n    {failure}"
    return code == 0, line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", type=int, default=3, help="full SQLite runs")
    parser.add_argument("--postgres", type=int, default=3, help="PostgreSQL runs")
    parser.add_argument("--groupcommit", type=int, default=20, help="group-commit test runs")
    parser.add_argument("--load", type=int, default=4, help="CPU hogs beside the tests")
    args = parser.parse_args(argv)

    python = sys.executable
    pytest = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    postgres = [python, "-m", "secki.devtools.pgserver", "--"]
    groupcommit = [*pytest, "tests/test_groupcommit.py"]
    runs: list[tuple[str, list[str]]] = []
    runs += [(f"sqlite suite {i}/{args.sqlite}", pytest) for i in range(1, args.sqlite + 1)]
    runs += [
        (f"postgres suite {i}/{args.postgres}", [*postgres, *pytest, "-m", "database"])
        for i in range(1, args.postgres + 1)
    ]
    for i in range(1, args.groupcommit + 1):
        runs.append((f"groupcommit sqlite {i}/{args.groupcommit}", groupcommit))
        runs.append((f"groupcommit postgres {i}/{args.groupcommit}", [*postgres, *groupcommit]))

    logs = ROOT / "var" / "stress"
    logs.mkdir(parents=True, exist_ok=True)
    failed = 0
    with cpu_load(args.load) as load:
        print(f"stress: {len(runs)} runs under {load} on {os.cpu_count()} CPUs", flush=True)
        for index, (name, command) in enumerate(runs, start=1):
            slug = re.sub(r"\W+", "-", name).strip("-")
            ok, line = _run(name, command, logs / f"{index:03d}-{slug}.log")
            failed += not ok
            print(line, flush=True)
    print(f"stress: {len(runs)} runs, {len(runs) - failed} passed, {failed} failed; logs in {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
