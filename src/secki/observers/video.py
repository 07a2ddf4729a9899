"""Video evidence of incidents (MP4, QuickTime, WebM): the type by the file's first bytes and a
bounded check of the container's structure, without decoding any video.

* MP4 and QuickTime are ISO base media files: the first box is ``ftyp`` with a known brand
  (major or compatible; ``qt  `` makes it QuickTime). Every top-level box must be well formed
  (a size that covers its header and stays within the file, a printable four-letter type) and
  together they must consume the whole file; a ``moov`` box must be there, itself made of
  well-formed boxes with an ``mvhd`` and at least one ``trak``, and media data (``mdat``).
* WebM is EBML: the header element (``1A 45 DF A3``) with DocType ``webm``, then one Segment
  whose level-1 elements (and a Cluster's children) are well-formed elements that consume it
  exactly; an unknown size (what a browser's ``MediaRecorder`` writes for the Segment and its
  Clusters) runs to the end of the file or of its parent, as the Matroska specification says.
  Info, Tracks and a Cluster (media) must be there.

Only headers are read (a seek from one to the next), so the memory needed does not grow with
the file. :func:`check` raises :class:`VideoError` with what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MP4 = "video/mp4"
QUICKTIME = "video/quicktime"
WEBM = "video/webm"
EXTENSIONS = {MP4: "mp4", QUICKTIME: "mov", WEBM: "webm"}

#: ISO base media brands accepted (major or compatible)
BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso7",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"mp71",
        b"avc1",
        b"hvc1",
        b"av01",
        b"dash",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"3gp4",
        b"3gp5",
        b"3gp6",
        b"3g2a",
        b"MSNV",
        b"qt  ",
    }
)
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
#: how many bytes :func:`sniff` wants
HEAD = 1024
#: boxes or elements looked at, at most (a bound on the work whatever the file says)
MAX_ITEMS = 200_000

# EBML element ids (with their length marker, as written)
_EBML = 0x1A45DFA3
_DOCTYPE = 0x4282
_SEGMENT = 0x18538067
_CLUSTER = 0x1F43B675
_INFO = 0x1549A966
_TRACKS = 0x1654AE6B
_VOID = 0xEC
_CRC32 = 0xBF
_LEVEL1 = frozenset(
    {
        0x114D9B74,  # SeekHead
        _INFO,
        _TRACKS,
        _CLUSTER,
        0x1C53BB6B,  # Cues
        0x1254C367,  # Tags
        0x1043A770,  # Chapters
        0x1941A469,  # Attachments
        _VOID,
        _CRC32,
    }
)
_CLUSTER_CHILDREN = frozenset(
    {0xE7, 0xA3, 0xA0, 0xA7, 0xAB, 0x5854, 0xAF, _VOID, _CRC32}  # Timestamp, SimpleBlock, …
)
_UNKNOWN = -1


class BinaryIO(Protocol):
    """What is read of a file: an upload, an open file, a BytesIO."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, size: int = ..., /) -> bytes: ...


class VideoError(ValueError):
    """A file that announces a video but whose container is not well formed."""


def sniff(head: bytes) -> str | None:
    """MP4, QuickTime or WebM as the first bytes (at least :data:`HEAD` of them, when the file
    has them) announce it, or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        major = head[8:12]
        compatible = [head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
        if major == b"qt  ":
            return QUICKTIME
        if major in BRANDS or any(b in BRANDS for b in compatible):
            return MP4
        return None
    if head.startswith(EBML_MAGIC):
        return WEBM if _doctype(head) == b"webm" else None
    return None


def _doctype(head: bytes) -> bytes | None:
    """The DocType in an EBML header held in ``head`` (None if not found there)."""
    try:
        _id, id_len = _vint(head, 0, keep_marker=True)
        size, size_len = _vint(head, id_len, keep_marker=False)
        pos = id_len + size_len
        end = len(head) if size == _UNKNOWN else min(len(head), pos + size)
        while pos < end:
            child, n = _vint(head, pos, keep_marker=True)
            length, m = _vint(head, pos + n, keep_marker=False)
            start = pos + n + m
            if length == _UNKNOWN:
                return None
            if child == _DOCTYPE:
                return head[start : start + length].rstrip(b"\x00")
            pos = start + length
    except VideoError:
        return None
    return None


def check(handle: BinaryIO, size: int, kind: str) -> None:
    """Check the container of a ``kind`` file of ``size`` bytes (VideoError if it is not
    well formed)."""
    if kind == WEBM:
        _Ebml(handle, size).check()
    else:
        _check_bmff(handle, size)


# -- ISO base media (MP4, QuickTime) --------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    type: bytes
    start: int  # of its header
    body: int  # of its content
    end: int


def _boxes(handle: BinaryIO, start: int, end: int, budget: list[int]) -> list[_Box]:
    out: list[_Box] = []
    pos = start
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise VideoError("too many boxes")
        if end - pos < 8:
            raise VideoError(f"{end - pos} stray bytes at offset {pos}")
        handle.seek(pos)
        header = handle.read(16)
        size = int.from_bytes(header[:4], "big")
        kind = header[4:8]
        if not all(0x20 <= c <= 0x7E for c in kind):
            raise VideoError(f"no box type at offset {pos}")
        body = pos + 8
        if size == 1:
            if len(header) < 16:
                raise VideoError(f"box {kind.decode()} at offset {pos} is cut short")
            size = int.from_bytes(header[8:16], "big")
            body = pos + 16
        elif size == 0:  # to the end of its container
            size = end - pos
        if size < body - pos:
            raise VideoError(f"box {kind.decode()} at offset {pos} has a size of {size}")
        if pos + size > end:
            raise VideoError(
                f"box {kind.decode()} at offset {pos} runs {pos + size - end} bytes past "
                "the end (the file is cut short)"
            )
        out.append(_Box(kind, pos, body, pos + size))
        pos += size
    return out


def _check_bmff(handle: BinaryIO, size: int) -> None:
    budget = [MAX_ITEMS]
    top = _boxes(handle, 0, size, budget)
    if not top or top[0].type != b"ftyp":
        raise VideoError("the first box is not ftyp")
    if not any(b.type == b"mdat" for b in top):
        raise VideoError("no media data box (mdat)")
    movies = [b for b in top if b.type == b"moov"]
    if len(movies) != 1:
        raise VideoError("no movie box (moov)" if not movies else "more than one movie box")
    inner = [b.type for b in _boxes(handle, movies[0].body, movies[0].end, budget)]
    if b"mvhd" not in inner:
        raise VideoError("the movie box has no header (mvhd)")
    if b"trak" not in inner:
        raise VideoError("the movie box has no track (trak)")


# -- EBML (WebM) ----------------------------------------------------------------------------


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length); an id keeps its marker
    bit; a size of all ones is :data:`_UNKNOWN`."""
    if pos >= len(data):
        raise VideoError(f"cut short at offset {pos}")
    first = data[pos]
    if first == 0:
        raise VideoError(f"no element at offset {pos}")
    length = 9 - first.bit_length()
    if length > (4 if keep_marker else 8) or pos + length > len(data):
        raise VideoError(f"no element at offset {pos}")
    raw = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    if value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length
    return value, length


class _Ebml:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size
        self.budget = MAX_ITEMS

    def element(self, pos: int, end: int) -> tuple[int, int, int]:
        """(id, start of its content, its size or _UNKNOWN) of the element at ``pos``."""
        self.budget -= 1
        if self.budget < 0:
            raise VideoError("too many elements")
        self.handle.seek(pos)
        header = self.handle.read(min(12, end - pos))
        ident, n = _vint(header, 0, keep_marker=True)
        length, m = _vint(header, n, keep_marker=False)
        body = pos + n + m
        if length != _UNKNOWN and body + length > end:
            raise VideoError(
                f"element {ident:X} at offset {pos} runs {body + length - end} bytes past "
                "the end (the file is cut short)"
            )
        return ident, body, length

    def check(self) -> None:
        ident, body, length = self.element(0, self.size)
        if ident != _EBML or length == _UNKNOWN:
            raise VideoError("no EBML header")
        self.handle.seek(0)
        if _doctype(self.handle.read(min(body + length, HEAD))) != b"webm":
            raise VideoError("the EBML header does not name the webm document type")
        pos = body + length
        segments = 0
        while pos < self.size:
            ident, body, length = self.element(pos, self.size)
            if ident == _SEGMENT:
                segments += 1
                end = self.size if length == _UNKNOWN else body + length
                self.segment(body, end)
                pos = end
            elif ident in (_VOID, _CRC32) and length != _UNKNOWN:
                pos = body + length
            else:
                raise VideoError(f"element {ident:X} at offset {pos} is not a Segment")
        if segments != 1:
            raise VideoError("no Segment" if not segments else "more than one Segment")

    def segment(self, pos: int, end: int) -> None:
        seen: set[int] = set()
        while pos < end:
            ident, body, length = self.element(pos, end)
            if ident not in _LEVEL1:
                raise VideoError(f"element {ident:X} at offset {pos} has no place in a Segment")
            seen.add(ident)
            if length == _UNKNOWN:
                if ident != _CLUSTER:
                    raise VideoError(f"element {ident:X} at offset {pos} has no size")
                pos = self.cluster(body, end)
            else:
                if ident == _CLUSTER and self.cluster(body, body + length) != body + length:
                    raise VideoError(f"the cluster at offset {pos} is not well formed")
                pos = body + length
        for needed, name in ((_INFO, "Info"), (_TRACKS, "Tracks"), (_CLUSTER, "Cluster")):
            if needed not in seen:
                raise VideoError(f"the Segment has no {name}")

    def cluster(self, pos: int, end: int) -> int:
        """Where a cluster's children end: at ``end``, or (unknown size) at the next level-1
        element."""
        while pos < end:
            self.handle.seek(pos)
            ident, _n = _vint(self.handle.read(4), 0, keep_marker=True)
            if ident in _LEVEL1 and ident not in (_VOID, _CRC32):
                return pos
            ident, body, length = self.element(pos, end)
            if ident not in _CLUSTER_CHILDREN or length == _UNKNOWN:
                raise VideoError(f"element {ident:X} at offset {pos} has no place in a Cluster")
            pos = body + length
        return pos
