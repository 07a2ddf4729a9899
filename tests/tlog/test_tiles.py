"""Static publication (spec §2): paths, bundles, the writer and the reader, against §6.5 and
the reference implementation; tampered files are refused with the file named."""

from __future__ import annotations

import gzip
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.tlog.conftest import REF_LEAVES

from secki.tlog.checkpoint import Checkpoint
from secki.tlog.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_path,
    leaf_hash,
    memory_subtree,
    root_of,
    verify_consistency,
)
from secki.tlog.note import generate_key, sign_note
from secki.tlog.tiles import (
    Tile,
    TileError,
    TileReader,
    TileWriter,
    bundle_path,
    decode_bundle,
    directory_source,
    encode_bundle,
    files_for_size,
    http_source,
    index_path,
    tile_path,
    tiles_for_size,
)

SIZE = 70000
ROOT_70000 = "a3920fba7f239a071a9bd10721f1341addefbaededb41c7e24437a9d16bdf00a"
ENTRIES = [b"entry %d" % i for i in range(SIZE)]
HASHES = [leaf_hash(e) for e in ENTRIES]


def files_in(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def log_70000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("log")
    size, root = TileWriter(directory).append(ENTRIES)
    assert (size, root.hex()) == (SIZE, ROOT_70000)
    return directory


@pytest.mark.parametrize(
    ("n", "path"),
    [
        (1234067, "x001/x234/067"),  # C2SP tlog-tiles
        (123456078, "x123/x456/078"),  # golang/mod sumdb/tlog
        (3057500, "x003/x057/500"),
        (1, "001"),
        (0, "000"),
        (999, "999"),
        (1000, "x001/000"),
        (1000000, "x001/x000/000"),
    ],
)
def test_index_paths_of_6_5(n: int, path: str) -> None:
    assert index_path(n) == path


def test_tile_and_bundle_paths() -> None:
    assert tile_path(0, 1234067, 5) == "tile/0/x001/x234/067.p/5"
    assert tile_path(3, 5) == "tile/3/005"
    assert bundle_path(3) == "tile/entries/003"
    assert bundle_path(1000, 17) == "tile/entries/x001/000.p/17"
    for bad in ((0, 0, 0), (0, 0, 257), (64, 0, 1), (0, -1, 1)):
        with pytest.raises(ValueError):
            tile_path(*bad)


def test_tiles_for_sizes_of_6_5() -> None:
    tiles = tiles_for_size(70000)
    by_level = {
        level: [t.width for t in tiles if t.level == level] for level in {t.level for t in tiles}
    }
    assert by_level == {0: [256] * 273 + [112], 1: [256, 17], 2: [1]}
    assert [t.path for t in tiles_for_size(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert tiles_for_size(0) == []
    assert len(files_for_size(70000)) == 551


def test_reference_leaves_as_tiles_of_6_5(tmp_path: Path) -> None:
    size, root = TileWriter(tmp_path).append(REF_LEAVES)
    assert size == 8
    assert root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert sorted(files_in(tmp_path)) == ["tile/0/000.p/8", "tile/entries/000.p/8"]
    assert (tmp_path / "tile/0/000.p/8").read_bytes() == b"".join(map(leaf_hash, REF_LEAVES))
    bundle = (tmp_path / "tile/entries/000.p/8").read_bytes()
    assert bundle.hex() == (
        "0000"
        "000100"
        "000110"
        "00022021"
        "00023031"
        "000440414243"
        "00085051525354555657"
        "0010606162636465666768696a6b6c6d6e6f"
    )
    assert decode_bundle(bundle) == REF_LEAVES


def test_bundles_round_trip_and_refuse_truncation() -> None:
    entries = [b"", b"a", b"x" * 65535]
    data = encode_bundle(entries)
    assert decode_bundle(data) == entries
    with pytest.raises(TileError, match="claims 65535 bytes"):
        decode_bundle(data[:-1])
    with pytest.raises(TileError, match="inside the length"):
        decode_bundle(data + b"\x00")
    with pytest.raises(TileError, match="over 65535"):
        encode_bundle([b"x" * 65536])


def test_70000_entries_give_the_root_and_the_551_files_of_6_5(
    log_70000: Path, reference: ModuleType
) -> None:
    files = files_in(log_70000)
    assert sorted(files) == sorted(files_for_size(SIZE))
    assert len(files) == 551
    # byte for byte what the spec's reference builds
    assert files == reference.build_static_log(ENTRIES)


def test_the_reader_computes_the_direct_proofs_from_tiles(log_70000: Path) -> None:
    reader = TileReader(directory_source(log_70000), SIZE, bytes.fromhex(ROOT_70000))
    reader.check_root()
    direct = memory_subtree(HASHES)
    for m in (0, 255, 256, 65535, 65536, 69999, 12345):
        path = reader.inclusion_path(m)
        assert path == inclusion_path(m, SIZE, direct)
        assert reader.verified_entry(m) == ENTRIES[m]
    for old in (1, 255, 256, 65536, 65800, 69999):
        proof = reader.consistency_proof(old)
        assert proof == consistency_proof(old, SIZE, direct)
        verify_consistency(old, SIZE, root_of(HASHES[:old]), reader.root, proof)
    assert reader.consistency_proof(SIZE) == []
    assert reader.all_entries() == ENTRIES
    assert list(reader.entries(69990)) == ENTRIES[69990:]


def test_the_reader_agrees_with_the_reference_tile_hasher(
    log_70000: Path, reference: ModuleType
) -> None:
    source = directory_source(log_70000)
    theirs = reference.tile_range_hasher(SIZE, lambda p: source(p))
    reader = TileReader(source, SIZE, bytes.fromhex(ROOT_70000))
    for a, b in [(0, 70000), (0, 65536), (65536, 70000), (69888, 70000), (256, 512), (3, 4)]:
        assert reader.subtree(a, b) == theirs(a, b)


def test_writing_in_batches_with_a_new_writer_each_gives_the_same_files(
    tmp_path: Path, log_70000: Path
) -> None:
    size, root = 0, EMPTY_ROOT
    cuts = [1, 255, 256, 1000, 65535, 65536, 65800, 69999, SIZE]
    for cut in cuts:
        writer = TileWriter(tmp_path, size, root)  # resumes from the right edge on disk
        size, root = writer.append(ENTRIES[size:cut])
        assert (size, root) == (cut, root_of(HASHES[:cut]))
    one_go, batched = files_in(log_70000), files_in(tmp_path)
    assert {p: batched[p] for p in one_go} == one_go
    # what is left over: partial tiles of earlier sizes whose tile is not full yet (§2.5
    # rule 3 deletes a partial only once its full tile exists), each the prefix of today's
    extra = sorted(set(batched) - set(one_go))
    assert extra == ["tile/0/273.p/111", "tile/1/001.p/1", "tile/entries/273.p/111"]
    for old, new in [
        ("tile/0/273.p/111", "tile/0/273.p/112"),
        ("tile/1/001.p/1", "tile/1/001.p/17"),
        ("tile/entries/273.p/111", "tile/entries/273.p/112"),
    ]:
        assert one_go[new].startswith(batched[old])


def test_the_reader_falls_back_to_the_full_tile_once_a_partial_is_gone(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    size, root = writer.append(ENTRIES[:300])
    writer.append(ENTRIES[300:600])  # tile 1 of level 0 is full: its .p/44 is pruned
    assert not (tmp_path / "tile/0/001.p").exists()
    reader = TileReader(directory_source(tmp_path), size, root)
    reader.check_root()
    assert reader.verified_entry(299) == ENTRIES[299]
    assert reader.all_entries() == ENTRIES[:300]


def test_an_empty_log_has_no_files_and_the_empty_root(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    assert writer.append([]) == (0, EMPTY_ROOT)
    assert files_in(tmp_path) == {}
    reader = TileReader(directory_source(tmp_path), 0, EMPTY_ROOT)
    reader.check_root()
    assert reader.all_entries() == []


def test_the_writer_never_changes_a_published_file(tmp_path: Path) -> None:
    TileWriter(tmp_path, prune=False).append(ENTRIES[:200])
    TileWriter(tmp_path, 200, prune=False).append(ENTRIES[200:300])
    # a second history from size 200 would rewrite the full tile 0
    writer = TileWriter(tmp_path, 200, prune=False)
    with pytest.raises(TileError, match="tile/entries/000 exists with other bytes"):
        writer.append([b"other %d" % i for i in range(100)])
    with pytest.raises(TileError, match="an earlier append failed"):
        writer.append(ENTRIES[200:300])
    assert (tmp_path / "tile/0/000").read_bytes() == b"".join(HASHES[:256])


def test_the_writer_checks_what_it_resumes_from(tmp_path: Path) -> None:
    size, root = TileWriter(tmp_path).append(ENTRIES[:300])
    with pytest.raises(TileError, match="give root"):
        TileWriter(tmp_path, size, EMPTY_ROOT)
    with pytest.raises(TileError, match=r"cannot resume at size 301: tile/0/001.p/45 is missing"):
        TileWriter(tmp_path, 301)
    bundle = tmp_path / "tile/entries/001.p/44"
    bundle.write_bytes(encode_bundle([*ENTRIES[256:299], b"forged"]))
    with pytest.raises(TileError, match=r"entry 43 of tile/entries/001\.p/44 does not hash"):
        TileWriter(tmp_path, size, root)
    with pytest.raises(TileError, match="over 65535"):
        TileWriter(tmp_path / "new").append([b"x" * 65536])


# -- tampering ----------------------------------------------------------------------------------


@pytest.fixture
def small_log(tmp_path: Path) -> tuple[Path, int, bytes]:
    size, root = TileWriter(tmp_path).append(ENTRIES[:1000])
    return tmp_path, size, root


def test_a_changed_byte_in_a_bundle_is_refused(small_log: tuple[Path, int, bytes]) -> None:
    directory, size, root = small_log
    path = directory / "tile/entries/001"
    original = path.read_bytes()
    assert original[99:110] == b"\x00\x09entry 265"
    path.write_bytes(original[:108] + b"7" + original[109:])  # entry 265 now says 275
    reader = TileReader(directory_source(directory), size, root)
    with pytest.raises(TileError, match=r"entry 9 of tile/entries/001 does not hash"):
        reader.entry(300)
    with pytest.raises(TileError, match="tile/entries/001"):
        reader.all_entries()
    assert reader.verified_entry(100) == ENTRIES[100]  # the other bundles still check
    path.write_bytes(original[:100] + b"\x99" + original[101:])  # a length byte
    with pytest.raises(TileError, match=r"entry \d+ of tile/entries/001 claims \d+ bytes"):
        TileReader(directory_source(directory), size, root).entry(300)


def test_a_removed_entry_is_refused(small_log: tuple[Path, int, bytes]) -> None:
    directory, size, root = small_log
    path = directory / "tile/entries/003.p/232"
    path.write_bytes(encode_bundle(ENTRIES[768:999]))
    reader = TileReader(directory_source(directory), size, root)
    with pytest.raises(TileError, match=r"tile/entries/003\.p/232 holds 231 entries"):
        reader.entry(900)


def test_a_history_without_one_entry_rebuilt_to_match_fails_the_checks(
    small_log: tuple[Path, int, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The operator drops entry 500 and rebuilds every tile: nothing is inconsistent inside
    the files, but the root a verifier holds, or the consistency proof from its last
    checkpoint, gives it away."""
    root = small_log[2]
    rewritten = tmp_path_factory.mktemp("rewritten")
    forged = [*ENTRIES[:500], *ENTRIES[501:1000], b"entry 1000"]
    new_size, new_root = TileWriter(rewritten).append(forged)
    reader = TileReader(directory_source(rewritten), new_size, root)
    with pytest.raises(TileError, match="the tiles give root"):
        reader.check_root()
    with pytest.raises(ProofError, match="leads to root"):
        reader.verified_entry(700)
    # a verifier that saw size 600 earlier asks the new checkpoint for a consistency proof
    old_root = root_of(HASHES[:600])
    honest = TileReader(directory_source(rewritten), new_size, new_root)
    honest.check_root()
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(600, new_size, old_root, new_root, honest.consistency_proof(600))


def test_a_wrong_partial_width_is_refused(small_log: tuple[Path, int, bytes]) -> None:
    directory, size, root = small_log
    path = directory / "tile/0/003.p/232"
    path.write_bytes(path.read_bytes()[:-32])
    reader = TileReader(directory_source(directory), size, root)
    with pytest.raises(TileError, match=r"tile/0/003.p/232 has 7392 bytes, expected 7424"):
        reader.tree_root()
    # a checkpoint claiming one entry more than the files hold: its partial tile is missing
    longer = TileReader(directory_source(directory), size + 1, root)
    with pytest.raises(TileError, match=r"tile/0/003.p/233 is missing"):
        longer.tree_root()


def test_the_directory_source_stays_in_its_directory(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "secret").write_bytes(b"x")
    source = directory_source(tmp_path / "log")
    assert source("checkpoint") is None
    with pytest.raises(TileError, match="leaves the log directory"):
        source("../secret")


class _GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the log directory; bundles gzip-compressed when the client accepts it."""

    def do_GET(self) -> None:
        path = Path(self.directory) / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        if "/entries/" in self.path and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(small_log: tuple[Path, int, bytes]) -> Iterator[str]:
    directory = small_log[0]

    def handler(*args: object, **kwargs: object) -> _GzipHandler:
        return _GzipHandler(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/log"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_http_source_reads_a_served_log(
    small_log: tuple[Path, int, bytes], served: str
) -> None:
    directory, size, root = small_log
    prefix = served.removesuffix("/log")
    source = http_source(prefix)
    assert source("checkpoint") is None
    reader = TileReader(source, size, root)
    reader.check_root()
    assert reader.verified_entry(999) == ENTRIES[999]
    assert reader.all_entries() == ENTRIES[:1000]
    with pytest.raises(TileError, match="larger than 100 bytes"):
        http_source(prefix, max_size=100)("tile/0/000")
    with pytest.raises(ValueError, match="not an http"):
        http_source("file:///etc/")
    shutil.rmtree(directory / "tile/0")
    with pytest.raises(TileError, match="tile/0/000 is missing"):
        TileReader(http_source(prefix), size, root).entry(0)


def test_tile_objects_know_their_paths() -> None:
    assert Tile(0, 3, 232).bundle_path == "tile/entries/003.p/232"
    assert Tile(2, 0, 1).path == "tile/2/000.p/1"
    with pytest.raises(ValueError):
        _ = Tile(1, 0, 256).bundle_path


def test_a_writer_resumes_from_the_published_checkpoint(tmp_path: Path) -> None:
    """After a crash between writing the tiles of size 600 and publishing it, the writer
    resumes at the published 300: the same entries again leave the files as they are, other
    ones are refused."""
    assert TileWriter.resume(tmp_path).size == 0
    log = generate_key("log.example/tlog")
    size, root = TileWriter(tmp_path).append(ENTRIES[:300])
    (tmp_path / "checkpoint").write_text(
        sign_note(Checkpoint("log.example/tlog", size, root).format(), log)
    )
    TileWriter(tmp_path, size, root).append(ENTRIES[300:600])  # never published
    before = files_in(tmp_path)
    writer = TileWriter.resume(tmp_path)
    assert (writer.size, writer.root) == (300, root)
    assert writer.append(ENTRIES[300:600]) == (600, root_of(HASHES[:600]))
    assert files_in(tmp_path) == before
    with pytest.raises(TileError, match="exists with other bytes"):
        TileWriter.resume(tmp_path).append([b"other"] * 300)
    (tmp_path / "checkpoint").write_text("not a checkpoint\n")
    with pytest.raises(TileError, match=r"cannot resume from .*checkpoint"):
        TileWriter.resume(tmp_path)
