"""Small video files built box by box (MP4, QuickTime) and element by element (WebM) for the
incident evidence tests: well-formed containers with a header, a track and a few bytes of
media, and the forged ones made from them."""

from __future__ import annotations

import struct


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, payload: bytes) -> bytes:
    return box(kind, b"\x00\x00\x00\x00" + payload)  # version 0, no flags


def mp4(major: bytes = b"isom", *, frames: int = 3) -> bytes:
    """ftyp, moov (mvhd and one video trak with its tkhd and mdia/hdlr), then mdat."""
    ftyp = box(b"ftyp", major + b"\x00\x00\x02\x00" + b"isomiso2avc1mp41")
    mvhd = full_box(
        b"mvhd",
        struct.pack(">IIII", 0, 0, 1000, 1000 * frames)  # created, modified, timescale, length
        + struct.pack(">IH", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + bytes(10)
        + struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)  # matrix
        + bytes(24)
        + struct.pack(">I", 2),  # next track id
    )
    tkhd = full_box(b"tkhd", struct.pack(">IIII", 0, 0, 1, 0) + bytes(64))
    hdlr = full_box(b"hdlr", bytes(4) + b"vide" + bytes(12) + b"video\x00")
    trak = box(b"trak", tkhd + box(b"mdia", hdlr))
    mdat = box(b"mdat", bytes(range(64)) * frames)
    return ftyp + box(b"moov", mvhd + trak) + mdat


def quicktime() -> bytes:
    return mp4(b"qt  ")


def _size(n: int) -> bytes:
    """An EBML size in eight bytes."""
    return bytes([0x01]) + n.to_bytes(7, "big")


UNKNOWN = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def element(ident: int, payload: bytes) -> bytes:
    raw = ident.to_bytes((ident.bit_length() + 7) // 8, "big")
    return raw + _size(len(payload)) + payload


def uint(ident: int, value: int, width: int = 1) -> bytes:
    return element(ident, value.to_bytes(width, "big"))


def webm(*, doctype: bytes = b"webm", unknown_sizes: bool = False, clusters: int = 2) -> bytes:
    """EBML header, then a Segment with Info, Tracks (one VP8 track) and clusters of simple
    blocks; ``unknown_sizes``: the Segment and clusters as a browser's MediaRecorder writes
    them (size unknown)."""
    header = element(
        0x1A45DFA3,
        uint(0x4286, 1)
        + uint(0x42F7, 1)
        + uint(0x42F2, 4)
        + uint(0x42F3, 8)
        + element(0x4282, doctype)
        + uint(0x4287, 4)
        + uint(0x4285, 2),
    )
    info = element(0x1549A966, uint(0x2AD7B1, 1_000_000, 3) + element(0x4D80, b"secki-test"))
    track = element(0xAE, uint(0xD7, 1) + uint(0x73C5, 1) + uint(0x83, 1) + element(0x86, b"V_VP8"))
    tracks = element(0x1654AE6B, track)
    body = info + tracks
    for n in range(clusters):
        block = element(0xA3, b"\x81\x00\x00\x80" + bytes([n]) * 32)
        children = uint(0xE7, n * 40) + block
        if unknown_sizes:
            body += bytes.fromhex("1F43B675") + UNKNOWN + children
        else:
            body += element(0x1F43B675, children)
    if unknown_sizes:
        return header + bytes.fromhex("18538067") + UNKNOWN + body
    return header + element(0x18538067, body)
