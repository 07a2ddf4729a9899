"""Benchmark the public read path: the app under its production server against static
snapshots under nginx,
and how fast the snapshots are regenerated after a change.

    python bench/bench_portal.py [--quick] [--duration SECONDS] [--large STATIONS]

On a fresh SQLite database in a temporary directory it simulates and imports the default
election (6,537 stations, every protocol published), then:

1. the production server as ``secki serve`` runs it (Granian, see ``secki.server``) on a
   loopback port: requests/s for the national results JSON of the API and for the national
   HTML page (targets >= 2,000/s and >= 500/s), plus the page revalidated with If-None-Match
   (304) and the JSON snapshot served by the app, through Django and through the WSGI front
   ``secki.opendata.wsgi`` that serves snapshot files before Django; find my station
   (``/search/``, JSON) by a station's code and by a word of the addresses;
2. Debian's nginx with the shipped configuration (deploy/nginx/secki.conf, HTTPS with a
   self-signed certificate; ``secki.devtools.nginx``) on a loopback port, serving the same
   national JSON as a static snapshot file; the ratio nginx / app;
3. snapshot regeneration after a change (a protocol amended through the real action, then
   ``secki.opendata.snapshots.refresh``) for 6,537 stations and, unless ``--quick``, for
   ``--large`` stations (default 100,000; targets <= 2 s and <= 30 s).

Load comes from ``wrk`` when installed (2 threads, 32 connections), else from a Python
client; all traffic goes to 127.0.0.1 and every run is bounded by ``--duration``. Note that
the load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from _common import app_server
from secki.devtools.nginx import shipped as shipped_nginx

TARGET_JSON = 2000.0
TARGET_HTML = 500.0
TARGET_REGEN = {6537: 2.0, 100_000: 30.0}


def search_queries(bundle: Path, slug: str) -> list[tuple[str, str]]:
    """(label, URL) of the searches measured: a station's code, and the most common word of
    the addresses (many matches, the first 50 listed)."""
    with (bundle / "stations.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    code = rows[len(rows) // 2]["code"]
    words = Counter(
        w.lower() for r in rows for w in (r.get("address") or "").split() if w.isalpha()
    )
    word = words.most_common(1)[0][0] if words else rows[0]["name"].split()[0]
    return [
        (f"by code {code!r}", "/search/?" + urlencode({"q": code, "format": "json"})),
        (
            f"by address word {word!r} in {slug}",
            "/search/?" + urlencode({"q": word, "election": slug, "format": "json"}),
        ),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def secki(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "secki.cli", *args], env=env, check=True, capture_output=True
    )


def wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}{path}")


#: the shipped nginx serves HTTPS with a self-signed certificate
UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE


def connect(port: int, scheme: str) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=UNVERIFIED)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def get(
    port: int, path: str, headers: dict[str, str] | None = None, scheme: str = "http"
) -> tuple[int, dict[str, str], bytes]:
    conn = connect(port, scheme)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def load(
    port: int,
    path: str,
    duration: float,
    headers: dict[str, str] | None = None,
    scheme: str = "http",
) -> float:
    """Requests per second against 127.0.0.1:port (wrk if installed)."""
    wrk = shutil.which("wrk")
    if wrk:
        command = [wrk, "-t2", "-c32", f"-d{max(1, int(duration))}s"]
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*command, f"{scheme}://127.0.0.1:{port}{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        if "Non-2xx or 3xx responses" in out:
            raise RuntimeError(f"errors under load for {path}:\n{out}")
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if match is None:
            raise RuntimeError(out)
        return float(match.group(1))
    return python_load(port, path, duration, headers or {}, scheme)


def python_load(
    port: int, path: str, duration: float, headers: dict[str, str], scheme: str = "http"
) -> float:
    count = [0] * 16
    stop = time.monotonic() + duration

    def worker(i: int) -> None:
        conn = connect(port, scheme)
        while time.monotonic() < stop:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                raise RuntimeError(f"{path}: HTTP {response.status}")
            count[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(count))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - started)


def prepare(root: Path, stations: int) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "SECKI_VAR_DIR": str(root / "var"),
        "DJANGO_SETTINGS_MODULE": "secki.settings",
    }
    env.pop("DATABASE_URL", None)
    bundle = root / "bundle"
    secki(env, "simulate", "--quiet", "--out", str(bundle), "--stations", str(stations))
    secki(env, "import", str(bundle))
    slug = str(json.loads((bundle / "election.json").read_text(encoding="utf-8"))["slug"])
    return env, slug


def regeneration(env: dict[str, str], changes: int = 3) -> list[float]:
    """Seconds of the first, full snapshot write, then of snapshots.refresh after each of
    ``changes`` amendments (in a child process, like the watcher that keeps its state)."""
    out = subprocess.run(
        [sys.executable, __file__, "--regen-child", str(changes)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(x) for x in out.split()]


def regen_child(changes: int) -> None:
    """In a Django process: warm the snapshot, then amend protocols one by one and time the
    regeneration each change causes."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from secki.elections.models import Election
    from secki.opendata import snapshots
    from secki.protocols.actions import amend_protocol, protocol_data
    from secki.protocols.data import ProtocolData
    from secki.protocols.models import Protocol, ProtocolStatus

    election = Election.objects.get()
    users = get_user_model().objects
    actor = users.filter(username="bench-chair").first() or users.create_superuser(
        "bench-chair", password=None
    )
    started = time.perf_counter()
    snapshots.write_live(election, keep=True)  # as `secki snapshot --watch` starts
    full = time.perf_counter() - started
    snapshots.make_release(election)  # the first release (not timed: releases are periodic)
    times = []
    protocols = Protocol.objects.filter(
        election=election, is_current=True, status=ProtocolStatus.PUBLISHED
    ).select_related("station")
    for protocol in protocols[:changes]:
        data = protocol_data(protocol)
        votes = list(data.candidates)
        donor = max(range(len(votes)), key=votes.__getitem__)
        votes[donor] -= 1
        votes[(donor + 1) % len(votes)] += 1  # valid votes (L14) stay equal to the sum
        amend_protocol(
            protocol.station,
            ProtocolData(data.counts, data.instants, tuple(votes)),
            actor=actor,
            reason="benchmark: one vote moved",
        )
        started = time.perf_counter()
        done = snapshots.refresh(election, every=1e9, keep=True)
        times.append(time.perf_counter() - started)
        assert done.live, "the change did not rewrite the snapshot"
    print(" ".join(f"{t:.4f}" for t in [full, *times]))


def regen_line(stations: int, times: list[float]) -> str:
    full, changes = times[0], times[1:]
    target = TARGET_REGEN.get(stations)
    worst = max(changes)
    text = (
        f"snapshot regeneration after a change, {stations:,} stations: max {worst:.2f} s, "
        f"median {statistics.median(changes):.2f} s over {len(changes)} changes"
    )
    if target:
        text += f" (target <= {target:.0f} s, {worst / target:.2f}x target)"
    return (
        text + f"; first full write {full:.2f} s"
        " [+ <= 0.5 s until `secki snapshot --watch` notices the ledger head]"
    )


def main() -> int:
    if sys.argv[1:2] == ["--regen-child"]:
        regen_child(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the large election")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--large", type=int, default=100_000, help="stations of the large run")
    args = parser.parse_args()
    tool = (
        "wrk (2 threads, 32 connections)" if shutil.which("wrk") else "Python client (16 threads)"
    )
    print(
        f"load generator: {tool}, {args.duration:.0f} s per run, loopback only; "
        f"{os.cpu_count()} cores shared by server and load generator; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="secki-bench-portal-") as tmp:
        root = Path(tmp)
        env, slug = prepare(root / "default", 6537)
        var = root / "default" / "var"
        secki(env, "manage", "collectstatic", "--noinput", "-v", "0")
        subprocess.run(
            [sys.executable, "-m", "secki.opendata.cli", "snapshot", "--election", slug],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        api = f"/api/v1/elections/{slug}/results"
        page = f"/e/{slug}/"
        snapshot = f"/data/{slug}/live/index.json"
        searches = search_queries(root / "default" / "bundle", slug)
        with app_server(env) as server:
            port = server.port
            wait_http(port, api)
            status, _, body = get(port, api)
            assert status == 200
            on_disk = (var / "opendata" / slug / "live" / "index.json").read_bytes()
            same = json.loads(body) == json.loads(on_disk)
            for path in (api, page, snapshot):
                load(port, path, 2)  # warm every worker's caches
            _, headers, _ = get(port, page)
            etag = headers["etag"]
            assert get(port, page, {"If-None-Match": etag})[0] == 304
            app_json = load(port, api, args.duration)
            app_html = load(port, page, args.duration)
            app_304 = load(port, page, args.duration, {"If-None-Match": etag})
            app_file = load(port, snapshot, args.duration)
            found = []
            for label, url in searches:
                status, _, answer = get(port, url)
                assert status == 200, url
                load(port, url, 2)
                found.append((label, json.loads(answer)["total"], load(port, url, args.duration)))
        with app_server(env, app="secki.opendata.wsgi:application") as front:
            fport = front.port
            wait_http(fport, snapshot)
            assert get(fport, snapshot)[2] == on_disk
            load(fport, snapshot, 2)
            app_front = load(fport, snapshot, args.duration)
        # the shipped configuration (deploy/nginx/secki.conf): TLS, the snapshot from disk
        with shipped_nginx(var, free_port(), root / "nginx", workers=2) as site:
            nport = site.tls_port
            status, _, static_body = get(nport, snapshot, scheme="https")
            assert status == 200 and static_body == on_disk
            load(nport, snapshot, 2, scheme="https")
            static = load(nport, snapshot, args.duration, scheme="https")
        print(
            f"national results JSON (API, {len(body):,} bytes), {server.label}: "
            f"{app_json:,.0f} req/s "
            f"(target >= {TARGET_JSON:,.0f}/s, {app_json / TARGET_JSON:.2f}x target)"
        )
        print(
            f"national HTML page, {server.label}: {app_html:,.0f} req/s "
            f"(target >= {TARGET_HTML:,.0f}/s, {app_html / TARGET_HTML:.2f}x target)"
        )
        print(f"national HTML page revalidated (If-None-Match -> 304): {app_304:,.0f} req/s")
        for label, total, rate in found:
            print(f"find my station (/search/ JSON) {label}, {total:,} matches: {rate:,.0f} req/s")
        print(
            f"same JSON as a snapshot file served by the app (Django view): {app_file:,.0f} req/s"
        )
        print(
            "same JSON as a snapshot file served by the app's WSGI front "
            f"(secki.opendata.wsgi, before Django): {app_front:,.0f} req/s"
        )
        print(
            "same JSON as a static snapshot, nginx with the shipped deploy/nginx/secki.conf "
            f"(HTTPS, 2 workers): {static:,.0f} req/s; "
            f"ratio nginx / app API = {static / app_json:.1f}x; "
            f"snapshot {'identical to' if same else 'DIFFERS from'} the API's JSON"
        )
        print(regen_line(6537, regeneration(env)))
        if not args.quick:
            large_env, _ = prepare(root / "large", args.large)
            print(regen_line(args.large, regeneration(large_env)))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
