"""Video evidence of incidents (issue 17, Build 3): MP4, QuickTime and WebM files are known by
their first bytes, their container is checked box by box (element by element) to the last byte,
they have a size limit of their own (``SECKI_INCIDENT_VIDEO_MAX_BYTES``), are hashed like the
other evidence and come back only as a sealed download to those who see the incident. Wrong
types, forged or cut containers and oversized files are refused naming the field, in the
caller's language, and nothing is stored."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from secki.elections.models import Election
from secki.errors import IntakeError
from secki.observers import video
from secki.observers.models import Accreditation, Incident, IncidentEvidence
from tests.observers.conftest import PNG, logged_in
from tests.observers.test_field import OCCURRED, accredit, incident, snapshot, team  # noqa: F401
from tests.observers.videos import box, element, mp4, quicktime, webm
from tests.personas import Persona

pytestmark = pytest.mark.django_db

MP4 = mp4()
MOV = quicktime()
WEBM = webm()
LIVE_WEBM = webm(unknown_sizes=True, clusters=3)


def upload(name: str, data: bytes, content_type: str = "video/mp4") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


# -- the container checks on their own ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [(MP4, video.MP4), (MOV, video.QUICKTIME), (WEBM, video.WEBM), (LIVE_WEBM, video.WEBM)],
)
def test_well_formed_videos_pass(data: bytes, kind: str) -> None:
    assert video.sniff(data[: video.HEAD]) == kind
    video.check(io.BytesIO(data), len(data), kind)


def test_the_type_is_judged_by_content() -> None:
    assert video.sniff(PNG[: video.HEAD]) is None
    # an ftyp box whose brands are none of the known ones; a Matroska (not WebM) document
    unknown_brand = box(b"ftyp", b"abcd\x00\x00\x00\x00abcdefgh") + MP4[32:]
    assert video.sniff(unknown_brand[: video.HEAD]) is None
    assert video.sniff(webm(doctype=b"matroska")[: video.HEAD]) is None


FORGED: list[tuple[str, bytes, str, str]] = [
    ("mp4 cut short", MP4[:-10], video.MP4, "cut short"),
    ("mp4 with bytes after the last box", MP4 + b"\x00\x01\x02", video.MP4, "stray bytes"),
    (
        "mp4 without a movie box",
        box(b"ftyp", b"isom\x00\x00\x02\x00isom") + box(b"mdat", bytes(40)),
        video.MP4,
        "moov",
    ),
    (
        "mp4 whose movie box has no track",
        box(b"ftyp", b"isom\x00\x00\x02\x00isom")
        + box(b"moov", box(b"mvhd", bytes(100)))
        + box(b"mdat", bytes(8)),
        video.MP4,
        "trak",
    ),
    (
        "mp4 whose box says it is smaller than its header",
        MP4[:32] + b"\x00\x00\x00\x04moov" + MP4[40:],
        video.MP4,
        "size",
    ),
    ("mp4 with a box of no type", MP4[:32] + MP4[32:36] + b"\x00\x01\x02\x03", video.MP4, "type"),
    ("mp4 cut where its media data starts", MP4[: MP4.index(b"mdat") - 4], video.MP4, "mdat"),
    ("webm cut short", WEBM[:-7], video.WEBM, "cut short"),
    (
        "webm recorded live, cut before its first cluster",
        LIVE_WEBM[: LIVE_WEBM.index(bytes.fromhex("1F43B675"))],
        video.WEBM,
        "Cluster",
    ),
    ("webm with garbage after its segment", WEBM + b"\xff" * 8, video.WEBM, "element"),
    ("webm recorded live, cut in a block", LIVE_WEBM[:-5], video.WEBM, "cut short"),
    (
        "webm without tracks",
        WEBM[: WEBM.index(bytes.fromhex("18538067"))]
        + element(0x18538067, element(0x1549A966, b"")),
        video.WEBM,
        "Tracks",
    ),
]


@pytest.mark.parametrize(("what", "data", "kind", "words"), FORGED, ids=[f[0] for f in FORGED])
def test_forged_or_cut_containers_are_refused(
    what: str, data: bytes, kind: str, words: str
) -> None:
    with pytest.raises(video.VideoError, match=words):
        video.check(io.BytesIO(data), len(data), kind)


@pytest.mark.parametrize(
    ("data", "kind"), [(MP4, video.MP4), (MOV, video.QUICKTIME), (WEBM, video.WEBM)]
)
def test_a_file_cut_anywhere_is_refused(data: bytes, kind: str) -> None:
    """Every box and element has a size, so any cut shows (a live WebM of unknown sizes cut
    between two blocks is a shorter recording, and is kept)."""
    for cut in range(len(data)):
        with pytest.raises(video.VideoError):
            video.check(io.BytesIO(data[:cut]), cut, kind)


# -- evidence of an incident ----------------------------------------------------------------


def test_videos_are_stored_hashed_and_served_sealed(
    election: Election,
    people: dict[str, Persona],
    team: list[Accreditation],  # noqa: F811
    media: Path,
) -> None:
    files = [
        upload("clip.mp4", MP4),
        upload("clip.mov", MOV, "video/quicktime"),
        upload("clip.webm", LIVE_WEBM, "video/webm"),
        upload("box.png", PNG, "image/png"),
    ]
    row = incident(election, people["watcher"], evidence=files)
    stored = list(row.evidence.order_by("id"))
    assert [(e.content_type, e.size) for e in stored] == [
        ("video/mp4", len(MP4)),
        ("video/quicktime", len(MOV)),
        ("video/webm", len(LIVE_WEBM)),
        ("image/png", len(PNG)),
    ]
    for e, data in zip(stored, (MP4, MOV, LIVE_WEBM, PNG), strict=True):
        assert e.sha256 == hashlib.sha256(data).hexdigest()
        assert e.file.name.endswith(f"{e.sha256}.{e.file.name.rsplit('.', 1)[-1]}")
        assert (media / e.file.name).read_bytes() == data
    assert [e.file.name.rsplit(".", 1)[-1] for e in stored] == ["mp4", "mov", "webm", "png"]

    # the incidents board shows each file with its hash and a download link
    rep = logged_in(people["applicant"])
    board = rep.get(reverse("field:incidents", args=[election.slug])).content.decode()
    first = stored[0]
    link = reverse("field:evidence", args=[election.slug, first.pk])
    assert f'data-sha256="{first.sha256}"' in board and link in board
    # a sealed download for the coordinator and the observer who reported it
    for client in (rep, logged_in(people["watcher"]), logged_in(people["cec"])):
        answer = client.get(link)
        assert answer.status_code == 200
        assert b"".join(answer.streaming_content) == MP4  # type: ignore[attr-defined]
        assert answer["Content-Type"] == "video/mp4"
        assert answer["Content-Disposition"].startswith("attachment;")
        assert "sandbox" in answer["Content-Security-Policy"]
        assert answer["ETag"] == f'"{first.sha256}"'
        assert answer["X-Content-Type-Options"] == "nosniff"
    # another organisation's coordinator, an observer of the same organisation who did not
    # report it, somebody with no role: refused
    accredit(election, people["applicant2"], "Other", org="Other Org")
    for who in ("applicant2", "watcher2", "outsider"):
        assert logged_in(people[who]).get(link).status_code == 403, who
    assert rep.get(reverse("field:evidence", args=[election.slug, 999999])).status_code == 404


def refused(election: Election, who: Persona, files: list[SimpleUploadedFile]) -> IntakeError:
    with pytest.raises(IntakeError) as exc:
        incident(election, who, evidence=files)
    return exc.value


def test_bad_videos_name_the_field_and_store_nothing(
    election: Election,
    people: dict[str, Persona],
    team: list[Accreditation],  # noqa: F811
    media: Path,
    settings: Any,
) -> None:
    watcher = people["watcher"]
    before = snapshot()
    cases = [
        ([upload("clip.mp4", MP4[:-10])], "invalid_video"),
        ([upload("clip.webm", WEBM[:-3], "video/webm")], "invalid_video"),
        ([upload("clip.mkv", webm(doctype=b"matroska"), "video/webm")], "unsupported_type"),
        ([upload("clip.mp4", b"\x00\x00\x00\x18ftypabcd" + bytes(40))], "unsupported_type"),
        # a good photo with a forged video: neither is kept
        ([upload("box.png", PNG, "image/png"), upload("clip.mp4", MP4 + b"junk")], "invalid_video"),
    ]
    for files, code in cases:
        error = refused(election, watcher, files)
        assert (error.field, error.code) == ("evidence", code), files
        assert files[-1].name in error.message
    settings.SECKI_INCIDENT_VIDEO_MAX_BYTES = len(MP4) - 1
    error = refused(election, watcher, [upload("clip.mp4", MP4)])
    assert (error.field, error.code, error.status) == ("evidence", "file_too_large", 413)
    # photos keep the scans' limit, not the videos'
    assert incident(election, watcher, evidence=[upload("box.png", PNG, "image/png")])
    assert Incident.objects.count() == 1 and IncidentEvidence.objects.count() == 1
    Incident.objects.all().delete()
    assert snapshot()[3:5] == before[3:5]
    assert not [p for p in media.rglob("*") if p.suffix in (".mp4", ".webm", ".mov")]
    # the error in the observer's language
    with translation.override("ru"):
        message = refused(election, watcher, [upload("clip.mp4", MP4[:-10])]).message
    assert message.startswith("evidence: clip.mp4") and "MP4" in message
    assert "well-formed" not in message


def test_the_phone_form_takes_a_video(
    election: Election,
    people: dict[str, Persona],
    team: list[Accreditation],  # noqa: F811
) -> None:
    watcher = logged_in(people["watcher"])
    url = reverse("field:incident", args=[election.slug])
    form = watcher.get(url).content.decode()
    assert "video/mp4" in form and "video/webm" in form
    values = {
        "station": "1-1",
        "category": "ballot_stuffing",
        "occurred_at": OCCURRED,
        "description": "a stack of ballots",
    }
    bad = watcher.post(url, {**values, "evidence": upload("c.mp4", MP4[:-1])})
    assert bad.status_code == 422 and Incident.objects.count() == 0
    good = watcher.post(url, {**values, "evidence": upload("c.webm", WEBM, "video/webm")})
    assert good.status_code == 302
    assert IncidentEvidence.objects.get().sha256 == hashlib.sha256(WEBM).hexdigest()


def test_the_api_takes_an_incident_with_its_evidence_once(
    election: Election,
    people: dict[str, Persona],
    team: list[Accreditation],  # noqa: F811
) -> None:
    from secki.accounts.models import ApiToken

    _, raw = ApiToken.issue(people["watcher"].user, "phone")
    url = f"/api/v1/elections/{election.slug}/observers/incidents/with-evidence"
    fields = {
        "station": "1-1",
        "category": "ballot_stuffing",
        "occurred_at": OCCURRED,
        "description": "a stack of ballots",
    }

    def send(key: str, *files: SimpleUploadedFile) -> Any:
        return Client().post(
            url,
            {**fields, "evidence": list(files)},
            HTTP_AUTHORIZATION=f"Bearer {raw}",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first = send("phone-1", upload("c.mp4", MP4), upload("p.png", PNG, "image/png"))
    assert first.status_code == 201, first.content
    again = send("phone-1", upload("c.mp4", MP4), upload("p.png", PNG, "image/png"))
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    assert first.json()["evidence"] == [
        hashlib.sha256(MP4).hexdigest(),
        hashlib.sha256(PNG).hexdigest(),
    ]
    assert Incident.objects.count() == 1 and IncidentEvidence.objects.count() == 2
    bad = send("phone-2", upload("c.webm", WEBM[:-4], "video/webm"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "evidence"
    assert Incident.objects.count() == 1 and IncidentEvidence.objects.count() == 2
