"""The shipped nginx configuration (deploy/nginx/), started with Debian's nginx: TLS, the
open-data snapshot and releases and the transparency log served from disk with the cache
headers the app itself sends for each file (secki.opendata.files, secki.opendata.logfiles),
everything else passed to the app with the client's address and scheme, /metrics kept off.

Only the site-specific values named at the top of secki.conf are replaced (paths, ports, host,
certificate). Without nginx the tests skip, unless SECKI_REQUIRE_NGINX=1 (CI)."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import http.server
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils.translation import get_language_from_request

from secki.devtools import nginx
from secki.elections.models import Election
from secki.opendata import (
    files,
    logfiles,
    published,
    refresh,
    snapshots,
    stationpages,
    transparency,
)
from secki.opendata import wsgi as opendata_wsgi
from secki.portal import http as portal_http
from tests.portal.conftest import submit
from tests.transparency.test_serving import FILES, PDF, SLUG, sha
from tests.transparency.test_serving import site as site

pytestmark = pytest.mark.django_db

DEPLOY = nginx.DEPLOY
HOST = nginx.HOST


class Echo(http.server.BaseHTTPRequestHandler):
    """The app's stand-in: answers with the request it got, numbered, with the app's public
    cache headers (secki.portal.http.cache_headers)."""

    served = itertools.count(1)
    name = "app"

    def do_GET(self) -> None:
        body = json.dumps(
            {"path": self.path, "headers": dict(self.headers), "serial": next(Echo.served)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Stand-In", self.name)
        self.send_header("Cache-Control", "public, max-age=5, stale-while-revalidate=30")
        self.send_header("Vary", "Accept-Language, Cookie")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            length -= len(self.rfile.read(min(length, 1 << 20)))
        self.do_GET()

    do_PUT = do_DELETE = do_POST

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("X-Stand-In", self.name)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Site:
    def __init__(self, running: nginx.Nginx) -> None:
        self.tls, self.plain = running.tls_port, running.plain_port
        self.context = running.context()

    def get(self, path: str, *, tls: bool = True, **headers: str) -> tuple[int, Any, bytes]:
        if tls:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.tls, context=self.context, timeout=30
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.plain, timeout=30)
        try:
            conn.request("GET", path, headers={"Host": HOST, **headers})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def post(self, path: str, body: bytes) -> int:
        return self.send("POST", path, body)[0]

    def send(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.tls, context=self.context, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Host": HOST})
            response = conn.getresponse()
            response.read()
            return response.status, response.headers
        finally:
            conn.close()


def require_nginx() -> None:
    """Skip without nginx, unless SECKI_REQUIRE_NGINX=1 (CI): then fail."""
    try:
        nginx.binary()
    except nginx.Unavailable as exc:
        if os.environ.get("SECKI_REQUIRE_NGINX") == "1":
            pytest.fail(f"SECKI_REQUIRE_NGINX=1 but {exc}")
        pytest.skip(str(exc))


class IntakeEcho(Echo):
    """The stand-in of the intake's servers (the writes)."""

    name = "intake"


@contextlib.contextmanager
def shipped_site(
    work: Path, overrides: dict[str, str] | None = None, *, intake: str = ""
) -> Iterator[Site]:
    """The shipped configuration in front of the app's stand-in (:class:`Echo`); the writes
    go to the intake's stand-in (:class:`IntakeEcho`) with ``intake="echo"``, to a port where
    nothing listens with ``"down"``, else to the app's."""
    require_nginx()
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)]
    intake_port = nginx.free_port() if intake == "down" else None
    if intake == "echo":
        servers.append(http.server.ThreadingHTTPServer(("127.0.0.1", 0), IntakeEcho))
        intake_port = servers[-1].server_address[1]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with nginx.shipped(
            Path(settings.VAR_DIR),
            servers[0].server_address[1],
            work,
            overrides=overrides,
            intake_port=intake_port,
        ) as running:
            yield Site(running)
    finally:
        for server in servers:
            server.shutdown()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Site]:
    with shipped_site(tmp_path / "nginx") as site:
        yield site


def test_the_published_snapshot_is_served_with_the_apps_cache_headers(
    election: Election, served: Site
) -> None:
    snapshots.refresh(election)
    release = snapshots.make_release(election)
    live = snapshots.slug_dir(election.slug) / snapshots.LIVE
    names = sorted(
        str(p.relative_to(live)) for p in live.rglob("*") if p.is_file() and p.name[0] != "."
    )
    assert len(names) >= 5 and any(n.endswith(".csv.gz") for n in names), names
    for version, directory in ((snapshots.LIVE, live), (release.name, release)):
        for name in sorted(
            str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()
        ):
            status, headers, body = served.get(f"/data/{election.slug}/{version}/{name}")
            assert status == 200, (version, name)
            assert headers.get("X-Stand-In") is None, name  # from disk, not from the app
            assert body == (directory / name).read_bytes()
            path = directory / name
            expected = files.headers(election.slug, version, name, path.stat(), "")
            assert headers["Cache-Control"] == expected["Cache-Control"], name
            assert headers["Access-Control-Allow-Origin"] == "*"
            assert headers.get("Content-Disposition") == expected.get("Content-Disposition"), name
            assert headers["Content-Type"] == expected["Content-Type"], name
    # a JSON file compressed when asked
    json_name = next(n for n in names if n.endswith(".json"))
    status, headers, body = served.get(
        f"/data/{election.slug}/live/{json_name}", **{"Accept-Encoding": "gzip"}
    )
    assert (live / json_name).stat().st_size > 100
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == (live / json_name).read_bytes()
    # not written (yet): the app answers, which writes it when it is due
    status, headers, body = served.get(f"/data/{election.slug}/live/no-such-file.json")
    assert headers["X-Stand-In"] == "app"
    assert json.loads(body)["path"] == f"/data/{election.slug}/live/no-such-file.json"
    # hidden names never leave the disk
    (live / ".partial.json").write_text("{}")
    assert served.get(f"/data/{election.slug}/live/.partial.json")[0] == 404


@pytest.mark.usefixtures("site")
def test_the_log_is_served_with_the_specs_cache_headers(served: Site) -> None:
    root = logfiles.root_dir()
    for name, content_type, cache in FILES:
        status, headers, body = served.get(f"/log/{name}")
        if name.split("/")[1:2] == ["scans"]:
            # a scan's type is read from its bytes: the app (its front) serves it
            assert headers["X-Stand-In"] == "app"
            continue
        assert status == 200, name
        assert body == (root / name).read_bytes(), name
        assert headers["Cache-Control"] == cache == logfiles.classify(name)[1], name  # type: ignore[index]
        assert headers["Content-Type"] == content_type, name
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == logfiles.POLICY
        assert headers["Access-Control-Allow-Origin"] == "*"
    # a tile not published yet, a name of no file, hidden files: 404 for 2 s, never the app
    for missing in (f"{SLUG}/tile/0/009", f"{SLUG}/nothing", f"{SLUG}/.pending", f"{SLUG}/.lock"):
        status, headers, body = served.get(f"/log/{missing}")
        assert status == 404, missing
        assert headers.get("X-Stand-In") is None, missing
        if "/." not in missing:
            assert headers["Cache-Control"] == logfiles.MISSING, missing
    # a path out of the log directory is normalised first: never a file beside the log
    for outside in ("../secret_key", f"{SLUG}/results/../../../secret_key", "%2e%2e/secret_key"):
        status, headers, body = served.get(f"/log/{outside}")
        assert b"not for the public" not in body, outside
    assert served.get(f"/log/{SLUG}/scans/{sha(PDF)}")[1]["X-Stand-In"] == "app"


def test_everything_else_reaches_the_app_with_the_clients_address_and_scheme(
    served: Site,
) -> None:
    status, headers, body = served.get("/e/some-election/?x=1", **{"X-Real-IP": "6.6.6.6"})
    assert status == 200 and headers["X-Stand-In"] == "app"
    seen = json.loads(body)
    assert seen["path"] == "/e/some-election/?x=1"
    assert seen["headers"]["X-Real-IP"] == "127.0.0.1"  # nginx's view, not the client's claim
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["Host"] == HOST
    assert len(seen["headers"]["X-Request-ID"]) == 32
    # monitoring is not for the public
    status, headers, _ = served.get("/metrics")
    assert status == 404 and headers.get("X-Stand-In") is None
    # plain HTTP goes to HTTPS
    status, headers, _ = served.get("/e/some-election/", tls=False)
    assert status == 301
    assert headers["Location"] == f"https://{HOST}/e/some-election/"


def test_writes_go_to_the_intakes_servers_reads_to_the_apps(tmp_path: Path) -> None:
    """Every method but GET and HEAD goes to the intake's servers (secki-intake.service), so
    that on election night a commission's write never queues behind the public's renders."""
    with shipped_site(tmp_path / "nginx", intake="echo") as site:
        for method, path, expected in (
            ("GET", f"/api/v1/elections/{SLUG}/stations", "app"),
            ("HEAD", "/staff/", "app"),
            ("GET", "/staff/", "app"),
            ("POST", f"/api/v1/elections/{SLUG}/protocols", "intake"),
            ("PUT", f"/api/v1/elections/{SLUG}/protocols/1-1", "intake"),
            ("DELETE", "/api/v1/tokens/3", "intake"),
            ("POST", "/staff/login/", "intake"),
            ("POST", f"/staff/field/{SLUG}/incident/", "intake"),
            ("POST", f"/api/v1/elections/{SLUG}/observers/incidents/with-evidence", "intake"),
            ("POST", "/i18n/setlang/", "intake"),
        ):
            status, headers = site.send(method, path)
            assert status == 200 and headers["X-Stand-In"] == expected, (method, path)
    # without intake servers (nothing listens where they would): the writes reach the app
    with shipped_site(tmp_path / "alone", intake="down") as site:
        for _ in range(3):
            status, headers = site.send("POST", f"/api/v1/elections/{SLUG}/protocols")
            assert status == 200 and headers["X-Stand-In"] == "app"


def test_the_shipped_paths_are_the_documented_ones() -> None:
    text = (DEPLOY / "secki.conf").read_text()
    for value in (*nginx.SHIPPED.values(), HOST):
        assert value in text or value == nginx.SHIPPED["includes"], value
    assert nginx.SHIPPED["includes"] in text
    assert transparency.root_dir().name == "log"
    assert snapshots.root_dir().name == "opendata"


def test_the_shipped_systemd_units_are_valid(tmp_path: Path) -> None:
    """deploy/systemd/*.service as systemd itself reads them (the program path pointed at this
    checkout's `secki`; systemd-analyze checks that it exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze on this machine")
    secki = Path(sys.executable).parent / "secki"
    units = []
    for source in sorted((DEPLOY.parent / "systemd").glob("*.service")):
        unit = tmp_path / source.name
        unit.write_text(source.read_text().replace("/opt/secki/.venv/bin/secki", str(secki)))
        units.append(str(unit))
    assert len(units) == 3
    run = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Site]:
    """The shipped configuration with its API limit lowered to 1 request a minute and a burst of
    3 (only those two numbers replaced), so that a test's few requests exceed it however slowly
    they go."""
    shipped_text = (DEPLOY / "secki.conf").read_text()
    assert "rate=20r/s" in shipped_text and "burst=100 nodelay" in shipped_text
    overrides = {"rate=20r/s": "rate=1r/m", "burst=100 nodelay": "burst=3 nodelay"}
    with shipped_site(tmp_path / "nginx", overrides) as site:
        yield site


def test_the_api_is_limited_per_client_with_the_apis_error_in_its_language(
    limited: Site,
) -> None:
    path = "/api/v1/elections/x/protocols"  # the public results are kept, not limited
    statuses = [limited.get(path)[0] for _ in range(8)]
    # the first request and a burst of 3 pass; then nothing until a minute has passed
    assert statuses[:4] == [200] * 4, statuses
    assert 429 in statuses[4:] and set(statuses[4:]) <= {200, 429}, statuses
    assert statuses.count(200) <= 5, statuses  # at most one more token in a slow minute
    for headers, language, words in (
        ({}, "en", "Too many requests"),
        ({"Accept-Language": "az,en;q=0.5"}, "az", "həddən artıq sorğu"),
        ({"Accept-Language": "en", "Cookie": "django_language=ru"}, "ru", "Слишком много"),
    ):
        status, answer, body = limited.get(path, **headers)
        assert status == 429
        assert answer["Content-Type"] == "application/json; charset=utf-8"
        assert answer["Retry-After"] == "5" and answer["Content-Language"] == language
        error = json.loads(body)["error"]
        assert error["code"] == "rate_limited" and words in error["message"], error
    # pages and the public results are not limited
    assert [limited.get("/e/x/")[0] for _ in range(6)] == [200] * 6
    assert [limited.get("/api/v1/elections/x/results")[0] for _ in range(6)] == [200] * 6


def test_an_incidents_videos_pass_the_body_limit_other_posts_keep_it(served: Site) -> None:
    """Up to five videos of SECKI_INCIDENT_VIDEO_MAX_BYTES reach the incident routes; every
    other route keeps the scans' 25 MB."""
    body = b"x" * (30 * 1024 * 1024)
    for path in (
        "/api/v1/elections/e-1/observers/incidents/with-evidence",
        "/staff/field/e-1/incident/",
    ):
        assert served.post(path, body) == 200, path
    for path in (
        "/staff/field/e-1/checklists/opening/",
        "/api/v1/elections/e-1/observers/incidents",
    ):
        assert served.post(path, body) == 413, path


def test_public_pages_and_results_are_kept_a_second_for_everyone_but_the_signed_in(
    served: Site,
) -> None:
    """The app renders a public page once for all anonymous readers within the second; a
    signed-in official or a token always reaches the app and is never kept; each language
    is kept apart; staff pages and the rest of the API are never kept."""

    def serial(path: str, **headers: str) -> tuple[int, str | None]:
        status, answer, body = served.get(path, **headers)
        assert status == 200
        return json.loads(body)["serial"], answer.get("X-Cache-Status")

    for path in ("/e/night/", "/e/night/u/C1/?page=2", "/api/v1/elections/night/results"):
        first, status = serial(path)
        assert status == "MISS"
        assert serial(path) == (first, "HIT")
        # a visitor signed in reaches the app, and what it got is not kept for the others
        mine, status = serial(path, Cookie="sessionid=abc")
        assert mine > first and status == "BYPASS"
        token, status = serial(path, Authorization="Token 0123")
        assert token > mine and status == "BYPASS"
        assert serial(path) == (first, "HIT")
        # another language is another copy (the app's Vary)
        russian, status = serial(path, **{"Accept-Language": "ru"})
        assert russian > token and status == "MISS"
        assert serial(path, **{"Accept-Language": "ru"}) == (russian, "HIT")
        assert serial(path) == (first, "HIT")
    for path in ("/staff/", "/api/v1/elections/night/protocols"):
        one, status = serial(path)
        two, _ = serial(path)
        assert two > one and status is None


def django_language(headers: dict[str, str]) -> str:
    """The language Django chooses for a request with these headers."""
    meta = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in headers.items()
        if name in ("Cookie", "Accept-Language")
    }
    return get_language_from_request(RequestFactory().get("/", **meta))


def assert_the_apps_headers(headers: Any, app: Any, *more: str) -> None:
    """nginx's answer from a file carries the headers the app sends on the same answer (as
    configured with SECKI_HTTPS=1): type, caching, the security headers, the policy's
    directives, Vary; and ``more``."""
    for name in (
        "Content-Type",
        "Cache-Control",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "Strict-Transport-Security",
        *more,
    ):
        assert headers[name] == app[name], name
    assert _directives(headers["Content-Security-Policy"]) == _directives(
        app["Content-Security-Policy"]
    )
    vary = {v.strip() for line in headers.get_all("Vary") for v in line.split(",")}
    assert vary >= {"Accept-Language", "Cookie"}


def _directives(policy: str) -> set[str]:
    return {" ".join(d.split()) for d in policy.split(";") if d.strip()}


def test_a_station_page_is_served_from_its_file_with_the_apps_headers_in_its_language(
    election: Election, served: Site, settings: Any
) -> None:
    """The app writes the page it renders for the public (issue 15); nginx then serves that
    file to the anonymous public, in the language Django would choose, with the headers the
    app sends (as configured with SECKI_HTTPS=1); anyone or anything else reaches the app."""
    publisher = published.Publisher(open_data=False)
    publisher.step()
    path = f"/e/{election.slug}/s/1-1/"
    status, headers, _ = served.get(path)
    assert status == 200 and headers["X-Stand-In"] == "app"  # no file yet: the app
    # the app renders it for the public (as it does on that miss), in two languages
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    policy = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    policy["upgrade-insecure-requests"] = True
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": policy}
    portal_http.pages.clear()
    app = Client().get(path, secure=True)
    assert app.status_code == 200
    portal_http.pages.clear()
    russian = Client().get(path, HTTP_ACCEPT_LANGUAGE="ru").content
    assert russian != app.content
    status, headers, body = served.get(path)
    assert status == 200 and headers.get("X-Stand-In") is None, "the app was reached"
    assert headers["X-Secki-Page"] == "file" and headers.get("X-Secki-State") is None
    assert body == app.content
    assert_the_apps_headers(headers, app, "Content-Language")
    # compressed when asked
    status, headers, body = served.get(path, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == app.content
    # the language Django would choose: the cookie, else the first tag of Accept-Language
    for asked, expected in (
        ({"Cookie": "django_language=ru"}, "ru"),
        ({"Cookie": "csrftoken=x; django_language=ru", "Accept-Language": "en"}, "ru"),
        ({"Accept-Language": "ru"}, "ru"),
        ({"Accept-Language": "ru-RU,en;q=0.8"}, "ru"),
        ({"Cookie": "django_language=en", "Accept-Language": "ru"}, "en"),
        ({"Accept-Language": ""}, "en"),
        ({"Accept-Language": "en-GB"}, "en"),
        ({"Accept-Language": "ru, en-US;q=0.8, *;q=0.1"}, "ru"),
        ({"Accept-Language": "ru,"}, "ru"),
    ):
        assert django_language(asked) == expected, asked  # what LocaleMiddleware would say
        status, headers, body = served.get(path, **asked)
        assert headers.get("X-Stand-In") is None, asked
        assert headers["Content-Language"] == expected, asked
        assert body == (russian if expected == "ru" else app.content), asked
    # no file in that language yet; signed in; a token; a query; what only Django can read
    for asked, where in (
        ({"Accept-Language": "az"}, path),
        ({"Cookie": "sessionid=abc"}, path),
        ({"Authorization": "Bearer 0123"}, path),
        ({}, f"{path}?part=live"),
        ({}, f"{path}?sort=name"),
        ({"Accept-Language": "ru;q=0.5,en"}, path),
        ({"Accept-Language": "fr,ru"}, path),
        ({"Accept-Language": "RU"}, path),
        ({"Accept-Language": "ru-Cyrl-RU"}, path),
        ({"Accept-Language": "ru,en;q=1.5"}, path),  # Django ignores the whole header
        ({"Accept-Language": "ru en"}, path),
        ({"Accept-Language": "ru,,en"}, path),
        ({"Cookie": "django_language=fr"}, path),
        ({"Cookie": "django_language=ru|x"}, path),
        ({"Cookie": "django_language=RU"}, path),
        ({"Cookie": "django_language=en; django_language=ru"}, path),
    ):
        status, headers, body = served.get(where, **asked)
        assert headers["X-Stand-In"] == "app", (asked, where)
    # a station whose page was not written, and other pages: the app
    for other in (f"/e/{election.slug}/s/1-2/", f"/e/{election.slug}/"):
        assert served.get(other)[1]["X-Stand-In"] == "app", other


@pytest.mark.django_db(transaction=True)
def test_the_app_behind_nginx_writes_a_station_page_that_nginx_serves_next(
    live_server: Any, waiting: Election, admin: Any, settings: Any, tmp_path: Path
) -> None:
    """The real app behind the shipped configuration: the first anonymous GET of a station
    page reaches it (which writes the file), the second is the file; a protocol of the station
    makes it stale (the publisher's next state): nginx serves the stale file, without asking
    the app, until the page refresher wrote the page again, with the protocol."""
    require_nginx()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    clock = [0.0]
    publisher = published.Publisher(clock=lambda: clock[0], open_data=False)
    publisher.step()
    port = int(live_server.url.rsplit(":", 1)[1])
    with nginx.shipped(Path(settings.VAR_DIR), port, tmp_path / "nginx") as running:
        site = Site(running)
        path = f"/e/{waiting.slug}/s/1-1/"
        status, headers, first = site.get(path)
        assert status == 200 and headers["X-Secki-State"] == "1"  # the app's answer
        assert headers.get("X-Secki-Page") is None
        status, headers, second = site.get(path)
        assert status == 200 and headers["X-Secki-Page"] == "file", "the app was reached"
        assert headers.get("X-Secki-State") is None and headers.get("X-Cache-Status") is None
        assert second == first
        submit(waiting, "1-1", admin)
        clock[0] += publisher.interval
        publisher.step()
        status, headers, body = site.get(path)
        assert status == 200 and headers["X-Secki-Page"] == "stale" and body == first
        assert headers.get("X-Secki-State") is None, "the app was reached"
        assert refresh.Refresher(opendata_wsgi.render_station_page).once() == 1
        status, headers, body = site.get(path)
        assert headers["X-Secki-Page"] == "file" and b"protocol-lines" in body


def test_the_national_results_answer_is_the_publishers_file_as_soon_as_a_state_has_it(
    waiting: Election, admin: Any, served: Site, settings: Any
) -> None:
    """The publisher writes the national results answer with every state (issue 15); nginx
    serves that file to the anonymous public at once, the bytes and headers the app sends on
    it, with no copy kept a second: the next state's total is served the instant it is
    written. Officials, tokens, queries, and an election without the file reach the app."""
    clock = [0.0]
    publisher = published.Publisher(clock=lambda: clock[0], open_data=False)
    path = f"/api/v1/elections/{waiting.slug}/results"
    status, headers, _ = served.get(path)
    assert status == 200 and headers["X-Stand-In"] == "app"  # no publisher yet: the app
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    policy = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    policy["upgrade-insecure-requests"] = True
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": policy}
    for counted in (0, 1, 2):
        if counted:
            submit(waiting, f"1-{counted}", admin)
            clock[0] += publisher.interval
        assert publisher.step(), "no new state"
        portal_http.pages.clear()
        app = Client().get(path, secure=True)
        assert app.status_code == 200 and app.json()["stations_reported"] == counted
        status, headers, body = served.get(path)
        assert status == 200 and headers.get("X-Stand-In") is None, "the app was reached"
        assert headers["X-Secki-Page"] == "results" and body == app.content, counted
        assert headers.get("X-Cache-Status") is None and headers.get("ETag") is None
    assert_the_apps_headers(headers, app)
    # the same in every language; compressed when asked; a conditional GET gets it whole
    assert served.get(path, **{"Accept-Language": "ru"})[2] == app.content
    status, headers, body = served.get(path, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == app.content
    stamp = headers["Last-Modified"]
    assert served.get(path, **{"If-Modified-Since": stamp})[0] == 200
    for asked, where in (
        ({"Cookie": "sessionid=abc"}, path),
        ({"Authorization": "Bearer 0123"}, path),
        ({}, f"{path}?format=json"),
        ({}, "/api/v1/elections/no-such-election/results"),
        ({}, f"{path}/units/1"),
    ):
        status, headers, body = served.get(where, **asked)
        assert headers["X-Stand-In"] == "app", (asked, where)


def test_a_stations_and_a_units_answer_are_served_from_their_files_the_new_state_at_once(
    waiting: Election, admin: Any, served: Site, settings: Any
) -> None:
    """The app writes the station's and the unit's answer it makes for the public (issue 15);
    nginx serves those files to the anonymous public, the bytes and headers the app sends on
    them; once a state changed the station, the station's and the unit's new answers at once
    (the publisher writes them with the state), and a stale file until the refresher asked
    for it again. Officials, tokens, queries (a unit's other page), and an answer without a
    file reach the app."""
    clock = [0.0]
    publisher = published.Publisher(clock=lambda: clock[0], open_data=False)
    publisher.step()
    station = f"/api/v1/elections/{waiting.slug}/results/stations/1-1"
    unit = f"/api/v1/elections/{waiting.slug}/results/units/1"
    for path in (station, unit):
        status, headers, _ = served.get(path)
        assert status == 200 and headers["X-Stand-In"] == "app", path  # no file yet: the app
    settings.SECKI_HTTPS = True  # the public origin is HTTPS, as behind this configuration
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    policy = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    policy["upgrade-insecure-requests"] = True
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": policy}
    host, https = stationpages.public_origin()
    assert https

    def ask(path: str) -> Any:
        """The public's GET through the app, which writes the file."""
        portal_http.pages.clear()
        app = Client().get(path, HTTP_HOST=host, secure=True)
        assert app.status_code == 200
        return app

    before = {}
    for path, kind in ((station, "station"), (unit, "unit")):
        app = before[path] = ask(path)
        status, headers, body = served.get(path)
        assert status == 200 and headers.get("X-Stand-In") is None, "the app was reached"
        assert headers["X-Secki-Page"] == kind and body == app.content, path
        assert headers.get("X-Cache-Status") is None and headers.get("ETag") is None
        assert_the_apps_headers(headers, app)
        status, headers, body = served.get(path, **{"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == app.content
    submit(waiting, "1-1", admin)
    clock[0] += publisher.interval
    assert publisher.step(), "no new state"
    status, headers, body = served.get(station)  # the publisher's, with the state
    assert headers["X-Secki-Page"] == "station" and json.loads(body)["values"]
    assert body == ask(station).content != before[station].content
    status, headers, body = served.get(unit)  # the publisher's too
    assert headers["X-Secki-Page"] == "unit" and json.loads(body)["stations_reported"] == 1
    assert body == ask(unit).content
    # a stale answer (left by an earlier release) is served until the refresher asked again
    answer = stationpages.answer_path(waiting.slug, stationpages.STATIONS, "1-1")
    assert answer is not None
    answer.rename(answer.with_name(stationpages.STALE_ANSWER))
    status, headers, body = served.get(station)
    assert headers["X-Secki-Page"] == "station-stale" and json.loads(body)["values"]
    refresher = refresh.Refresher(lambda slug, language, code: None, ask)
    assert refresher.once() == 1  # the station's (a first look finds every stale answer)
    assert served.get(station)[1]["X-Secki-Page"] == "station"
    for asked, where in (
        ({"Cookie": "sessionid=abc"}, station),
        ({"Authorization": "Bearer 0123"}, unit),
        ({}, f"{unit}?page=2"),
        ({}, f"{station}?x=1"),
        ({}, f"/api/v1/elections/{waiting.slug}/results/stations/1-2"),
        ({}, f"/api/v1/elections/{waiting.slug}/results/units/XX"),
        ({}, f"/api/v1/elections/{waiting.slug}/results/stations/1-1/scans"),
    ):
        status, headers, body = served.get(where, **asked)
        assert headers["X-Stand-In"] == "app", (asked, where)


@pytest.mark.django_db(transaction=True)
def test_the_app_behind_nginx_writes_the_answers_that_nginx_serves_next(
    live_server: Any, waiting: Election, admin: Any, settings: Any, tmp_path: Path
) -> None:
    """The real app behind the shipped configuration, on the public host: the first anonymous
    GET of a station's answer reaches it (which writes the file), the second is the file; a
    protocol of the station is in its answer and its constituency's at once (the publisher's);
    a stale answer is written again by the page refresher (its own ask through the process's
    Django application)."""
    require_nginx()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    settings.SECKI_PUBLIC_URL = f"https://{HOST}"
    clock = [0.0]
    publisher = published.Publisher(clock=lambda: clock[0], open_data=False)
    publisher.step()
    port = int(live_server.url.rsplit(":", 1)[1])
    station = f"/api/v1/elections/{waiting.slug}/results/stations/1-1"
    unit = f"/api/v1/elections/{waiting.slug}/results/units/1"
    with nginx.shipped(Path(settings.VAR_DIR), port, tmp_path / "nginx") as running:
        site = Site(running)
        for path, kind in ((station, "station"), (unit, "unit")):
            status, headers, first = site.get(path)
            assert status == 200 and headers["X-Secki-State"] == "1"  # the app's answer
            status, headers, second = site.get(path)
            assert headers["X-Secki-Page"] == kind, "the app was reached"
            assert second == first
        submit(waiting, "1-1", admin)
        clock[0] += publisher.interval
        publisher.step()
        status, headers, body = site.get(station)
        assert headers["X-Secki-Page"] == "station" and json.loads(body)["values"]
        status, headers, body = site.get(unit)
        assert headers["X-Secki-Page"] == "unit" and json.loads(body)["stations_reported"] == 1
        # a stale answer is written again by the refresher's own ask
        answer = stationpages.answer_path(waiting.slug, stationpages.STATIONS, "1-1")
        assert answer is not None
        answer.rename(answer.with_name(stationpages.STALE_ANSWER))
        assert site.get(station)[1]["X-Secki-Page"] == "station-stale"
        refresher = refresh.Refresher(
            opendata_wsgi.render_station_page, opendata_wsgi.ask_public_answer
        )
        assert refresher.once() == 1  # the station
        status, headers, body = site.get(station)
        assert headers["X-Secki-Page"] == "station" and json.loads(body)["values"]
