"""What a scan's bytes may be: the whole file checked, not only its first bytes.

A scan is published on the site and downloaded by anyone, so a file that is also something
else is refused (issue 12: "a PNG header followed by HTML", "a PDF containing /JavaScript"):

- **PNG and JPEG** are decoded by Pillow (``verify()``, then a full ``load()``; a JPEG at 1/8
  scale, which still reads every byte of its compressed data), at most
  :data:`MAX_PIXELS` pixels (Pillow's decompression-bomb limit), and must end where the image
  ends: a PNG with its ``IEND`` chunk, a JPEG with the ``EOI`` marker that closes its image.
- **PDF** must end with ``%%EOF`` and may not carry active content: JavaScript, actions run on
  opening or on events, launches, embedded files, rich media, XFA or interactive forms that
  submit or import data (:data:`ACTIVE`), looked up as PDF names with ``#xx`` escapes decoded
  (``/J#61vaScript`` is ``/JavaScript``), outside streams and inside object streams
  (decompressed, at most :data:`MAX_INFLATED` bytes in all). An encrypted PDF, or one whose
  object streams use a filter or predictor not decoded here, cannot be checked and is refused.

Each refusal is an :class:`~secki.errors.IntakeError` naming the field ``file`` and the rule.
The file is also served so that a browser never runs it (``secki.portal.views.scan_file``).
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator

from django.utils.translation import gettext, gettext_noop

from secki.errors import IntakeError

#: largest image accepted, in pixels (Pillow's own decompression-bomb limit, ~89.5 million: an
#: A3 page at 600 dpi has 70 million)
MAX_PIXELS = 89_478_485
#: most bytes that a PDF's object streams may expand to, all together
MAX_INFLATED = 64 * 1024 * 1024

PNG_IEND = b"IEND"
JPEG_EOI = 0xD9
JPEG_SOS = 0xDA

#: PDF names that make a document do something rather than show something
ACTIVE: dict[str, str] = {
    "JavaScript": gettext_noop("JavaScript"),
    "JS": gettext_noop("JavaScript"),
    "OpenAction": gettext_noop("an action run when the document opens"),
    "AA": gettext_noop("actions run on events"),
    "Launch": gettext_noop("an action that launches a program"),
    "EmbeddedFile": gettext_noop("an embedded file"),
    "EmbeddedFiles": gettext_noop("embedded files"),
    "RichMedia": gettext_noop("rich media (Flash or video)"),
    "XFA": gettext_noop("an XFA form"),
    "SubmitForm": gettext_noop("a form that submits data"),
    "ImportData": gettext_noop("a form that imports data"),
    "GoToE": gettext_noop("a link into an embedded document"),
    "GoToR": gettext_noop("a link to another file"),
}
#: the stream filters of PDF (and their abbreviations); of these only Flate is decoded here, so
#: an object stream (which holds objects, and so could hide active content) may use no other
FILTERS = frozenset(
    {
        *("ASCIIHexDecode", "AHx", "ASCII85Decode", "A85", "LZWDecode", "LZW"),
        *("FlateDecode", "Fl", "RunLengthDecode", "RL", "CCITTFaxDecode", "CCF"),
        *("JBIG2Decode", "DCTDecode", "DCT", "JPXDecode", "Crypt"),
    }
)
FLATE = frozenset({"FlateDecode", "Fl"})
PDF_EOF = b"%%EOF"
PDF_WHITESPACE = b"\x00\t\n\x0c\r "
# a name: "/" then regular characters (PDF 32000-1 §7.3.5; delimiters and white space end it)
NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
STREAM = re.compile(rb"stream(?:\r\n|\n|\r)")
OBJ = re.compile(rb"\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+obj")
#: how far before a stream its dictionary is looked for
DICTIONARY_WINDOW = 65_536
ENDSTREAM = b"endstream"


def _refuse(code: str, message: str) -> IntakeError:
    return IntakeError(code, message, status=422, field="file")


# -- images ---------------------------------------------------------------------------------


def png_end(data: bytes) -> int | None:
    """The offset just after a PNG's ``IEND`` chunk (walking the chunks), or None."""
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == PNG_IEND:
            return pos if pos <= len(data) else None
    return None


def jpeg_end(data: bytes) -> int | None:
    """The offset just after the ``EOI`` marker that ends a JPEG's first image (walking its
    segments and skipping the entropy-coded data after each ``SOS``), or None."""
    size = len(data)
    pos = 2  # after SOI
    while pos < size:
        if data[pos] != 0xFF:
            return None
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            return None
        marker = data[pos]
        pos += 1
        if marker == JPEG_EOI:
            return pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            continue
        if pos + 2 > size:
            return None
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            return None
        pos += length
        if marker == JPEG_SOS:
            # entropy-coded data runs to the next marker; FF 00 is a stuffed FF byte and
            # FF D0-D7 are restart markers inside it
            while True:
                found = data.find(b"\xff", pos)
                if found < 0 or found + 1 >= size:
                    return None
                following = data[found + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos = found + 2
                    continue
                pos = found
                break
    return None


def check_image(data: bytes, kind: str) -> None:
    """Decode a PNG (``kind`` "PNG") or JPEG ("JPEG") whole; raise IntakeError if it is not
    exactly one readable image of at most :data:`MAX_PIXELS` pixels."""
    from PIL import Image

    label = kind
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _too_many_pixels(width, height)
            image.verify()
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            if kind == "JPEG":
                # every byte is still decoded, at an eighth of the size in memory
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except Image.DecompressionBombError:
        raise _too_many_pixels(*_declared_size(data, kind)) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        raise _refuse(
            "damaged_file",
            gettext(
                "file: not a readable %(kind)s image (%(problem)s); scan the protocol again or "
                "save the file anew"
            )
            % {"kind": label, "problem": str(exc) or exc.__class__.__name__},
        ) from None
    end = png_end(data) if kind == "PNG" else jpeg_end(data)
    if end is None:
        raise _refuse(
            "damaged_file",
            gettext("file: the %(kind)s image has no proper end (%(marker)s)")
            % {"kind": label, "marker": "IEND" if kind == "PNG" else "EOI"},
        )
    if end != len(data):
        raise _refuse(
            "trailing_data",
            gettext(
                "file: %(count)s bytes follow the end of the %(kind)s image (its %(marker)s): "
                "a scan is one image and nothing else"
            )
            % {
                "count": len(data) - end,
                "kind": label,
                "marker": "IEND chunk" if kind == "PNG" else "EOI marker",
            },
        )


def _declared_size(data: bytes, kind: str) -> tuple[int, int]:
    """Width and height as the header states them (for the message of a refused bomb)."""
    if kind == "PNG" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    match = re.search(rb"\xff[\xc0-\xc3\xc5-\xc7\xc9-\xcb\xcd-\xcf]..(.)(..)(..)", data, re.S)
    if match:
        return int.from_bytes(match.group(3), "big"), int.from_bytes(match.group(2), "big")
    return 0, 0


def _too_many_pixels(width: int, height: int) -> IntakeError:
    return _refuse(
        "image_too_large",
        gettext(
            "file: %(width)s × %(height)s pixels is more than a scan may have (%(limit)s pixels)"
        )
        % {"width": width, "height": height, "limit": f"{MAX_PIXELS:,}"},
    )


# -- PDF ------------------------------------------------------------------------------------


def pdf_names(text: bytes) -> set[str]:
    """Every PDF name in ``text``, ``#xx`` escapes decoded (``/J#61vaScript`` → JavaScript)."""
    names: set[str] = set()
    for match in NAME.finditer(text):
        raw = HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        names.add(raw.decode("latin-1"))
    return names


def _streams(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(dictionary start, data start, data end) of every stream, in file order; the
    dictionary starts after the last ``N G obj`` before the stream."""
    pos = 0
    while True:
        found = STREAM.search(data, pos)
        if found is None:
            return
        if found.start() >= len(b"end") and data[found.start() - 3 : found.start()] == b"end":
            pos = found.end()  # "endstream" followed by a line break
            continue
        end = data.find(ENDSTREAM, found.end())
        if end < 0:
            end = len(data)
        window = max(pos, found.start() - DICTIONARY_WINDOW)
        head = window
        for header in OBJ.finditer(data, window, found.start()):
            head = header.end()
        yield head, found.end(), end
        pos = end + len(ENDSTREAM)


def _inflate(body: bytes, rounds: int, budget: int) -> bytes:
    for _ in range(rounds):
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(body, budget + 1)
        except zlib.error as exc:
            raise _refuse(
                "damaged_file",
                gettext("file: an object stream of the PDF cannot be decompressed (%(problem)s)")
                % {"problem": exc},
            ) from None
        if len(out) > budget or inflater.unconsumed_tail:
            raise _refuse(
                "unsupported_pdf",
                gettext(
                    "file: the PDF's object streams expand to more than %(limit)s bytes, more "
                    "than a scan needs"
                )
                % {"limit": f"{MAX_INFLATED:,}"},
            )
        body = out
    return body


def _refuse_active(names: set[str]) -> None:
    found = sorted(name for name in names if name in ACTIVE)
    if found:
        name = found[0]
        raise _refuse(
            "active_content",
            gettext(
                "file: the PDF contains /%(name)s (%(what)s): a scan may not carry scripts, "
                "actions, embedded files or forms; print it to PDF again or upload an image"
            )
            % {"name": name, "what": gettext(ACTIVE[name])},
        )


def check_pdf(data: bytes) -> None:
    """Raise IntakeError unless ``data`` is a complete PDF without active content."""
    tail = data.rstrip(PDF_WHITESPACE)
    if not tail.endswith(PDF_EOF):
        raise _refuse(
            "trailing_data",
            gettext(
                "file: the PDF does not end with %%EOF: it is cut short or other data follows it"
            )
            % {},
        )
    outside: list[bytes] = []
    object_streams: list[tuple[set[str], bytes]] = []
    pos = 0
    for head, start, end in _streams(data):
        outside.append(data[pos:start])
        names = pdf_names(data[head:start])
        if "ObjStm" in names or "First" in names:  # an object stream holds objects
            object_streams.append((names, data[start:end]))
        pos = end
    outside.append(data[pos:])
    _refuse_hidden(pdf_names(b"".join(outside)))
    budget = MAX_INFLATED
    for stream_names, body in object_streams:
        filters = stream_names & FILTERS
        if (
            filters - FLATE
            or stream_names & {"DecodeParms", "DP"}
            or ("Filter" in stream_names and not filters)
        ):
            raise _refuse(
                "unsupported_pdf",
                gettext(
                    "file: an object stream of the PDF is encoded in a way Secki does not "
                    "decode to check it (%(how)s); save the PDF again with standard compression"
                )
                % {
                    "how": ", ".join(sorted(filters - FLATE))
                    or (gettext("a predictor") if filters else gettext("an indirect filter"))
                },
            )
        content = _inflate(body, 1 if filters else 0, budget)
        budget -= len(content)
        # an object stream compressed twice shows a zlib stream again: decompress that too
        while _zlib_header(content[:2]):
            content = _inflate(content, 1, budget)
            budget -= len(content)
        _refuse_hidden(pdf_names(content))


def _refuse_hidden(names: set[str]) -> None:
    if "Encrypt" in names:
        raise _refuse(
            "unsupported_pdf",
            gettext(
                "file: the PDF is encrypted, so its content cannot be checked; save it without "
                "a password or encryption"
            ),
        )
    _refuse_active(names)


def _zlib_header(two: bytes) -> bool:
    return len(two) == 2 and two[0] & 0x0F == 8 and (two[0] * 256 + two[1]) % 31 == 0


def check(data: bytes, content_type: str) -> None:
    """Check a whole scan of type ``content_type`` (application/pdf, image/png, image/jpeg)."""
    if content_type == "application/pdf":
        check_pdf(data)
    elif content_type == "image/png":
        check_image(data, "PNG")
    elif content_type == "image/jpeg":
        check_image(data, "JPEG")
    else:  # pragma: no cover - digest_upload only sniffs these three
        raise ValueError(content_type)
