"""The log as static files (spec §2; C2SP tlog-tiles): paths, entry bundles, the writer and
the reader.

* :class:`TileWriter` appends entries to a log directory: entry bundles, level-0 tiles and
  the levels above, full and partial, everything for the new size before it returns (§2.5
  rule 1). A full tile is never rewritten; no file is ever changed (a write that would change
  one raises :class:`TileError`). It resumes from the directory: it reads back only the right
  edge of the tree, the partial tiles and bundle of the size it is told (or of the directory's
  ``checkpoint``, :meth:`TileWriter.resume`).
* :class:`TileReader` answers from a *source*, a callable ``path -> bytes | None`` (None when
  there is no such file; :func:`directory_source`, :func:`http_source`), for a size and root
  the caller has verified (a checkpoint): any MTH(D[a:b]) from tiles (§2.6), inclusion paths,
  consistency proofs, and entries checked against the level-0 tile (§2.4) or against the root.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from secki.tlog.checkpoint import Checkpoint, CheckpointError
from secki.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    consistency_proof,
    fold_peaks,
    inclusion_path,
    leaf_hash,
    node_hash,
    perfect_root,
    root_of,
    split_point,
    verify_inclusion,
)
from secki.tlog.note import NoteError, split_note

TILE_HEIGHT = 8
#: hashes in a full tile, entries in a full bundle (2^TILE_HEIGHT)
TILE_WIDTH = 1 << TILE_HEIGHT
#: the longest entry a bundle's 2-byte length prefix can carry (§2.4)
MAX_ENTRY_SIZE = 0xFFFF

#: ``source(path)`` returns the bytes of the file at ``path`` under the log's prefix, or None
Source = Callable[[str], bytes | None]


class TileError(ValueError):
    """A missing, malformed or inconsistent tile or bundle, or a write that would change a
    published file; the message names the file."""


# -- paths (§2.2, §2.3) --------------------------------------------------------------------------


def index_path(n: int) -> str:
    """``<N>`` of §2.2: decimal in three-digit groups, every group but the last with ``x``
    (``1234067 -> x001/x234/067``)."""
    if n < 0:
        raise ValueError(f"tile index {n} is negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _width_suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not within 1…{TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``: hash tile ``n`` of ``level``, partial when ``width`` < 256."""
    if not 0 <= level <= 63:
        raise ValueError(f"tile level {level} is not within 0…63")
    return f"tile/{level}/{index_path(n)}{_width_suffix(width)}"


def bundle_path(n: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``: entry bundle ``n``, partial when ``width`` < 256."""
    return f"tile/entries/{index_path(n)}{_width_suffix(width)}"


@dataclass(frozen=True, order=True)
class Tile:
    """Hash tile ``index`` of ``level`` with ``width`` hashes (§2.3)."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    @property
    def bundle_path(self) -> str:
        """The entry bundle beside a level-0 tile (same index and width, §2.4)."""
        if self.level:
            raise ValueError("only level-0 tiles have entry bundles")
        return bundle_path(self.index, self.width)


def tile_at(level: int, index: int, size: int) -> Tile:
    """The tile ``index`` of ``level`` as a log of ``size`` entries serves it: full if
    ``index`` < ⌊size/256^(L+1)⌋, else partial of width ⌊size/256^L⌋ mod 256 (§2.6)."""
    count = size >> (TILE_HEIGHT * level)  # hashes at this level
    if index < count >> TILE_HEIGHT:
        return Tile(level, index, TILE_WIDTH)
    width = count % TILE_WIDTH
    if index != count >> TILE_HEIGHT or not width:
        raise TileError(f"a log of size {size} has no tile {index} at level {level}")
    return Tile(level, index, width)


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile a log of ``size`` entries serves, level by level (§2.3)."""
    tiles = []
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        tiles += [Tile(level, n, TILE_WIDTH) for n in range(count >> TILE_HEIGHT)]
        if count % TILE_WIDTH:
            tiles.append(Tile(level, count >> TILE_HEIGHT, count % TILE_WIDTH))
        level += 1
    return tiles


def files_for_size(size: int) -> list[str]:
    """Every tile and bundle path a log of ``size`` entries serves (no checkpoint)."""
    tiles = tiles_for_size(size)
    return [t.path for t in tiles] + [t.bundle_path for t in tiles if t.level == 0]


# -- entry bundles (§2.4) -------------------------------------------------------------------------


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries each behind its 2-byte big-endian length, nothing in between."""
    parts = []
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {i} of the bundle has {len(entry)} bytes, over 65535")
        parts += [struct.pack(">H", len(entry)), entry]
    return b"".join(parts)


def decode_bundle(data: bytes, path: str = "the bundle") -> list[bytes]:
    """The entries of a bundle; :class:`TileError` (naming ``path``) if a length runs past
    the end."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError(f"{path} ends inside the length of entry {len(entries)}")
        (length,) = struct.unpack_from(">H", data, at)
        at += 2
        if at + length > len(data):
            raise TileError(
                f"entry {len(entries)} of {path} claims {length} bytes, {len(data) - at} remain"
            )
        entries.append(data[at : at + length])
        at += length
    return entries


def split_hashes(data: bytes, path: str, width: int) -> list[bytes]:
    """The hashes of a tile file, which must hold exactly ``width`` of them."""
    if len(data) != HASH_SIZE * width:
        raise TileError(
            f"{path} has {len(data)} bytes, expected {HASH_SIZE * width} ({width} hashes)"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


# -- writer (§2.5) --------------------------------------------------------------------------------


class TileWriter:
    """Appends entries to the log in ``directory`` (§2.5).

    ``size`` is the number of entries the directory holds (the last published checkpoint's,
    or 0 for a new log); the writer reads back the partial tiles and the partial bundle of that
    size, which is all it needs. With ``root``, it also checks that they give that root.

    :meth:`append` writes every newly full tile and bundle and the partial ones of the new size,
    then returns the new size and root: only then may a checkpoint of that size be signed and
    published. Files are written once (a temporary file renamed into place, synced when
    ``durable``); a file that exists with other bytes raises :class:`TileError` and is left as
    it is. With ``prune``, the partial tiles and bundles of a tile that has become full are
    deleted (§2.5 rule 3; readers then take the first W hashes of the full tile).
    """

    def __init__(
        self,
        directory: Path | str,
        size: int = 0,
        root: bytes | None = None,
        *,
        durable: bool = True,
        prune: bool = True,
    ) -> None:
        if size < 0:
            raise ValueError(f"size {size} is negative")
        self.directory = Path(directory)
        self.durable = durable
        self.prune = prune
        self._size = size
        #: per level, the hashes of its partial tile (fewer than 256)
        self._edge: list[list[bytes]] = []
        #: the entries of the partial bundle
        self._entries: list[bytes] = []
        self._dirty_dirs: set[Path] = set()
        self._failed = False
        self._read_edge()
        if root is not None and root != self.root:
            raise TileError(
                f"the tiles in {self.directory} give root {self.root.hex()} for size {size}, "
                f"not {root.hex()}"
            )

    @classmethod
    def resume(
        cls, directory: Path | str, *, durable: bool = True, prune: bool = True
    ) -> TileWriter:
        """A writer for the log in ``directory`` at the size and root of its ``checkpoint``
        file (the last published state; its signatures are not checked here, the root is
        checked against the tiles), or for a new log when there is none. Files written for a
        larger size that was never published are compared, not rewritten, when the same
        entries are appended again."""
        try:
            note = (Path(directory) / "checkpoint").read_bytes()
        except FileNotFoundError:
            return cls(directory, durable=durable, prune=prune)
        try:
            checkpoint = Checkpoint.parse(split_note(note).text)
        except (CheckpointError, NoteError) as exc:
            raise TileError(f"cannot resume from {directory}/checkpoint: {exc}") from None
        return cls(directory, checkpoint.size, checkpoint.root, durable=durable, prune=prune)

    @property
    def size(self) -> int:
        return self._size

    @property
    def root(self) -> bytes:
        """MTH(D[0:size]), from the partial tiles alone: the tree's perfect subtrees are
        groups of 2^r hashes of one level, in the order of the bits of the size."""
        peaks = []
        for level in reversed(range(len(self._edge))):
            hashes = self._edge[level]
            start = 0
            for r in reversed(range(TILE_HEIGHT)):
                if len(hashes) & (1 << r):
                    peaks.append(perfect_root(hashes[start : start + (1 << r)]))
                    start += 1 << r
        return fold_peaks(peaks)

    def append(self, entries: Iterable[bytes]) -> tuple[int, bytes]:
        """Append ``entries`` in order and write the files of the new size; returns the new
        (size, root). Nothing of a size is published by this: the caller signs it next.

        After a failure to write, the writer refuses further appends: a new one resumes from
        what is on disk."""
        if self._failed:
            raise TileError("an earlier append failed: resume with a new writer")
        batch = list(entries)
        for i, entry in enumerate(batch):
            if len(entry) > MAX_ENTRY_SIZE:
                raise TileError(f"entry {self._size + i} has {len(entry)} bytes, over 65535")
        self._failed = True  # until the files of the new size are all written
        full: list[Tile] = []
        for entry in batch:
            self._entries.append(entry)
            self._size += 1
            if len(self._entries) == TILE_WIDTH:
                n = (self._size >> TILE_HEIGHT) - 1
                self._write(bundle_path(n), encode_bundle(self._entries))
                self._entries = []
            full += self._add_hash(0, leaf_hash(entry))
        for level, hashes in enumerate(self._edge):
            if hashes:
                tile = Tile(level, self._size >> (TILE_HEIGHT * (level + 1)), len(hashes))
                self._write(tile.path, b"".join(hashes))
                if level == 0:
                    self._write(tile.bundle_path, encode_bundle(self._entries))
        self._sync_dirs()
        self._failed = False
        if self.prune:
            for tile in full:
                self._remove_partials(tile)
        return self._size, self.root

    def _add_hash(self, level: int, value: bytes) -> list[Tile]:
        """Put a hash at the right edge of ``level``; write the tile when it fills, and carry
        its root one level up. Returns the tiles that became full."""
        if level == len(self._edge):
            self._edge.append([])
        hashes = self._edge[level]
        hashes.append(value)
        if len(hashes) < TILE_WIDTH:
            return []
        tile = Tile(level, (self._size >> (TILE_HEIGHT * (level + 1))) - 1, TILE_WIDTH)
        self._write(tile.path, b"".join(hashes))
        self._edge[level] = []
        return [tile, *self._add_hash(level + 1, perfect_root(hashes))]

    def _read_edge(self) -> None:
        """The partial tiles and bundle of :attr:`size`; one that was pruned because a later
        (unpublished) size filled its tile is read from the start of the full one."""
        level = 0
        while count := self._size >> (TILE_HEIGHT * level):
            width = count % TILE_WIDTH
            hashes: list[bytes] = []
            if width:
                n = count >> TILE_HEIGHT
                partial = tile_path(level, n, width)
                data, path = self._read(partial, tile_path(level, n))
                hashes = split_hashes(data, path, width if path == partial else TILE_WIDTH)
                hashes = hashes[:width]
                if level == 0:
                    partial = bundle_path(n, width)
                    data, path = self._read(partial, bundle_path(n))
                    entries = decode_bundle(data, path)
                    if path != partial and len(entries) != TILE_WIDTH:
                        raise TileError(f"{path} holds {len(entries)} entries, not {TILE_WIDTH}")
                    self._entries = entries[:width]
                    _check_bundle(partial, self._entries, hashes)
            self._edge.append(hashes)
            level += 1

    def _read(self, path: str, full_path: str) -> tuple[bytes, str]:
        for candidate in (path, full_path):
            try:
                return (self.directory / candidate).read_bytes(), candidate
            except FileNotFoundError:
                pass
        raise TileError(
            f"cannot resume at size {self._size}: {path} is missing in {self.directory}"
        )

    def _write(self, path: str, data: bytes) -> None:
        target = self.directory / path
        try:
            existing = target.read_bytes()
        except FileNotFoundError:
            pass
        else:
            if existing != data:
                raise TileError(f"{path} exists with other bytes: a published file never changes")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        with open(temporary, "wb") as f:
            f.write(data)
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temporary, target)
        self._dirty_dirs.add(target.parent)

    def _sync_dirs(self) -> None:
        if self.durable:
            for directory in sorted(self._dirty_dirs):
                fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._dirty_dirs.clear()

    def _remove_partials(self, tile: Tile) -> None:
        paths = [tile.path] + ([tile.bundle_path] if tile.level == 0 else [])
        for path in paths:
            partials = self.directory / f"{path}.p"
            if partials.is_dir():
                for old in partials.iterdir():
                    old.unlink()
                partials.rmdir()


def _check_bundle(path: str, entries: Sequence[bytes], hashes: Sequence[bytes]) -> None:
    """§2.4: the i-th entry hashes to the i-th hash of the level-0 tile of the same width."""
    if len(entries) != len(hashes):
        raise TileError(f"{path} holds {len(entries)} entries, its tile {len(hashes)} hashes")
    for i, (entry, expected) in enumerate(zip(entries, hashes, strict=True)):
        if leaf_hash(entry) != expected:
            raise TileError(f"entry {i} of {path} does not hash to its level-0 tile's hash")


# -- reader (§2.6) --------------------------------------------------------------------------------


class TileReader:
    """Reads a log of ``size`` entries and root ``root`` (both from a verified checkpoint;
    clients never guess partial widths, §2.6) from ``source``.

    Fetched tiles are cached; a partial tile or bundle that is gone is read from the start of
    its full tile (§2.5 rule 3). Everything read is checked: tile lengths, bundle widths,
    entries against the level-0 tile, and proofs against ``root``.
    """

    def __init__(self, source: Source, size: int, root: bytes) -> None:
        if size < 0:
            raise ValueError(f"size {size} is negative")
        if len(root) != HASH_SIZE:
            raise ValueError(f"root has {len(root)} bytes, not {HASH_SIZE}")
        self.source = source
        self.size = size
        self.root = root
        self._tiles: dict[Tile, list[bytes]] = {}
        self._subtrees: dict[tuple[int, int], bytes] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile ``index`` of ``level`` at this size."""
        tile = tile_at(level, index, self.size)
        if tile not in self._tiles:
            data, path = self._fetch(tile.path, tile_path(level, index))
            if path == tile.path:
                self._tiles[tile] = split_hashes(data, path, tile.width)
            else:  # the partial tile is gone: the first W hashes of the full one
                self._tiles[tile] = split_hashes(data, path, TILE_WIDTH)[: tile.width]
        return self._tiles[tile]

    def subtree(self, a: int, b: int) -> bytes:
        """MTH(D[a:b]) from tiles (§2.6), for a range of the shape §1.1 produces."""
        if not 0 <= a < b <= self.size:
            raise ValueError(f"D[{a}:{b}] is not a non-empty range of {self.size} leaves")
        key = (a, b)
        if key not in self._subtrees:
            length = b - a
            if length & (length - 1) == 0:
                if a % length:
                    raise ValueError(f"D[{a}:{b}] is not aligned to its length")
                self._subtrees[key] = self._perfect(length.bit_length() - 1, a // length)
            else:
                k = split_point(length)
                self._subtrees[key] = node_hash(self.subtree(a, a + k), self.subtree(a + k, b))
        return self._subtrees[key]

    def _perfect(self, height: int, j: int) -> bytes:
        """The perfect subtree of height ``height`` over leaves [j·2^h, (j+1)·2^h)."""
        level, r = divmod(height, TILE_HEIGHT)
        first = j << r  # its first hash among the level's hashes
        hashes = self.tile(level, first >> TILE_HEIGHT)
        offset = first % TILE_WIDTH
        if offset + (1 << r) > len(hashes):
            raise TileError(f"a log of size {self.size} has no subtree {j} of height {height}")
        return perfect_root(hashes[offset : offset + (1 << r)])

    def tree_root(self) -> bytes:
        """MTH(D[0:size]) computed from the tiles (not yet compared with ``root``)."""
        return self.subtree(0, self.size) if self.size else EMPTY_ROOT

    def check_root(self) -> None:
        """Raise :class:`TileError` unless the tiles give the verified root."""
        got = self.tree_root()
        if got != self.root:
            raise TileError(
                f"the tiles give root {got.hex()} for size {self.size}, not {self.root.hex()}"
            )

    def inclusion_path(self, index: int) -> list[bytes]:
        """PATH(index, D[0:size]) from tiles (§1.2, §2.6)."""
        return inclusion_path(index, self.size, self.subtree)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:size]) from tiles (§1.4, §2.6); empty for equal sizes."""
        if old_size == self.size:
            return []
        return consistency_proof(old_size, self.size, self.subtree)

    def bundle(self, n: int) -> list[bytes]:
        """The entries of bundle ``n``, each checked against the level-0 tile (§2.4)."""
        tile = tile_at(0, n, self.size)
        data, path = self._fetch(tile.bundle_path, bundle_path(n))
        entries = decode_bundle(data, path)
        if path != tile.bundle_path:
            if len(entries) != TILE_WIDTH:
                raise TileError(f"{path} holds {len(entries)} entries, not {TILE_WIDTH}")
            entries = entries[: tile.width]
        _check_bundle(tile.bundle_path, entries, self.tile(0, n))
        return entries

    def entry(self, index: int) -> bytes:
        """Entry ``index``, checked against its level-0 tile (§2.4), not yet against the root."""
        if not 0 <= index < self.size:
            raise ValueError(f"entry {index} is not in a log of size {self.size}")
        return self.bundle(index >> TILE_HEIGHT)[index % TILE_WIDTH]

    def verified_entry(self, index: int) -> bytes:
        """Entry ``index`` with its inclusion in the verified root proven from tiles (§5.5
        step 1); raises :class:`TileError` or :class:`~secki.tlog.merkle.ProofError`."""
        entry = self.entry(index)
        verify_inclusion(index, self.size, leaf_hash(entry), self.inclusion_path(index), self.root)
        return entry

    def entries(self, start: int = 0) -> Iterator[bytes]:
        """Entries ``start`` … size−1, bundle by bundle, each checked against its level-0 tile.
        The tiles are not checked against the root here: see :meth:`all_entries`."""
        for n in range(start >> TILE_HEIGHT, (self.size + TILE_WIDTH - 1) >> TILE_HEIGHT):
            bundle = self.bundle(n)
            first = n << TILE_HEIGHT
            yield from bundle[max(start - first, 0) :]

    def all_entries(self) -> list[bytes]:
        """D[0:size], checked to hash to the verified root (§5.4: "checks that the entries hash
        to root_hash")."""
        entries = list(self.entries())
        got = root_of([leaf_hash(e) for e in entries])
        if got != self.root:
            raise ProofError(
                f"the {len(entries)} entries hash to {got.hex()}, not the root {self.root.hex()}"
            )
        return entries

    def _fetch(self, path: str, full_path: str) -> tuple[bytes, str]:
        """The file at ``path``; for a partial one that is gone, its full tile (returned with
        the path it came from)."""
        data = self.source(path)
        if data is not None:
            return data, path
        if path != full_path:
            data = self.source(full_path)
            if data is not None:
                return data, full_path
        raise TileError(f"{path} is missing")


# -- sources --------------------------------------------------------------------------------------


def directory_source(directory: Path | str) -> Source:
    """Files under a local copy of the log's prefix."""
    base = Path(directory).resolve()

    def read(path: str) -> bytes | None:
        target = (base / path).resolve()
        if not target.is_relative_to(base):
            raise TileError(f"{path} leaves the log directory")
        try:
            return target.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    return read


#: a bundle of 256 entries of the largest size, the largest file a reader needs
MAX_FILE_SIZE = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)


def http_source(prefix: str, *, timeout: float = 30.0, max_size: int = MAX_FILE_SIZE) -> Source:
    """Files under an ``http://`` or ``https://`` prefix, fetched with urllib (gzip accepted,
    §2.4). 404 and 410 are "no such file"; any other failure raises :class:`TileError`, as does
    a body over ``max_size`` bytes."""
    if not prefix.startswith(("http://", "https://")):
        raise ValueError(f"{prefix!r} is not an http:// or https:// prefix")
    if not prefix.endswith("/"):
        prefix += "/"

    def read(path: str) -> bytes | None:
        url = prefix + path
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})  # noqa: S310 - scheme checked above
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body: bytes = response.read(max_size + 1)
                gzipped = response.headers.get("Content-Encoding", "").lower() == "gzip"
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise TileError(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TileError(f"{url}: {exc}") from None
        if len(body) > max_size:
            raise TileError(f"{url} is larger than {max_size} bytes")
        if gzipped:
            try:
                body = _gunzip(body, max_size)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise TileError(f"{url}: bad gzip body ({exc})") from None
        return body

    return read


def _gunzip(data: bytes, max_size: int) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
        body = f.read(max_size + 1)
    if len(body) > max_size:
        raise OSError(f"more than {max_size} bytes once unpacked")
    return body
