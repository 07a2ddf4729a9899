"""Compressed answers and HEAD (secki.compression, secki.opendata.wsgi): brotli where the
client accepts it, gzip otherwise, nothing for ``identity``; ``Vary`` and weak ``ETag``s; the
conditional answers still work through the compression; HEAD with GET's headers, no body."""

from __future__ import annotations

import gzip
from typing import Any

import brotli
import pytest
from django.test import Client

from secki.compression import choose
from secki.elections.models import Election

pytestmark = pytest.mark.django_db


def decoded(response: Any) -> bytes:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    coding = response.get("Content-Encoding")
    if coding == "br":
        return bytes(brotli.decompress(body))
    if coding == "gzip":
        return gzip.decompress(body)
    assert coding is None, coding
    return bytes(body)


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0, gzip;q=0.2", "gzip"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("identity", None),
        ("", None),
        ("gzip;q=0", None),
        ("gzip;q=x, br", "br"),
    ],
)
def test_the_coding_follows_accept_encoding(header: str, coding: str | None) -> None:
    assert choose(header) == coding


def test_pages_json_and_csv_are_compressed_when_asked(election: Election) -> None:
    slug = election.slug
    for path in (f"/e/{slug}/", f"/api/v1/elections/{slug}/results", f"/e/{slug}/s/1-1/"):
        plain = Client().get(path)
        assert plain.status_code == 200 and "Content-Encoding" not in plain, path
        assert "Accept-Encoding" in plain["Vary"], path
        for coding in ("br", "gzip"):
            packed = Client().get(path, headers={"Accept-Encoding": coding})
            assert packed["Content-Encoding"] == coding, path
            assert "Accept-Encoding" in packed["Vary"], path
            assert decoded(packed) == plain.content, path
            assert len(packed.content) < len(plain.content), path
            assert packed["Content-Length"] == str(len(packed.content))


def test_a_weak_etag_of_the_compressed_page_still_gives_304(election: Election) -> None:
    path = f"/e/{election.slug}/"
    first = Client().get(path, headers={"Accept-Encoding": "br"})
    assert first["ETag"].startswith('W/"')
    again = Client().get(path, headers={"Accept-Encoding": "br", "If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_static_files_are_compressed_as_a_stream() -> None:
    response = Client().get("/static/portal/site.css", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200 and response["Content-Encoding"] == "br"
    assert b"header.site" in decoded(response)


def test_head_is_answered_wherever_get_is(election: Election) -> None:
    slug = election.slug
    for path in (
        f"/e/{slug}/",
        f"/e/{slug}/s/1-1/",
        f"/api/v1/elections/{slug}/results",
        f"/api/v1/elections/{slug}/results/stations/1-1",
        "/search/?q=1-1",
        "/api/v1/openapi.json",
        "/static/portal/site.css",
    ):
        get = Client().get(path)
        head = Client().head(path)
        assert head.status_code == get.status_code == 200, path
        assert head["Content-Type"] == get["Content-Type"], path
        body = b"".join(getattr(head, "streaming_content", [])) if head.streaming else head.content
        assert body == b"", path
        if not get.streaming:
            assert head["Content-Length"] == str(len(get.content)), path
    assert Client().head("/e/nowhere/").status_code == 404


def front(path: str, method: str = "GET", **headers: str) -> tuple[str, dict[str, str], bytes]:
    """A request through the static open-data front (secki.opendata.wsgi)."""
    from wsgiref.util import setup_testing_defaults

    from django.core import signals
    from django.db import close_old_connections

    from secki.opendata.wsgi import application

    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(application(environ, start_response))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def test_the_open_data_front_compresses_json_and_csv(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    from secki import compression
    from secki.opendata import snapshots, wsgi

    monkeypatch.setattr(compression, "MIN_SIZE", 0)  # the test's units.csv is small
    release = snapshots.make_release(election)
    snapshots.write_live(election)
    slug = election.slug
    for path in (f"/data/{slug}/live/index.json", f"/data/{slug}/{release.name}/units.csv"):
        status, plain_headers, plain = front(path)
        assert status == "200 OK" and "Content-Encoding" not in plain_headers, path
        assert plain_headers["Vary"] == "Accept-Encoding"
        for coding, unpack in (("br", brotli.decompress), ("gzip", gzip.decompress)):
            status, headers, body = front(path, accept_encoding=f"{coding}, identity")
            assert status == "200 OK" and headers["Content-Encoding"] == coding, path
            assert headers["Vary"] == "Accept-Encoding"
            assert headers["ETag"] == f"W/{plain_headers['ETag']}"
            assert headers["Content-Length"] == str(len(body))
            assert unpack(body) == plain, path
            again = front(path, accept_encoding=coding, if_none_match=headers["ETag"])
            assert again[0] == "304 Not Modified" and again[2] == b""
            assert again[1]["Vary"] == "Accept-Encoding"
            head = front(path, "HEAD", accept_encoding=coding)
            assert head[2] == b"" and head[1]["Content-Length"] == headers["Content-Length"]
        # a large file is compressed as it streams, without a length
        monkeypatch.setattr(wsgi, "PACKED_FILE_MAX", 10)
        status, headers, body = front(path, accept_encoding="gzip")
        assert "Content-Length" not in headers and gzip.decompress(body) == plain
        monkeypatch.setattr(wsgi, "PACKED_FILE_MAX", 8 << 20)
    # already compressed files stay as they are
    gz = front(f"/data/{slug}/{release.name}/stations.csv.gz", accept_encoding="br")
    assert gz[0] == "200 OK" and "Content-Encoding" not in gz[1]


def test_collected_static_files_are_sent_as_collectstatic_compressed_them(
    settings: Any, tmp_path: Any
) -> None:
    """collectstatic writes a brotli and a gzip copy of a static file once
    (CompressedStaticFilesStorage); WhiteNoise sends them by Accept-Encoding and the
    compression middleware does not compress them again. A collected copy that is not the
    app's file any more is never sent: the app's own file is, compressed per request."""
    from pathlib import Path

    from django.core.management import call_command

    import secki.portal

    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATICFILES_DIRS = [Path(secki.portal.__file__).parent / "static"]
    call_command("collectstatic", interactive=False, verbosity=0)
    own = Path(secki.portal.__file__).parent / "static" / "portal" / "tlog.js"
    collected = settings.STATIC_ROOT / "portal" / "tlog.js"
    packed_br = collected.with_name("tlog.js.br").read_bytes()
    packed_gz = collected.with_name("tlog.js.gz").read_bytes()
    made = collected.with_name("tlog.js.br").stat().st_mtime_ns
    call_command("collectstatic", interactive=False, verbosity=0)  # nothing new: no work
    assert collected.with_name("tlog.js.br").stat().st_mtime_ns == made

    url = "/static/portal/tlog.js"
    client = Client()
    answer = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert answer.status_code == 200 and answer["Content-Encoding"] == "br"
    assert "Accept-Encoding" in answer["Vary"]
    assert answer["Content-Type"].startswith("text/javascript")
    body = b"".join(answer.streaming_content)
    assert body == packed_br  # collectstatic's bytes, not compressed again
    assert brotli.decompress(body) == own.read_bytes()
    assert int(answer["Content-Length"]) == len(packed_br)
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gz["Content-Encoding"] == "gzip"
    assert b"".join(gz.streaming_content) == packed_gz
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain
    assert b"".join(plain.streaming_content) == own.read_bytes()
    head = client.head(url, headers={"Accept-Encoding": "br"})
    assert head["Content-Encoding"] == "br" and head["Content-Length"] == str(len(packed_br))
    assert b"".join(head.streaming_content) == b""

    # a stale collected copy (the code changed since collectstatic): the app's file is sent
    collected.write_bytes(b"// an older build\n" * 40)
    fresh = Client().get(url, headers={"Accept-Encoding": "br"})
    assert fresh["Content-Encoding"] == "br"
    sent = b"".join(fresh.streaming_content)
    assert sent != packed_br and brotli.decompress(sent) == own.read_bytes()
