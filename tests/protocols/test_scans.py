"""Scans of paper protocols with published hashes: upload through the API and the staff page,
every kind of bad input refused with nothing stored (no row, no ledger entry, no file), the
public file only once its protocol version is published, the hash on the station page, in the
station JSON and in the open-data release, and ``secki verify-scans`` catching altered files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.accounts import actions
from secki.bundle.read import BundleError, read_bundle
from secki.cli import cli
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.intake.bundle_io import import_bundle
from secki.ledger import chain
from secki.ledger.models import LedgerEntry
from secki.opendata import snapshots
from secki.portal import http
from secki.protocols import scans
from secki.protocols.actions import amend_protocol, publish_protocol, submit_protocol
from secki.protocols.models import Protocol, ProtocolScan
from secki.results import tabulate
from secki.tlog.entries import format_time
from tests.factories import write_small_bundle
from tests.logcheck import bodies, check_log
from tests.personas import Persona, make_personas
from tests.portal.conftest import protocol_data

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"


def image(kind: str, size: tuple[int, int] = (8, 6), grey: int = 200) -> bytes:
    """A real, decodable image (scans are decoded whole: secki.protocols.scan_content)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", size, grey).save(out, kind)
    return out.getvalue()


PNG = image("PNG")
JPEG = image("JPEG")


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Uploads and open-data files in this test's own directories; pages always fresh."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.VAR_DIR = tmp_path / "var"
    settings.SECKI_SNAPSHOT_AUTO = False
    monkeypatch.setattr(http, "ROW_SECONDS", 0.0)
    http.pages.clear()
    tabulate._cache.clear()
    yield tmp_path / "media"
    http.pages.clear()
    tabulate._cache.clear()


def load(directory: Path, **overrides: Any) -> Election:
    source = write_small_bundle(directory, **overrides)
    (source / "protocols.csv").unlink()
    return import_bundle(read_bundle(source))


def station(election: Election, code: str) -> Station:
    return Station.objects.get(election=election, code=code)


@pytest.fixture
def small(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    """The small bundle; stations 1-1, 1-2 and 2-1 have an accepted (published) protocol,
    2-2 has none."""
    election = load(tmp_path / "small", slug="scanland-2024")
    people = make_personas(election)
    for code in ("1-1", "1-2", "2-1"):
        submit_protocol(
            election, station(election, code), protocol_data(code), actor=people["cec"].user
        )
    return election, people


def url(election: Election, code: str) -> str:
    return f"/api/v1/elections/{election.slug}/stations/{code}/scans"


def upload(
    client: Client,
    election: Election,
    code: str,
    content: bytes | None,
    name: str = "protocol.pdf",
    content_type: str = "application/pdf",
    **headers: str,
) -> Any:
    data = {} if content is None else {"file": SimpleUploadedFile(name, content, content_type)}
    return client.post(url(election, code), data, **headers)


def files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def state() -> tuple[int, int]:
    return ProtocolScan.objects.count(), LedgerEntry.objects.count()


# -- upload through the API ----------------------------------------------------------------


def test_api_upload_stores_file_hash_and_ledger_fact(
    small: tuple[Election, dict[str, Persona]], media: Path
) -> None:
    election, people = small
    response = upload(people["st11"].client(), election, "1-1", PDF, name="scan.PDF")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sha256"] == sha(PDF) and body["size"] == len(PDF)
    assert body["content_type"] == "application/pdf"
    assert body["station"] == "1-1" and body["version"] == 1 and body["number"] == 1
    assert body["url"] == f"http://testserver/e/{election.slug}/s/1-1/scans/1/"
    assert body["public"] is True  # the election publishes accepted protocols at once
    scan = ProtocolScan.objects.get()
    assert scan.protocol == Protocol.objects.get(station__code="1-1", is_current=True)
    assert scan.uploaded_by == people["st11"].user and scan.source == "api"
    assert scan.original_name == "scan.PDF"
    stored = files(media)
    assert len(stored) == 1 and stored[0].read_bytes() == PDF
    assert stored[0].name == f"{sha(PDF)}.pdf"
    # the hash is a public fact in the log, with the scan's station and protocol version
    entry = LedgerEntry.objects.get(seq=body["ledger_seq"])
    assert entry.kind == "scan.uploaded" and entry == scan.ledger
    assert entry.subject == "scan:1-1" and entry.version == 1
    assert json.loads(entry.body) == {
        "kind": "scan.uploaded",
        "election": election.slug,
        "station": "1-1",
        "version": 1,
        "scan_sha256": sha(PDF),
        "size": len(PDF),
        "content_type": "application/pdf",
        "uploaded_at": format_time(scan.uploaded_at),
    }
    assert chain.verify().ok
    check_log(election)


def test_type_comes_from_the_content_and_reuploads_are_new_scans(
    small: tuple[Election, dict[str, Persona]], media: Path
) -> None:
    election, people = small
    cec = people["cec"].client()
    # a PNG sent under a .pdf name and type is stored as what it is
    png = upload(cec, election, "1-2", PNG, name="looks.pdf", content_type="application/pdf")
    assert png.status_code == 201 and png.json()["content_type"] == "image/png"
    jpeg = upload(cec, election, "1-2", JPEG, name="photo.bin", content_type="text/plain")
    assert jpeg.status_code == 201 and jpeg.json()["content_type"] == "image/jpeg"
    assert [s.number for s in ProtocolScan.objects.filter(station__code="1-2")] == [1, 2]
    # the same file for the same version again: refused, nothing stored
    before, on_disk = state(), files(media)
    again = upload(cec, election, "1-2", PNG, name="again.png", content_type="image/png")
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"
    assert "scan 1" in again.json()["error"]["message"]
    assert state() == before and files(media) == on_disk
    # after an amendment the same bytes are a scan of the new version (one file on disk)
    data = protocol_data("1-2")
    changed = type(data)(
        {**data.counts, "L2": data.counts["L2"] + 1}, data.instants, data.candidates
    )
    amend_protocol(
        station(election, "1-2"), changed, actor=people["cec"].user, reason="typo in line 2"
    )
    third = upload(cec, election, "1-2", PNG, name="again.png", content_type="image/png")
    assert third.status_code == 201, third.content
    assert third.json()["version"] == 2 and third.json()["number"] == 3
    assert files(media) == on_disk
    versions = {s.number: s.protocol.version for s in ProtocolScan.objects.all()}
    assert versions == {1: 1, 2: 1, 3: 2}
    # every scan was logged, in order, with the protocol version it belongs to
    logged = bodies(election, "scan.uploaded")
    assert [(b["version"], b["scan_sha256"]) for b in logged] == [
        (1, sha(PNG)),
        (1, sha(JPEG)),
        (2, sha(PNG)),
    ]
    check_log(election)


def test_a_protocol_published_after_its_scan_names_the_scan(tmp_path: Path, media: Path) -> None:
    election = load(tmp_path / "later", slug="laterland-2024")
    election.auto_publish = False
    election.save()
    people = make_personas(election)
    outcome = submit_protocol(
        election, station(election, "1-1"), protocol_data("1-1"), actor=people["cec"].user
    )
    assert outcome.protocol.status == "accepted"
    assert upload(people["cec"].client(), election, "1-1", PDF).status_code == 201
    assert (
        upload(people["cec"].client(), election, "1-1", PNG, "p.png", "image/png").status_code
        == 201
    )
    publish_protocol(outcome.protocol, actor=people["cec"].user)
    published = bodies(election, "protocol.accepted")
    assert len(published) == 1 and published[0]["scan_sha256"] == sha(PNG)  # the latest scan
    check_log(election)


BAD: list[tuple[str, str, str, bytes | None, int, str, str | None]] = [
    # id, persona, station, content, status, code, field
    ("no file", "cec", "1-1", None, 400, "invalid_request", "file"),
    ("empty file", "cec", "1-1", b"", 400, "empty_file", "file"),
    ("not a scan", "cec", "1-1", b"L1,L2\n1000,3\n", 415, "unsupported_type", "file"),
    (
        "html named pdf",
        "cec",
        "1-1",
        b"<html><script>x()</script>",
        415,
        "unsupported_type",
        "file",
    ),
    ("too large", "cec", "1-1", PDF + b"0" * 200, 413, "file_too_large", "file"),
    ("unknown station", "cec", "9-9", PDF, 422, "unknown_station", "station"),
    ("no protocol yet", "cec", "2-2", PDF, 409, "no_protocol", None),
    ("observer", "observer", "1-1", PDF, 403, "forbidden_role", None),
    ("supervisor", "supervisor", "1-1", PDF, 403, "forbidden_role", None),
    ("no role", "outsider", "1-1", PDF, 403, "forbidden_role", None),
    ("other station", "st11", "1-2", PDF, 403, "forbidden_territory", None),
    ("other constituency", "con1", "2-1", PDF, 403, "forbidden_territory", None),
]


@pytest.mark.parametrize(
    ("persona", "code", "content", "status", "error", "field"),
    [b[1:] for b in BAD],
    ids=[b[0] for b in BAD],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    small: tuple[Election, dict[str, Persona]],
    media: Path,
    settings: Any,
    persona: str,
    code: str,
    content: bytes | None,
    status: int,
    error: str,
    field: str | None,
) -> None:
    election, people = small
    settings.SECKI_SCAN_MAX_BYTES = len(PDF) + 100
    before = state()
    response = upload(people[persona].client(), election, code, content)
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == error
    assert body["error"].get("field") == field
    if field == "file":
        assert body["error"]["message"].startswith("file:")
    assert state() == before
    assert files(media) == []


def test_too_large_names_the_limit(
    small: tuple[Election, dict[str, Persona]], settings: Any
) -> None:
    election, people = small
    settings.SECKI_SCAN_MAX_BYTES = 1024 * 1024
    response = upload(people["cec"].client(), election, "1-1", PDF + b"0" * (3 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "file: 3.0 MB is more than the 1.0 MB a scan may have (1048576 bytes)"
    )


def test_other_election_anonymous_closed_and_unknown_election(
    small: tuple[Election, dict[str, Persona]], tmp_path: Path, media: Path
) -> None:
    election, people = small
    other = load(tmp_path / "other", slug="other-2024")
    other.stations.filter(code="1-1").update(code="7-7")
    before = state()
    cec = people["cec"].client()
    response = upload(cec, election, "7-7", PDF)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "other_election"
    assert "other-2024" in response.json()["error"]["message"]
    response = upload(Client(), election, "1-1", PDF)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    response = upload(Client(HTTP_AUTHORIZATION="Bearer secki_nonsense"), election, "1-1", PDF)
    assert response.status_code == 401
    response = cec.post(
        "/api/v1/elections/nope/stations/1-1/scans", {"file": SimpleUploadedFile("a.pdf", PDF)}
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    election.status = "closed"
    election.save()
    response = upload(cec, election, "1-1", PDF)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "election_closed"
    assert state() == before and files(media) == []


def test_the_action_refuses_a_station_of_another_election(
    small: tuple[Election, dict[str, Persona]], tmp_path: Path, media: Path
) -> None:
    election, people = small
    other = load(tmp_path / "other", slug="other-2024")
    foreign = station(other, "1-1")
    with pytest.raises(IntakeError) as refused:
        scans.upload_scan(
            election, foreign, SimpleUploadedFile("a.pdf", PDF), actor=people["cec"].user
        )
    assert refused.value.code == "other_election"
    assert files(media) == []


def test_a_failure_after_the_file_is_written_leaves_no_file(
    small: tuple[Election, dict[str, Persona]],
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    election, people = small

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(chain, "append", broken)
    before = state()
    with pytest.raises(RuntimeError, match="ledger unavailable"):
        scans.upload_scan(
            election,
            station(election, "1-1"),
            SimpleUploadedFile("a.pdf", PDF),
            actor=people["cec"].user,
        )
    assert state() == before
    assert files(media) == []


def test_idempotency_key_returns_the_first_answer(
    small: tuple[Election, dict[str, Persona]], media: Path
) -> None:
    election, people = small
    cec = people["cec"].client()
    first = upload(cec, election, "1-1", PDF, HTTP_IDEMPOTENCY_KEY="scan-1")
    assert first.status_code == 201
    before = state()
    again = upload(cec, election, "1-1", PDF, HTTP_IDEMPOTENCY_KEY="scan-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert state() == before and len(files(media)) == 1
    other = upload(cec, election, "1-1", PNG, HTTP_IDEMPOTENCY_KEY="scan-1")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert state() == before


# -- the staff page ---------------------------------------------------------------------------


def test_staff_page_uploads_lists_and_refuses_with_the_problem(
    small: tuple[Election, dict[str, Persona]], media: Path
) -> None:
    election, people = small
    operator = Client()
    operator.force_login(people["st11"].user)
    page = f"/staff/e/{election.slug}/stations/1-1/"
    form = f"/staff/e/{election.slug}/stations/1-1/scans/"
    html = operator.get(page).content.decode()
    assert 'id="scan-form"' in html and f'action="{form}"' in html
    response = operator.post(form, {"file": SimpleUploadedFile("p.jpg", JPEG, "image/jpeg")})
    assert response.status_code == 302 and response["Location"] == page
    scan = ProtocolScan.objects.get()
    assert scan.source == "form" and scan.content_type == "image/jpeg"
    html = operator.get(page).content.decode()
    assert f"SHA-256 {sha(JPEG)} published in ledger entry #{scan.ledger.seq}" in html
    assert f'href="/e/{election.slug}/s/1-1/scans/1/"' in html and sha(JPEG) in html
    # a wrong file: the page again with the problem (HTTP 415), nothing stored
    before = state()
    refused = operator.post(form, {"file": SimpleUploadedFile("p.pdf", b"GIF89a...", "image/gif")})
    assert refused.status_code == 415
    text = refused.content.decode()
    assert "unsupported_type" in text and "Nothing was stored." in text
    assert 'aria-invalid="true"' in text
    missing = operator.post(form, {})
    assert missing.status_code == 400 and "missing_file" in missing.content.decode()
    assert state() == before and len(files(media)) == 1
    # outside the operator's station: no form, and a post is refused
    other = f"/staff/e/{election.slug}/stations/1-2/"
    assert operator.get(other).status_code == 403
    denied = operator.post(f"{other}scans/", {"file": SimpleUploadedFile("p.pdf", PDF)})
    assert denied.status_code == 403 and "forbidden_territory" in denied.content.decode()
    # an observer sees the scans but has no upload form, and a post is refused by role
    observer = Client()
    observer.force_login(people["observer"].user)
    html = observer.get(page).content.decode()
    assert sha(JPEG) in html and 'id="scan-form"' not in html
    denied = observer.post(form, {"file": SimpleUploadedFile("p.pdf", PDF)})
    assert denied.status_code == 403 and "forbidden_role" in denied.content.decode()
    assert operator.get(form).status_code == 405
    assert state() == before


# -- publication -----------------------------------------------------------------------------


def test_file_is_public_only_once_its_version_is_published(tmp_path: Path) -> None:
    election = load(tmp_path / "held", slug="held-2024")
    election.auto_publish = False
    election.save()
    people = make_personas(election)
    cec = people["cec"]
    submit_protocol(election, station(election, "1-1"), protocol_data("1-1"), actor=cec.user)
    assert upload(cec.client(), election, "1-1", PDF).status_code == 201
    file_url = f"/e/{election.slug}/s/1-1/scans/1/"
    page_url = f"/e/{election.slug}/s/1-1/"
    api_url = url(election, "1-1")
    # accepted, not published: the public does not see it, officials and observers do
    assert Client().get(file_url).status_code == 404
    assert Client().get(api_url).json() == []
    assert sha(PDF) not in Client().get(page_url).content.decode()
    staff = people["observer"].client().get(file_url)
    assert staff.status_code == 200 and staff.getvalue() == PDF
    assert staff["Cache-Control"] == "private, no-cache"
    assert [s["public"] for s in people["observer"].client().get(api_url).json()] == [False]
    session = Client()
    session.force_login(people["observer"].user)
    assert session.get(file_url).status_code == 200
    assert sha(PDF) in session.get(page_url).content.decode()
    assert people["outsider"].client().get(file_url).status_code == 404
    # published: everyone may download it, with the hash as ETag
    publish_protocol(Protocol.objects.get(station__code="1-1"), actor=people["supervisor"].user)
    response = Client().get(file_url)
    assert response.status_code == 200
    assert response.getvalue() == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["ETag"] == f'"{sha(PDF)}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(PDF))
    # a download, never a page of the site (tests/security/test_scans.py)
    assert response["Content-Disposition"] == (
        f'attachment; filename="{election.slug}-1-1-v1-scan1.pdf"'
    )
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "immutable" in response["Cache-Control"]
    again = Client().get(file_url, HTTP_IF_NONE_MATCH=f'"{sha(PDF)}"')
    assert again.status_code == 304 and again["ETag"] == f'"{sha(PDF)}"'
    assert Client().get(f"/e/{election.slug}/s/1-1/scans/2/").status_code == 404
    assert Client().get(f"/e/{election.slug}/s/1-2/scans/1/").status_code == 404
    assert Client().get("/e/nope/s/1-1/scans/1/").status_code == 404


def test_station_page_json_and_open_data_show_the_hash(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    upload(people["cec"].client(), election, "1-1", PDF)
    upload(people["cec"].client(), election, "1-1", PNG, "p.png", "image/png")
    scan = ProtocolScan.objects.get(number=1)
    # the public station page: link, hash in groups of four, size, time of upload
    html = Client().get(f"/e/{election.slug}/s/1-1/").content.decode()
    table = html.split('id="scans"', 1)[1].split("</table>", 1)[0]
    assert f'href="/e/{election.slug}/s/1-1/scans/1/"' in table
    assert f'href="/e/{election.slug}/s/1-1/scans/2/"' in table
    # the file's type apart from the link's name, not "Scan 2PNG"
    words = " ".join(re.sub(r"<[^>]+>", "", table).split())
    assert "Scan 2 (PNG file)" in words and "Scan 1 (PDF file)" in words
    assert " ".join(sha(PDF)[i : i + 4] for i in range(0, 64, 4)) in table
    assert f'data-size="{len(PDF)}"' in table and "bytes" in table
    assert "No scan of the paper protocol" not in html
    assert (
        "No scan of the paper protocol"
        in Client().get(f"/e/{election.slug}/s/1-2/").content.decode()
    )
    # the results API's station JSON
    body = Client().get(f"/api/v1/elections/{election.slug}/results/stations/1-1").json()
    assert [(s["number"], s["sha256"], s["size"]) for s in body["scans"]] == [
        (1, sha(PDF), len(PDF)),
        (2, sha(PNG), len(PNG)),
    ]
    assert body["scans"][0]["url"] == f"http://testserver/e/{election.slug}/s/1-1/scans/1/"
    assert body["scans"][0]["uploaded_at"] == scan.uploaded_at.isoformat()
    # the snapshot's unit document and the release's scans.csv
    snapshots.write_live(election)
    live = snapshots.election_dir(election) / "live"
    unit = json.loads((live / "units" / "1.json").read_text())
    first = next(s for s in unit["stations"] if s["station"] == "1-1")
    assert [s["sha256"] for s in first["scans"]] == [sha(PDF), sha(PNG)]
    assert first["scans"][0]["url"] == f"/e/{election.slug}/s/1-1/scans/1/"
    release = snapshots.make_release(election)
    rows = list(csv.DictReader(io.StringIO((release / "scans.csv").read_text())))
    assert [(r["station"], r["version"], r["scan"], r["sha256"], r["size"]) for r in rows] == [
        ("1-1", "1", "1", sha(PDF), str(len(PDF))),
        ("1-1", "1", "2", sha(PNG), str(len(PNG))),
    ]
    assert rows[0]["url"] == f"/e/{election.slug}/s/1-1/scans/1/"
    assert rows[0]["uploaded_at"] == scan.uploaded_at.astimezone(election.tz).isoformat()
    manifest = json.loads((release / "manifest.json").read_text())
    listed = {f["name"]: f for f in manifest["files"]}
    assert listed["scans.csv"]["size"] == (release / "scans.csv").stat().st_size
    assert f"{listed['scans.csv']['sha256']}  scans.csv" in (release / "SHA256SUMS").read_text()
    page = Client().get(f"/data/{election.slug}/").content.decode()
    assert f'href="/data/{election.slug}/{release.name}/scans.csv"' in page
    download = Client().get(f"/data/{election.slug}/{release.name}/scans.csv")
    assert download["Content-Type"] == "text/csv; charset=utf-8"


def test_live_snapshot_catches_up_with_a_new_scan_and_public_url(
    small: tuple[Election, dict[str, Persona]], settings: Any
) -> None:
    election, people = small
    settings.SECKI_PUBLIC_URL = "https://results.example.org"
    snapshots.write_live(election, keep=True)
    upload(people["cec"].client(), election, "2-1", JPEG, "p.jpg", "image/jpeg")
    live = snapshots.update_live(election)  # by the ledger's new entry, not a full rewrite
    assert live is not None
    rows = list(csv.DictReader(io.StringIO((live / "scans.csv").read_text())))
    assert [(r["station"], r["sha256"]) for r in rows] == [("2-1", sha(JPEG))]
    assert rows[0]["url"] == f"https://results.example.org/e/{election.slug}/s/2-1/scans/1/"
    unit = json.loads((live / "units" / "2.json").read_text())
    assert next(s for s in unit["stations"] if s["station"] == "2-1")["scans"][0]["size"] == len(
        JPEG
    )


# -- verification ----------------------------------------------------------------------------


def test_verify_scans_finds_altered_files_rows_and_ledger_entries(
    small: tuple[Election, dict[str, Persona]], media: Path
) -> None:
    election, people = small
    upload(people["cec"].client(), election, "1-1", PDF)
    upload(people["cec"].client(), election, "1-2", PNG, "p.png", "image/png")
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify-scans"])
    assert ok.exit_code == 0, ok.output
    assert f"OK: 2 scans, {len(PDF) + len(PNG)} bytes" in ok.output
    # one byte of the PDF changed on disk
    path = media / ProtocolScan.objects.get(number=1, station__code="1-1").file.name
    path.write_bytes(PDF.replace(b"1.7", b"1.6"))
    failed = runner.invoke(cli, ["verify-scans"])
    assert failed.exit_code == 1
    assert "station 1-1 scan 1" in failed.output
    assert f"the file's SHA-256 is {sha(PDF.replace(b'1.7', b'1.6'))}" in failed.output
    assert "1 problem(s) in 2 scans" in failed.output
    path.write_bytes(PDF)
    assert runner.invoke(cli, ["verify-scans"]).exit_code == 0
    # the database's hash edited to match a forged file: the ledger still has the original
    forged = PDF + b"%forged\n"
    path.write_bytes(forged)
    ProtocolScan.objects.filter(number=1, station__code="1-1").update(
        sha256=sha(forged), size=len(forged)
    )
    failed = runner.invoke(cli, ["verify-scans"])
    assert failed.exit_code == 1
    assert f"published scan_sha256 '{sha(PDF)}', the database says '{sha(forged)}'" in failed.output
    # a missing file, and a published scan whose row was deleted
    (media / ProtocolScan.objects.get(station__code="1-2").file.name).unlink()
    ProtocolScan.objects.filter(station__code="1-1").delete()
    failed = runner.invoke(cli, ["verify-scans"])
    assert failed.exit_code == 1
    assert "station 1-2 scan 1" in failed.output and "cannot be read" in failed.output
    assert "which the database no longer has" in failed.output


def test_deleting_a_simulated_election_removes_its_scan_files(
    small: tuple[Election, dict[str, Persona]],
    media: Path,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    election, people = small
    assert upload(people["st11"].client(), election, "1-1", PDF).status_code == 201
    assert len(files(media)) == 1
    source = write_small_bundle(tmp_path / "again", slug=election.slug)
    (source / "protocols.csv").unlink()
    # an election with protocols is never replaced (tests/security/test_audit.py) …
    with pytest.raises(BundleError, match="replacing it would discard them"):
        import_bundle(read_bundle(source), replace=True)
    assert ProtocolScan.objects.count() == 1 and len(files(media)) == 1
    # … but a simulated one (the demo's) may be deleted, and its scan files go with it
    Election.objects.filter(pk=election.pk).update(simulated=True)
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_election(None, election)
    assert ProtocolScan.objects.count() == 0
    assert files(media) == []
