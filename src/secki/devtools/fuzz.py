"""`make fuzz`: schemathesis against the production server, anonymously and with a token.

    python -m secki.devtools.fuzz [--database sqlite|postgres] [--examples N] [--seed S]

In a scratch ``SECKI_VAR_DIR`` it simulates a small election and imports it (half the
stations without their protocol and without turnout reports, so that writes can succeed as
well as be refused), creates a superuser with an API token and a PVT sample, starts the
production server (Granian, :mod:`secki.server`; on PostgreSQL a throwaway server from
:mod:`secki.devtools.pgserver`) and runs ``schemathesis run`` against ``/api/v1/openapi.json``
twice: without credentials and with ``Authorization: Bearer <token>``. The seed is fixed and
the number of examples per operation is bounded, so a run is reproducible and takes a few
minutes.

Checks: all of schemathesis's (``--checks all``). What each demands of the API:

* ``not_a_server_error``: no 5xx;
* ``status_code_conformance``, ``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``: every answer is
  documented in the OpenAPI description, with its status, media type and exact body schema;
* ``negative_data_rejection``: a request that breaks the schema is refused (4xx): the
  server is at least as strict as its schema;
* ``positive_data_acceptance``: a request that fits the schema is not refused as malformed.
  Its accepted statuses are the defaults plus ``422`` and ``415``: a well-formed request can
  still be refused for what it means (a station that does not exist, a protocol whose control
  relations fail, a file whose bytes are not a PDF/PNG/JPEG), which no JSON Schema can say;
  ``400`` stays a failure, so every ``400`` the API answers must be one its schema predicts;
* ``unsupported_method``, ``allow_header_conformance``, ``missing_required_header``,
  ``ignored_auth``, ``use_after_free``, ``ensure_resource_availability``,
  ``object_level_authorization``: hold trivially or by construction (no DELETE, no declared
  security scheme); they cost nothing and guard future operations.

None assumes idempotency: the writes really write, in the scratch election.

The number of requests is read from the server's access log (every request the server
answered, those of schemathesis's own checks included); the run fails when there is a server
error, a failed check, a schemathesis error, or fewer requests than ``--min-requests``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from secki.devtools.pgserver import PostgresUnavailable, throwaway_postgres
from secki.env import env_bool
from secki.server import free_port, server_command, wait_answering

SLUG = "az-2024-simulated"
STATIONS, CONSTITUENCIES, CANDIDATES = 40, 4, 3

#: run in ``secki manage shell``: the superuser, its token (printed last), a PVT sample
SETUP = """
from django.contrib.auth import get_user_model
from secki.accounts.models import ApiToken
from secki.elections.models import Election
from secki.integrity import actions
user = get_user_model().objects.create_superuser("fuzz", "fuzz@example.org", None)
election = Election.objects.get(slug=%(slug)r)
actions.register_sample(election, actor=user, group="Fuzz observers", contact="fuzz@example.org",
                        method="seed", seed="fuzz", size=8)
print(ApiToken.issue(user, "fuzz")[1])
"""

#: the access log line of one request: ``STATUS METHOD PATH``
ACCESS_FORMAT = "%(status)d %(method)s %(path)s"
ACCESS_LINE = re.compile(r"^(\d{3}) [A-Z]+ (/\S*)$")

#: statuses a schema-valid request may get (see the module's docstring)
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "415", "422", "429"]


@dataclass
class FuzzRun:
    """One schemathesis run."""

    label: str
    test_cases: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0


def secki(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "secki.cli", *args],
        env=env,
        check=False,
        text=True,
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"secki {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def prepare(env: dict[str, str], root: Path) -> tuple[str, dict[str, list[str]]]:
    """Simulate and import the election; the token and the values schemathesis should use
    for path and body parameters most of the time (real slugs, stations, units, times)."""
    sim = root / "sim"
    secki(
        env,
        "simulate",
        "--quiet",
        "--out",
        str(sim),
        "--stations",
        str(STATIONS),
        "--constituencies",
        str(CONSTITUENCIES),
        "--candidates",
        str(CANDIDATES),
        "--seed",
        "12",
    )
    with (sim / "stations.csv").open(newline="") as handle:
        stations = [row["code"] for row in csv.DictReader(handle)]
    with (sim / "units.csv").open(newline="") as handle:
        units = [row["code"] for row in csv.DictReader(handle)]
    reported = set(stations[: len(stations) // 2])
    for name in ("protocols.csv", "turnout.csv"):
        path = sim / name
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        with path.open("w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(
                [rows[0], *(r for r in rows[1:] if r[0] in reported)]
            )
    times = json.loads((sim / "election.json").read_text())["turnout_times"]
    secki(env, "import", str(sim))
    token = secki(env, "manage", "shell", "-c", SETUP % {"slug": SLUG}).strip().splitlines()[-1]
    return token, {"slugs": [SLUG], "stations": stations, "units": units, "times": times}


def config(values: dict[str, list[str]], examples: int) -> str:
    """schemathesis.toml: real identifiers most of the time, random ones otherwise."""
    lines = [f"generation.max-examples = {examples}", "generation.database = 'none'", ""]
    for name, items in values.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(items)}", ""]
    lines += [
        "[parameters]",
        '"path.slug" = { dictionary = "slugs", probability = 0.9 }',
        '"path.station" = { dictionary = "stations", probability = 0.8 }',
        '"path.code" = { dictionary = "stations", probability = 0.5 }',
        '"query.unit" = { dictionary = "units", probability = 0.5 }',
        '"query.time" = { dictionary = "times", probability = 0.5 }',
        '"body.station" = { dictionary = "stations", probability = 0.7 }',
        '"body.time" = { dictionary = "times", probability = 0.7 }',
        "",
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps(POSITIVE_STATUSES)}",
        "",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[int]:
    """The production server on a loopback port, its access log written to ``log``."""
    port = free_port()
    env = {
        **env,
        "GRANIAN_LOG_ACCESS_ENABLED": "true",
        "GRANIAN_LOG_ACCESS_FMT": ACCESS_FORMAT,
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            server_command("127.0.0.1", port, workers=1, threads=4),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_answering(port, proc, path="/api/v1/openapi.json")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def schemathesis(
    env: dict[str, str], root: Path, port: int, label: str, seed: int, token: str | None
) -> FuzzRun:
    """One ``schemathesis run``; its JSON report read back."""
    report = root / f"report-{label}.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(root / "schemathesis.toml"),
        "run",
        f"http://127.0.0.1:{port}/api/v1/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--request-timeout",
        "30",
    ]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    print(f"fuzz: schemathesis, {label}", flush=True)
    done = subprocess.run(command, env=env, check=False, cwd=root)  # noqa: S603
    outcome = FuzzRun(label, exit_code=done.returncode)
    if report.exists():
        document = json.loads(report.read_text())
        outcome.test_cases = int(document["test_cases"]["generated"])
        outcome.failures = {
            f"{f['code']} {f['title']}": int(f["count"]) for f in document["failures"]
        }
        outcome.errors = {e["title"]: int(e["count"]) for e in document["errors"]}
    else:
        outcome.errors = {"no report written": 1}
    return outcome


def access_counts(log: Path) -> tuple[int, Counter[int]]:
    """Requests to the API the server answered, and their statuses."""
    statuses: Counter[int] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        match = ACCESS_LINE.match(line.strip())
        if match and match.group(2).startswith("/api/"):
            statuses[int(match.group(1))] += 1
    return sum(statuses.values()), statuses


def run(database: str, examples: int, seed: int, min_requests: int, keep: Path | None) -> int:
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        root = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="secki-fuzz-")))
        root.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "SECKI_SQLITE_PATH", "SECKI_DEBUG"}
        }
        env.update(
            SECKI_VAR_DIR=str(root / "var"),
            SECKI_SECRET_KEY=secrets.token_urlsafe(50),
            SECKI_INTEGRITY_BACKGROUND="0",
            PYTHONUNBUFFERED="1",
        )
        if database == "postgres":
            env["DATABASE_URL"] = stack.enter_context(throwaway_postgres())
        token, values = prepare(env, root)
        (root / "schemathesis.toml").write_text(config(values, examples))
        log = root / "server.log"
        outcomes = []
        with server(env, log) as port:
            for label, credentials in (("anonymous", None), ("token", token)):
                outcomes.append(schemathesis(env, root, port, label, seed, credentials))
        requests, statuses = access_counts(log)
        server_errors = sum(n for status, n in statuses.items() if status >= 500)
        tracebacks = log.read_text(errors="replace").count("Traceback (most recent call last)")
    failures = sum(sum(o.failures.values()) for o in outcomes)
    errors = sum(sum(o.errors.values()) for o in outcomes)
    print(f"\nfuzz on {database}: schemathesis {schemathesis_version()}, seed {seed}, ")
    for o in outcomes:
        detail = ", ".join(f"{k}: {n}" for k, n in {**o.failures, **o.errors}.items()) or "none"
        print(f"  {o.label}: {o.test_cases:,} test cases; failures and errors: {detail}")
    print(
        f"  requests answered by the server: {requests:,} (at least {min_requests:,} needed); "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    print(
        f"  server errors: {server_errors}; conformance failures: {failures}; schemathesis "
        f"errors: {errors}; tracebacks in the server log: {tracebacks}; "
        f"wall time {time.monotonic() - started:.0f} s"
    )
    ok = (
        server_errors == 0
        and failures == 0
        and errors == 0
        and tracebacks == 0
        and requests >= min_requests
        and all(o.exit_code == 0 for o in outcomes)
    )
    print(f"fuzz on {database}: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


def schemathesis_version() -> str:
    from importlib.metadata import version

    return version("schemathesis")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m secki.devtools.fuzz", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--examples", type=int, default=150, help="fuzzing examples per operation and run"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--min-requests", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    try:
        return run(args.database, args.examples, args.seed, args.min_requests, args.keep)
    except PostgresUnavailable as exc:
        if env_bool("SECKI_REQUIRE_POSTGRES", False):
            print(f"FAILED: PostgreSQL is required (SECKI_REQUIRE_POSTGRES=1): {exc}")
            return 1
        print(f"SKIPPED: fuzz on PostgreSQL not run: {exc}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
