"""Hostile scans (issue 12): a PNG header followed by HTML, and a PDF with /JavaScript, were
accepted and served inline from the site's origin. Now the whole file is checked
(secki.protocols.scan_content) and every scan is served as a download with a sandboxing
Content-Security-Policy: both attacks and their variants are refused with nothing stored, and
real images and PDFs (made by Pillow and matplotlib) are still accepted and served."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election
from secki.errors import IntakeError
from secki.protocols import scan_content
from tests.personas import Persona
from tests.protocols import test_scans as base
from tests.protocols.test_scans import files, image, sha, state, upload

# fixtures: the small election with its personas; each test's own media directory (autouse)
small = base.small
media = base.media

HTML = b"<!doctype html><html><body><script>fetch('/staff/').then(alert)</script></body></html>"
SANDBOX = "default-src 'none'; sandbox"


def pdf(*objects: bytes, trailer: bytes = b"<< /Root 1 0 R >>") -> bytes:
    """A PDF file of ``objects`` (each the text between ``N 0 obj`` and ``endobj``)."""
    body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    for number, text in enumerate(objects, start=1):
        body += b"%d 0 obj\n" % number + text + b"\nendobj\n"
    return body + b"trailer\n" + trailer + b"\n%%EOF\n"


def stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def object_stream(objects: bytes, *, filters: str = "/FlateDecode", rounds: int = 1) -> bytes:
    """An object stream (PDF 1.5) holding ``objects``, compressed ``rounds`` times."""
    data = b"2 0 " + objects
    for _ in range(rounds):
        data = zlib.compress(data)
    return stream(b"/Type /ObjStm /N 1 /First 4 /Filter " + filters.encode(), data)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
JAVASCRIPT = b"<< /Type /Catalog /Names << /JavaScript << /Names [(x) 3 0 R] >> >> >>"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` grey pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows: the header is the threat
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def saved(mode: str, kind: str, **options: Any) -> bytes:
    """A 300 × 200 picture with some detail, as a scanner's software might save it."""
    from PIL import Image, ImageDraw

    picture = Image.new(mode, (300, 200), "white")
    draw = ImageDraw.Draw(picture)
    for row in range(0, 200, 20):
        draw.text((10, row), f"L{row // 20}  {row * 37:,}", fill="black")
    if options.pop("with_exif", False):
        exif = picture.getexif()
        exif[0x010F] = "Scanner Co."  # Make
        exif[0x0131] = "ScanApp 2.1"  # Software
        options["exif"] = exif
    out = io.BytesIO()
    picture.save(out, kind, **options)
    return out.getvalue()


def pillow_pdf() -> bytes:
    """A one-page scan as Pillow writes it (a JPEG image in a PDF)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 160), (240, 240, 230)).save(out, "PDF", resolution=50)
    return out.getvalue()


def matplotlib_pdf() -> bytes:
    """A PDF with text, fonts and compressed content streams (matplotlib's backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 2))
    axes.plot([1, 2, 3], [3, 1, 2])
    axes.set_title("Protocol No. 1")
    out = io.BytesIO()
    figure.savefig(out, format="pdf")
    plt.close(figure)
    return out.getvalue()


# -- the two attacks of the issue, through the API -------------------------------------------


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + HTML, "damaged_file", "not a readable PNG image"),
        (image("PNG") + HTML, "trailing_data", "follow the end of the PNG image (its IEND chunk)"),
        (image("JPEG") + HTML, "trailing_data", "follow the end of the JPEG image (its EOI"),
        # HTML after the image, made to end with an EOI marker all the same
        (image("JPEG") + HTML + b"\xff\xd9", "trailing_data", "its EOI marker"),
        (pdf(JAVASCRIPT), "active_content", "/JavaScript (JavaScript)"),
        (pdf(CATALOG) + HTML, "trailing_data", "does not end with %EOF: it is cut short"),
    ],
    ids=[
        "png-header-html",
        "png-then-html",
        "jpeg-then-html",
        "jpeg-html-eoi",
        "pdf-js",
        "pdf-html",
    ],
)
@pytest.mark.django_db
def test_the_attacks_are_refused_and_nothing_is_stored(
    small: tuple[Election, dict[str, Persona]], media: Path, content: bytes, code: str, words: str
) -> None:
    election, people = small
    before = state()
    response = upload(people["cec"].client(), election, "1-1", content)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["field"] == "file"
    assert words in error["message"], error["message"]
    assert state() == before and files(media) == []


@pytest.mark.django_db
def test_the_staff_page_refuses_them_too(
    small: tuple[Election, dict[str, Persona]], media: Path
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    election, people = small
    operator = Client()
    operator.force_login(people["st11"].user)
    before = state()
    form = f"/staff/e/{election.slug}/stations/1-1/scans/"
    response = operator.post(form, {"file": SimpleUploadedFile("p.pdf", pdf(JAVASCRIPT))})
    assert response.status_code == 422
    text = response.content.decode()
    assert "active_content" in text and "/JavaScript" in text and "Nothing was stored." in text
    assert state() == before and files(media) == []


# -- the rules, one by one -------------------------------------------------------------------


def refused(content: bytes, kind: str) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        scan_content.check(content, kind)
    assert caught.value.field == "file" and caught.value.status == 422
    return caught.value


@pytest.mark.parametrize(
    ("name", "objects"),
    [
        ("JavaScript", [JAVASCRIPT]),
        ("JS", [CATALOG, b"<< /S /JavaScript#20 /JS (app.alert(1)) >>".replace(b"#20", b"")]),
        ("OpenAction", [b"<< /Type /Catalog /OpenAction 2 0 R >>", b"<< /S /GoTo >>"]),
        ("AA", [b"<< /Type /Page /AA << /O 3 0 R >> >>"]),
        ("Launch", [CATALOG, b"<< /S /Launch /F (calc.exe) >>"]),
        ("EmbeddedFile", [CATALOG, stream(b"/Type /EmbeddedFile", b"MZ\x90\x00")]),
        ("RichMedia", [CATALOG, b"<< /Type /Annot /Subtype /RichMedia >>"]),
        ("XFA", [b"<< /Type /Catalog /AcroForm << /XFA 3 0 R >> >>"]),
        ("SubmitForm", [CATALOG, b"<< /S /SubmitForm /F (https://x.example) >>"]),
    ],
)
def test_active_content_is_refused_naming_the_rule(name: str, objects: list[bytes]) -> None:
    error = refused(pdf(*objects), "application/pdf")
    assert error.code == "active_content"
    assert f"/{name} (" in error.message or (name == "JS" and "/JS (JavaScript)" in error.message)


@pytest.mark.parametrize(
    "spelling", [b"/J#61vaScript", b"/#4A#61#76#61#53#63#72#69#70#74", b"/Open#41ction"]
)
def test_hex_escaped_names_are_decoded(spelling: bytes) -> None:
    catalog = b"<< /Type /Catalog " + spelling + b" 2 0 R >>"
    error = refused(pdf(catalog, b"<< /S /GoTo >>"), "application/pdf")
    assert error.code == "active_content"
    assert "/JavaScript" in error.message or "/OpenAction" in error.message


@pytest.mark.parametrize("rounds", [1, 2])
@pytest.mark.parametrize("declared", [True, False], ids=["ObjStm", "untyped"])
def test_active_content_inside_compressed_object_streams(rounds: int, declared: bool) -> None:
    """Objects can sit in a Flate-compressed object stream (PDF 1.5); a reader finds the stream
    through the cross-reference table whether or not it says /Type /ObjStm."""
    hidden = object_stream(
        b"<< /S /JavaScript /JS (app.alert(1)) >>",
        filters="[/FlateDecode /FlateDecode]" if rounds == 2 else "/FlateDecode",
        rounds=rounds,
    )
    if not declared:
        hidden = hidden.replace(b"/Type /ObjStm ", b"")
    error = refused(pdf(CATALOG, hidden), "application/pdf")
    assert error.code == "active_content" and "/JS" in error.message


@pytest.mark.parametrize(
    ("objects", "words"),
    [
        (
            [CATALOG, object_stream(b"<< /JS (x) >>", filters="/ASCIIHexDecode", rounds=0)],
            "ASCIIHexDecode",
        ),
        (
            [
                CATALOG,
                stream(
                    b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode "
                    b"/DecodeParms << /Predictor 12 /Columns 4 >>",
                    zlib.compress(b"2 0 << >>"),
                ),
            ],
            "a predictor",
        ),
        (
            [CATALOG, stream(b"/Type /ObjStm /N 1 /First 4 /Filter 9 0 R", b"2 0 << >>")],
            "an indirect filter",
        ),
    ],
    ids=["hex", "predictor", "indirect-filter"],
)
def test_object_streams_that_cannot_be_inspected_are_refused(
    objects: list[bytes], words: str
) -> None:
    error = refused(pdf(*objects), "application/pdf")
    assert error.code == "unsupported_pdf" and words in error.message


def test_an_encrypted_pdf_is_refused() -> None:
    content = pdf(CATALOG, trailer=b"<< /Root 1 0 R /Encrypt 5 0 R >>")
    error = refused(content, "application/pdf")
    assert error.code == "unsupported_pdf" and "encrypted" in error.message


def test_object_streams_are_decompressed_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_content, "MAX_INFLATED", 10_000)
    bomb = object_stream(b"<< /Filler (" + b"0" * 50_000 + b") >>")
    error = refused(pdf(CATALOG, bomb), "application/pdf")
    assert error.code == "unsupported_pdf" and "10,000 bytes" in error.message


def test_image_data_that_happens_to_spell_names_is_not_active_content() -> None:
    """Streams that are not object streams (images, page content) are not read for names:
    pixel data spells /JS or /AA by chance, and would otherwise refuse honest scans."""
    pixels = b"\x2f\x4a\x53\x20\x2f\x41\x41\x20(/OpenAction /JavaScript)" * 10
    image_stream = stream(
        b"/Type /XObject /Subtype /Image /Width 10 /Height 26 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8",
        pixels,
    )
    scan_content.check(pdf(CATALOG, image_stream), "application/pdf")


def test_a_decompression_bomb_is_refused() -> None:
    error = refused(png_claiming(100_000, 100_000), "image/png")
    assert error.code == "image_too_large"
    assert "100000 × 100000 pixels" in error.message and "89,478,485" in error.message


def test_images_are_decoded_whole() -> None:
    good = image("PNG", (64, 64), 90)
    truncated = good[: len(good) // 2] + good[-12:]  # half the data, then IEND
    assert refused(truncated, "image/png").code == "damaged_file"
    jpeg = image("JPEG", (64, 64), 90)
    assert refused(jpeg[: len(jpeg) // 2], "image/jpeg").code == "damaged_file"
    # a damaged chunk checksum
    broken = bytearray(good)
    broken[29] ^= 0xFF  # inside IHDR's checksum
    assert refused(bytes(broken), "image/png").code == "damaged_file"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (image("PNG", (200, 300)), "image/png"),
        (image("JPEG", (200, 300)), "image/jpeg"),
        (saved("1", "PNG", optimize=True), "image/png"),
        (saved("RGB", "JPEG", progressive=True, optimize=True), "image/jpeg"),
        (saved("L", "JPEG", quality=60, restart_marker_rows=1), "image/jpeg"),
        (saved("RGB", "JPEG", with_exif=True), "image/jpeg"),
        (pillow_pdf(), "application/pdf"),
        (matplotlib_pdf(), "application/pdf"),
    ],
    ids=[
        "png",
        "jpeg",
        "png-1bit",
        "jpeg-progressive",
        "jpeg-restart-markers",
        "jpeg-exif",
        "pillow-pdf",
        "matplotlib-pdf",
    ],
)
def test_real_files_pass(content: bytes, kind: str) -> None:
    scan_content.check(content, kind)


# -- serving ---------------------------------------------------------------------------------


def assert_served_as_download(response: Any, content: bytes, extension: str) -> None:
    assert response.status_code == 200
    assert response.getvalue() == content
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith(f'.{extension}"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == SANDBOX


@pytest.mark.parametrize(
    ("content", "extension", "content_type"),
    [
        (image("PNG", (40, 30)), "png", "image/png"),
        (image("JPEG", (40, 30)), "jpg", "image/jpeg"),
        (pillow_pdf(), "pdf", "application/pdf"),
    ],
    ids=["png", "jpeg", "pdf"],
)
@pytest.mark.django_db
def test_valid_scans_are_accepted_and_served_as_sandboxed_downloads(
    small: tuple[Election, dict[str, Persona]],
    media: Path,
    content: bytes,
    extension: str,
    content_type: str,
) -> None:
    election, people = small
    response = upload(people["st11"].client(), election, "1-1", content)
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == content_type
    assert response.json()["sha256"] == sha(content)
    path = f"/e/{election.slug}/s/1-1/scans/1/"
    assert_served_as_download(people["cec"].client().get(path), content, extension)
    public = Client().get(path)  # the protocol is published: the scan is public
    assert_served_as_download(public, content, extension)
    assert public["Content-Type"] == content_type
    not_modified = Client().get(path, HTTP_IF_NONE_MATCH=f'"{sha(content)}"')
    assert not_modified.status_code == 304
    assert not_modified["Content-Security-Policy"] == SANDBOX
