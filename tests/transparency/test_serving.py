"""Serving the log's files at /log/ (spec §2.1, §2.7): the WSGI front answers them before Django
and the Django view answers them alike — content types, the caching of each class of file, a
404 cached for seconds only, and never a file outside the log directory (``..``, encoded
slashes, NUL, hidden names, a symlink leading out)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.opendata import logfiles, transparency
from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, WitnessPolicy
from secki.tlog.note import sign_note
from secki.tlog.results import results_document
from secki.tlog.tiles import TileWriter
from tests.portal.test_opendata import wsgi_get
from tests.transparency.conftest import SIGNER

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
SLUG = "testland-2024"
SIZE = 300  # a full tile and bundle, and partial ones at levels 0 and 1
REGISTER = b"code,name\n"

SHORT = "public, max-age=2"
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=3600"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def site() -> Path:
    """A published log of SIZE entries, by hand, with a file of every class."""
    root = transparency.root_dir()
    directory = root / SLUG
    size, tree_root = TileWriter(directory).append(f"entry {i}".encode() for i in range(SIZE))
    note = sign_note(Checkpoint(transparency.origin(SLUG), size, tree_root).format(), SIGNER)
    (directory / "checkpoint").write_text(note)
    (directory / "checkpoints").mkdir()
    (directory / f"checkpoints/{size}").write_text(note)
    results = results_document(SLUG, size, tree_root, {"C1": 1}, 1, note, units={"1": {"C1": 1}})
    (directory / "results").mkdir()
    (directory / f"results/{size}.json").write_bytes(results)
    (directory / "results/latest.json").write_bytes(results)
    (directory / f"hints/{SLUG}").mkdir(parents=True)
    hint = {"election": SLUG, "indexes": [3, 7], "station": "1-1"}
    (directory / f"hints/{SLUG}/1-1.json").write_bytes(canonical.encode(hint))
    (directory / "scans").mkdir()
    (directory / "scans" / sha(PDF)).write_bytes(PDF)
    (directory / "register").mkdir()
    (directory / "register" / sha(REGISTER)).write_bytes(REGISTER)
    (directory / ".lock").write_text("")
    (directory / ".pending").write_text("{}")
    transparency.write_site(SIGNER, WitnessPolicy((), 0))
    (root.parent / "secret_key").write_text("not for the public\n")
    return root


FILES = [
    ("log.vkey", "text/plain; charset=utf-8", SHORT),
    ("witnesses.txt", "text/plain; charset=utf-8", SHORT),
    ("elections.json", "application/json", SHORT),
    (f"{SLUG}/checkpoint", "text/plain; charset=utf-8", SHORT),
    (f"{SLUG}/checkpoints/{SIZE}", "text/plain; charset=utf-8", IMMUTABLE),
    (f"{SLUG}/tile/0/000", "application/octet-stream", IMMUTABLE),
    (f"{SLUG}/tile/0/001.p/44", "application/octet-stream", PARTIAL),
    (f"{SLUG}/tile/1/000.p/1", "application/octet-stream", PARTIAL),
    (f"{SLUG}/tile/entries/000", "application/octet-stream", IMMUTABLE),
    (f"{SLUG}/tile/entries/001.p/44", "application/octet-stream", PARTIAL),
    (f"{SLUG}/results/{SIZE}.json", "application/json", IMMUTABLE),
    (f"{SLUG}/results/latest.json", "application/json", SHORT),
    (f"{SLUG}/hints/{SLUG}/1-1.json", "application/json", SHORT),
    (f"{SLUG}/scans/{sha(PDF)}", "application/pdf", IMMUTABLE),
    (f"{SLUG}/register/{sha(REGISTER)}", "application/octet-stream", IMMUTABLE),
]
COMPARED = (
    "Content-Type",
    "Content-Length",
    "ETag",
    "Cache-Control",
    "Access-Control-Allow-Origin",
    "X-Content-Type-Options",
    "Content-Security-Policy",
    "Content-Disposition",
    "Content-Encoding",
)


def same_headers(front: dict[str, str], view: Any) -> None:
    """The front's headers are the view's (Django's middleware adds Accept-Language and
    Cookie to Vary, which a front without sessions or languages need not say)."""
    for header in COMPARED:
        assert front.get(header) == view.get(header), header
    varies = {v.strip() for v in view.get("Vary", "").split(",") if v.strip()}
    assert {v.strip() for v in front.get("Vary", "").split(",") if v.strip()} <= varies


@pytest.mark.parametrize(("name", "content_type", "cache"), FILES, ids=[f[0] for f in FILES])
def test_each_class_of_file_is_served_alike_with_its_headers(
    site: Path, name: str, content_type: str, cache: str
) -> None:
    path = f"/log/{name}"
    status, headers, body = wsgi_get(path)
    assert status == "200 OK" and body == (site / name).read_bytes()
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == cache
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    view = Client().get(path)
    assert view.status_code == 200 and view.getvalue() == body
    same_headers(headers, view)
    assert wsgi_get(path, if_none_match=headers["ETag"])[0] == "304 Not Modified"
    assert Client().get(path, HTTP_IF_NONE_MATCH=headers["ETag"]).status_code == 304


def test_bundles_go_compressed_to_a_client_that_accepts_gzip(site: Path) -> None:
    import gzip

    path = f"/log/{SLUG}/tile/entries/000"
    plain = wsgi_get(path)
    assert plain[1]["Vary"] == "Accept-Encoding" and "Content-Encoding" not in plain[1]
    status, headers, body = wsgi_get(path, accept_encoding="br, gzip;q=0.8")
    assert status == "200 OK" and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == plain[2] and int(headers["Content-Length"]) == len(body)
    assert headers["ETag"] != plain[1]["ETag"]
    view = Client().get(path, HTTP_ACCEPT_ENCODING="gzip")
    assert view.getvalue() == body
    same_headers(headers, view)
    assert wsgi_get(path, accept_encoding="gzip", if_none_match=headers["ETag"])[0].startswith(
        "304"
    )
    assert "Content-Encoding" not in wsgi_get(path, accept_encoding="gzip;q=0")[1]
    assert "Content-Encoding" not in wsgi_get(f"/log/{SLUG}/tile/0/000", accept_encoding="gzip")[1]
    assert logfiles.accepts_gzip("deflate, GZIP") and not logfiles.accepts_gzip("deflate")


def test_a_scan_is_a_download(site: Path) -> None:
    headers = wsgi_get(f"/log/{SLUG}/scans/{sha(PDF)}")[1]
    assert headers["Content-Disposition"] == f'attachment; filename="{sha(PDF)}.pdf"'


def test_head_sends_the_headers_only(site: Path) -> None:
    from wsgiref.util import setup_testing_defaults

    from secki.opendata.wsgi import application

    environ = {"PATH_INFO": f"/log/{SLUG}/checkpoint", "REQUEST_METHOD": "HEAD"}
    setup_testing_defaults(environ)
    answer: dict[str, object] = {}
    body = b"".join(application(environ, lambda s, h: answer.update(status=s, headers=dict(h))))
    assert answer["status"] == "200 OK" and body == b""


MISSING = [
    f"{SLUG}/tile/0/002",  # a tile of a size not published yet
    f"{SLUG}/tile/0/001.p/45",
    f"{SLUG}/results/{SIZE + 1}.json",
    f"{SLUG}/hints/{SLUG}/9-9.json",
    f"{SLUG}/.lock",
    f"{SLUG}/.pending",
    f"{SLUG}/tile/0/.001.p.tmp",
    f"{SLUG}/../secret_key",
    f"{SLUG}/../../secret_key",
    "../secret_key",
    f"{SLUG}/scans/../../../secret_key",
    f"{SLUG}/%2e%2e/%2e%2e/secret_key",
    f"{SLUG}/..%2F..%2Fsecret_key",
    f"{SLUG}%2F..%2F..%2Fsecret_key",
    f"{SLUG}/checkpoint%00",
    f"{SLUG}/check%00point",
    f"{SLUG}//checkpoint",
    f"{SLUG}/unknown.txt",
    f"{SLUG}/",
    "nowhere/checkpoint",
    "%2Fetc%2Fpasswd",
]


@pytest.mark.parametrize("name", MISSING)
def test_a_missing_or_forbidden_file_is_a_404_cached_for_seconds(site: Path, name: str) -> None:
    from urllib.parse import unquote

    path = "/log/" + unquote(name)  # as a WSGI server decodes it: %2F is a slash
    status, headers, body = wsgi_get(path)
    assert status.startswith("404"), (path, status)
    assert headers["Cache-Control"] == SHORT
    assert b"not for the public" not in body
    view = Client().get("/log/" + name)
    assert view.status_code == 404
    assert b"not for the public" not in view.getvalue()
    if "\x00" not in path:  # a NUL is refused before any view (secki.textguard)
        assert view["Cache-Control"] == SHORT


def test_a_symlink_out_of_the_log_directory_is_not_followed(site: Path) -> None:
    outside = site.parent / "secret_key"
    link = site / SLUG / "register" / sha(b"elsewhere")
    os.symlink(outside, link)
    assert logfiles.resolve(f"{SLUG}/register/{sha(b'elsewhere')}") is None
    assert wsgi_get(f"/log/{SLUG}/register/{sha(b'elsewhere')}")[0].startswith("404")


def test_other_methods_go_to_django(site: Path) -> None:
    assert Client().post(f"/log/{SLUG}/checkpoint").status_code == 405


def test_a_station_code_with_any_character_has_a_hint_file_name() -> None:
    assert transparency.hint_path("e", "1-1") == "hints/e/1-1.json"
    assert transparency.hint_path("e", "a/b c") == "hints/e/a%2Fb%20c.json"
    assert transparency.hint_path("e", "..") == "hints/e/%2E..json"
    assert transparency.hint_path("e", "ü") == "hints/e/%C3%BC.json"
