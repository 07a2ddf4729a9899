"""The in-browser inclusion check of one station (issue 14 target: <= 300 ms after the page
loads), measured with Playwright in headless Chromium.

    python bench/bench_browser_verify.py [--quick] [--stations N] [--runs R]

In a temporary directory: simulate and import the default election (6,537 stations, every
protocol published, ~5 turnout reports each; --quick: 1,000 stations), start two witnesses on
loopback ports (their own keys and SQLite state; the policy's quorum is 2), publish the log
with ``secki publish`` (signed by a log key of its own, cosigned by both witnesses), and serve
the site with the production server as deployed (Granian, the WSGI front that answers
``/log/`` before Django). Then Debian's Chromium opens R station pages chosen at random:

* cold: each in a new browser context (an empty HTTP cache: the log key, the policy, the
  checkpoint, the hints, every bundle and tile of the check fetched from the server);
* warm: one after the other in one context (what the browser cached is reused; the
  checkpoint and the hints are revalidated).

Then the election's "Verify" page, twice, each in a new context: the seconds from the click to
the verdict of the whole election's check in a Web Worker (printed for information; no target).

For each station page, the time from its load event (the navigation's loadEventStart, when verify.js
starts) to the verdict (verify.js's ``secki-log-verdict`` performance mark); every verdict must
be "verified". Printed: median, 90th percentile and max, and the median's ratio to the target.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import app_server, secki
from secki.tlog.checkpoint import Witness, WitnessPolicy
from secki.tlog.note import KeyType, Signer
from secki.witness.server import Witness as WitnessLogic
from secki.witness.server import WitnessServer

TARGET_MS = 300.0
LOG_NAME = "bench.example/log"
CHROMIUM = os.environ.get("SECKI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
MEASURE = """() => {
  const navigation = performance.getEntriesByType("navigation")[0];
  const marks = performance.getEntriesByName("secki-log-verdict");
  const box = document.getElementById("log-check");
  return {
    load: navigation.loadEventStart,
    verdict: marks.length ? marks[0].startTime : null,
    state: box.getAttribute("data-state"),
    crypto: box.getAttribute("data-crypto"),
    text: box.querySelector(".log-verdict").textContent,
  };
}"""


@contextlib.contextmanager
def witnesses(root: Path, log_key: Signer) -> Iterator[WitnessPolicy]:
    """Two witness servers on loopback ports, in threads, and the policy naming them."""
    servers = []
    made = []
    try:
        for n in (1, 2):
            signer = Signer.from_seed(f"w{n}.bench.example", KeyType.COSIGNATURE, os.urandom(32))
            logic = WitnessLogic(signer, root / f"witness{n}.sqlite", [log_key.verifier])
            server = WitnessServer(logic, "127.0.0.1", 0, quiet=True)
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            servers.append(server)
            made.append(Witness(signer.verifier, server.url))
        yield WitnessPolicy(tuple(made), 2)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def prepare(root: Path, stations: int, policy_file: Path, key_file: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "SECKI_VAR_DIR": str(root / "var"),
        "DJANGO_SETTINGS_MODULE": "secki.settings",
        "SECKI_LOG_NAME": LOG_NAME,
        "SECKI_LOG_KEY_FILE": str(key_file),
        "SECKI_WITNESS_POLICY": str(policy_file),
    }
    env.pop("DATABASE_URL", None)
    bundle = root / "bundle"
    secki(env, "simulate", "--quiet", "--out", str(bundle), "--stations", str(stations))
    secki(env, "import", str(bundle))
    return env


def measure(page: Any, url: str) -> dict[str, Any]:
    page.goto(url)
    try:
        page.wait_for_function(
            "() => ['verified', 'failed', 'empty'].includes("
            "document.getElementById('log-check').getAttribute('data-state'))",
            timeout=60_000,
        )
    except Exception:  # no verdict in a minute: say what the page shows
        box = page.locator("#log-check")
        raise SystemExit(
            f"{url}: no verdict: {box.get_attribute('data-state')}: {box.inner_text()}"
        ) from None
    result: dict[str, Any] = page.evaluate(MEASURE)
    if result["state"] != "verified" or result["verdict"] is None:
        raise SystemExit(f"{url}: not verified: {result}")
    result["ms"] = result["verdict"] - result["load"]
    return result


def election(browser: Any, url: str) -> float:
    """Seconds from the click on "Verify the whole election" to its verdict (a new context),
    which must be "verified"."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.locator("#election-check button.log-start").click()
    page.wait_for_function(
        "() => ['verified', 'failed'].includes("
        "document.getElementById('election-check').getAttribute('data-state'))",
        timeout=600_000,
    )
    state = page.locator("#election-check").get_attribute("data-state")
    if state != "verified":
        raise SystemExit(f"{url}: {page.locator('#election-check').inner_text()}")
    seconds: float = (
        page.evaluate(
            "performance.getEntriesByName('secki-election-verdict')[0].startTime - "
            "performance.getEntriesByName('secki-election-start')[0].startTime"
        )
        / 1000
    )
    context.close()
    return seconds


def summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    median = statistics.median(ordered)
    return (
        f"  {label}: median {median:.1f} ms, p90 {p90:.1f} ms, max {ordered[-1]:.1f} ms "
        f"(target <= {TARGET_MS:.0f} ms: median {median / TARGET_MS:.2f}x target)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 stations, 10 runs")
    parser.add_argument("--stations", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="station pages per mode (30)")
    args = parser.parse_args()
    stations = args.stations or (1000 if args.quick else 6537)
    runs = args.runs or (10 if args.quick else 30)
    if not Path(CHROMIUM).is_file():
        print(f"no Chromium at {CHROMIUM}: skipped")
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="secki-bench-browser-") as tmp:
        root = Path(tmp)
        log_key = Signer.from_seed(LOG_NAME, KeyType.ED25519, os.urandom(32))
        key_file = root / "log_key"
        key_file.write_text(log_key.format() + "\n")
        key_file.chmod(0o600)
        with witnesses(root, log_key) as policy:
            policy_file = root / "witnesses.txt"
            policy_file.write_text(policy.format())
            started = time.monotonic()
            env = prepare(root, stations, policy_file, key_file)
            prepared = time.monotonic() - started
            started = time.monotonic()
            secki(env, "publish")
            published = time.monotonic() - started
            bundle = root / "bundle"
            slug = str(json.loads((bundle / "election.json").read_text(encoding="utf-8"))["slug"])
            with (bundle / "stations.csv").open(encoding="utf-8") as handle:
                codes = [row["code"] for row in csv.DictReader(handle)]
            checkpoint = (root / "var" / "log" / slug / "checkpoint").read_text()
            size = int(checkpoint.split("\n")[1])
            chosen = random.Random(14).sample(codes, runs * 2)
            with (
                app_server(env, app="secki.opendata.wsgi:application") as server,
                sync_playwright() as pw,
            ):
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                base = f"http://127.0.0.1:{server.port}/e/{slug}/s/"
                warmup = browser.new_context().new_page()  # the server's caches and workers
                for code in chosen[:4]:
                    measure(warmup, f"{base}{code}/")
                cold = []
                crypto = ""
                for code in chosen[:runs]:
                    context = browser.new_context()
                    result = measure(context.new_page(), f"{base}{code}/")
                    cold.append(result["ms"])
                    crypto = result["crypto"]
                    context.close()
                context = browser.new_context()
                page = context.new_page()
                warm = [measure(page, f"{base}{code}/")["ms"] for code in chosen[runs:]]
                whole = [election(browser, f"http://127.0.0.1:{server.port}/e/{slug}/verify/")]
                whole.append(election(browser, f"http://127.0.0.1:{server.port}/e/{slug}/verify/"))
                version = browser.version
                browser.close()
    print(
        f"in-browser inclusion check of one station: {stations:,} stations, a log of "
        f"{size:,} entries cosigned by 2 witnesses (quorum 2), {server.label}, "
        f"Chromium {version}, Ed25519 and SHA-256 by {crypto}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (set-up: import {prepared:.0f} s, "
        f"publish {published:.1f} s)"
    )
    print("time from the page's load event to the verdict, every verdict 'verified':")
    print(summary(f"cold (a new browser context per page, {runs} pages)", cold))
    print(summary(f"warm (one context, {runs} other pages)", warm))
    print(
        f"the whole election in a Web Worker (every entry downloaded, checked, replayed; the "
        f"totals compared): {min(whole):.2f} s, {max(whole):.2f} s (two runs, each in a new "
        "context)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
