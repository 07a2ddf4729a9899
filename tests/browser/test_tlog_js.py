"""tlog.js, the checks the browser runs (static/portal/tlog.js), against secki.tlog and the
spec's vectors, in Chromium, with WebCrypto and with the vendored noble.js alike: the Merkle
hashes and roots of spec §6.1–6.2; every transparency-dev probe file; proofs computed from
the tiles of a 70,000-entry log written by secki.tlog's TileWriter, equal to secki.tlog's and
verified, a pruned partial tile read from its full one; signed notes and checkpoints (§6.6,
§6.8, a real sum.golang.org checkpoint), refused when changed; canonical JSON, entries'
validity and the totals rule, results files compared, all agreeing with secki.tlog.

The page and its files are served by Playwright's request routing at https://tlog.test/ (a
secure context, so WebCrypto is there); no server, no database."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import secki.portal
from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint
from secki.tlog.entries import (
    Prev,
    election_closed,
    election_published,
    first_invalid,
    protocol_accepted,
    protocol_amended,
    protocol_annulled,
    register_published,
    replay,
    scan_uploaded,
    turnout_reported,
)
from secki.tlog.merkle import (
    consistency_proof,
    inclusion_path,
    leaf_hash,
    memory_subtree,
    node_hash,
    root_of,
)
from secki.tlog.note import KeyType, Signer, sign_note
from secki.tlog.results import (
    build_results,
    compare_results,
    compare_units,
    parse_results,
    results_document,
)
from secki.tlog.tiles import TileWriter
from tests.tlog.conftest import REF_LEAVES, SHARED

STATIC = Path(secki.portal.__file__).resolve().parent / "static"
ORIGIN = "https://tlog.test/"
ELECTION_NOTE = (
    "results.example.org/log\n3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n\n"
    "\u2014 results.example.org/log qeltIGcFHQ0rioTnoeoyx/AagG8dZP7jM8oebWXMeZL1G4HaLwdlkqINOY2oR"
    "HYkZbuIMKmOQ8VfDR2YpC0/iwJwYAQ=\n"
    "\u2014 observers.example.net/w1 yTh9kQAAAABpreiDT42lB8bhiGkMyOPmvxOovns2clUm3ZJqXFymCdUxTV2h"
    "/u/nXBSBKh3BzrcY/zR5vjzoDzyed/L7WcApguddDA==\n"
)
LOG_VKEY = "results.example.org/log+a9e96d20+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
WITNESS_VKEY = "observers.example.net/w1+c9387d91+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"
SUMDB_NOTE = (
    "go.sum database tree\n35225469\nvt5T6GaLCXvyHFl9VUvvItR43XZxfLgftEcTyO3eJCQ=\n\n"
    "\u2014 sum.golang.org Az3grpukl5AXaVfYkLiDGORx/DN2nlcS5kZHR5uYOBV2KA2HgXpD+gu9HHONebHLAyaKbb"
    "TM75QTtPydhKCExixSfwQ=\n"
)
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#: RFC 8032 §7.1 TEST 1: public key, and signature of the empty message
TEST1_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TEST1_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b"
)
T0 = dt.datetime(2026, 3, 8, 8, 0, tzinfo=dt.UTC)


class Js:
    """A page with tlog.js loaded; ``run(body, arg)`` evaluates an async function body with
    ``T`` (SeckiTlog) and ``arg`` in scope."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def run(self, body: str, arg: Any = None) -> Any:
        return self.page.evaluate(
            "async ([body, arg]) => { const T = window.SeckiTlog;"
            " return await (new Function('T', 'arg', 'return (async () => {' + body + '})()'))"
            "(T, arg); }",
            [body, arg],
        )


def route(files: Callable[[str], bytes | None]) -> Callable[[Any], None]:
    def handle(request: Any) -> None:
        path = request.request.url[len(ORIGIN) :].split("?")[0]
        if path == "":
            request.fulfill(
                status=200, body="<!doctype html><title>tlog.js</title>", content_type="text/html"
            )
            return
        if path.startswith("static/"):
            target = STATIC / path[len("static/") :]
            data = target.read_bytes() if target.is_file() else None
        else:
            data = files(path)
        if data is None:
            request.fulfill(status=404, body="Not found\n")
        else:
            request.fulfill(status=200, body=data, content_type="application/octet-stream")

    return handle


@pytest.fixture(params=["WebCrypto", "noble"])
def make_js(browser: Any, request: Any) -> Iterator[Callable[..., Js]]:
    """A factory of pages with tlog.js, its crypto from WebCrypto or from noble.js; files
    other than the static ones come from ``files(path)`` (None: 404)."""
    mode = request.param
    contexts = []

    def make(files: Callable[[str], bytes | None] = lambda path: None) -> Js:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.route(f"{ORIGIN}**", route(files))
        page.goto(ORIGIN)
        page.add_script_tag(url=f"{ORIGIN}static/portal/tlog.js")
        js = Js(page)
        used = js.run(
            "T.configure({fallback: '/static/vendor/noble/noble.js', forceFallback: arg});"
            " return await T.backends();",
            mode == "noble",
        )
        assert used == {"sha256": mode, "ed25519": mode}
        return js

    yield make
    for context in contexts:
        context.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_hashes_and_roots_of_the_spec(make_js: Callable[..., Js]) -> None:
    js = make_js()
    got = js.run(
        """
        const H = x => T.fromHex(x);
        const leaves = arg.leaves.map(H);
        const hashes = await Promise.all(leaves.map(T.leafHash));
        const roots = [];
        for (let n = 0; n <= leaves.length; n++) {
          roots.push(T.hex(await T.rootOf(hashes.slice(0, n))));
        }
        const ed = await T.ed25519();
        return {
          leaves: hashes.map(T.hex), roots,
          l123456: T.hex(await T.leafHash(T.utf8("L123456"))),
          n: T.hex(await T.nodeHash(T.utf8("N123"), T.utf8("N456"))),
          hello: T.b64encode(await T.leafHash(T.utf8("hello world"))),
          rfc8032: await ed.verify(H(arg.key), H(arg.signature), new Uint8Array(0)),
        };""",
        {
            "leaves": [leaf.hex() for leaf in REF_LEAVES],
            "key": TEST1_KEY,
            "signature": TEST1_SIGNATURE,
        },
    )
    hashes = [leaf_hash(leaf) for leaf in REF_LEAVES]
    assert got["leaves"] == [h.hex() for h in hashes]
    assert got["roots"] == [root_of(hashes[:n]).hex() for n in range(9)]
    assert got["roots"][8] == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert got["l123456"] == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert got["n"] == node_hash(b"N123", b"N456").hex()
    assert got["n"] == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    assert got["hello"] == "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
    assert got["rfc8032"] is True


def test_proofs_of_every_small_tree_verify_and_fail_when_changed(
    make_js: Callable[..., Js],
) -> None:
    hashes = [leaf_hash(leaf) for leaf in REF_LEAVES]
    cases = []
    for n in range(1, 9):
        subtree = memory_subtree(hashes[:n])
        root = root_of(hashes[:n]).hex()
        for m in range(n):
            path = [p.hex() for p in inclusion_path(m, n, subtree)]
            cases.append(["inclusion", m, n, hashes[m].hex(), path, root])
        for m in range(1, n):
            proof = [p.hex() for p in consistency_proof(m, n, subtree)]
            cases.append(["consistency", m, n, root_of(hashes[:m]).hex(), proof, root])
    got = make_js().run(
        """
        const H = x => T.fromHex(x);
        async function verdict(c, change) {
          const [kind, m, n, a, proof, root] = c;
          const p = proof.map(H);
          if (change && p.length) p[0] = p[0].map((b, i) => i === 0 ? b ^ 1 : b);
          try {
            if (kind === "inclusion") await T.verifyInclusion(m, n, H(a), p, H(root));
            else await T.verifyConsistency(m, n, H(a), H(root), p);
            return true;
          } catch (e) { return e.code; }
        }
        const out = [];
        for (const c of arg) {
          out.push([await verdict(c, false), await verdict(c, true), c[4].length]);
        }
        return out;""",
        cases,
    )
    assert len(got) == len(cases) == 36 + 28
    for case, (honest, changed, length) in zip(cases, got, strict=True):
        assert honest is True, case
        assert changed == (case[0] if length else True), case


def test_all_196_probe_files_get_the_expected_verdict(make_js: Callable[..., Js]) -> None:
    probes = SHARED / "data" / "tlog-probes"
    if not probes.is_dir():
        pytest.skip(f"the transparency-dev probe files are not at {probes}")
    files = sorted(probes.rglob("*.json"))
    assert len(files) == 196
    loaded = [json.loads(path.read_text()) for path in files]
    got = make_js().run(
        """
        const B = x => x
          ? T.b64decode(x) || Uint8Array.from(atob(x), c => c.charCodeAt(0))
          : new Uint8Array(0);
        const out = [];
        for (const p of arg) {
          const proof = (p.proof || []).map(B);
          try {
            if ("leafIdx" in p) {
              await T.verifyInclusion(p.leafIdx, p.treeSize, B(p.leafHash), proof, B(p.root));
            }
            else await T.verifyConsistency(p.size1, p.size2, B(p.root1), B(p.root2), proof);
            out.push(false);
          } catch (e) { out.push(true); }
        }
        return out;""",
        loaded,
    )
    wrong = [
        str(path.relative_to(probes))
        for path, probe, refused in zip(files, loaded, got, strict=True)
        if refused != probe["wantErr"]
    ]
    assert wrong == []
    assert sum(got) > 150 and not all(got)


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A log of the entries ``entry 0`` … ``entry 69999`` written by TileWriter in two steps
    (300, then the rest: the partial tiles of size 300 are pruned once their tiles are full)."""
    directory = tmp_path_factory.mktemp("tiles")
    entries = [f"entry {i}".encode() for i in range(70_000)]
    writer = TileWriter(directory, durable=False)
    writer.append(entries[:300])
    writer.append(entries[300:])
    return directory, [leaf_hash(e) for e in entries]


def test_proofs_from_the_tiles_of_70000_entries(
    make_js: Callable[..., Js], tiles: tuple[Path, list[bytes]]
) -> None:
    directory, hashes = tiles

    def files(path: str) -> bytes | None:
        target = directory / path
        return target.read_bytes() if target.is_file() else None

    rng = random.Random(14)
    indexes = [0, 1, 255, 256, 65_535, 65_536, 69_999, *rng.sample(range(70_000), 5)]
    olds = [1, 2, 255, 256, 257, 65_536, 69_999, *rng.sample(range(1, 70_000), 5)]
    size = len(hashes)
    root = root_of(hashes)
    assert root.hex() == "a3920fba7f239a071a9bd10721f1341addefbaededb41c7e24437a9d16bdf00a"
    got = make_js(files).run(
        """
        const [size, root, indexes, olds, early] = arg;
        const source = T.httpSource("/");
        const reader = new T.TileReader(source, size, T.fromHex(root));
        const out = {paths: [], proofs: [], entries: []};
        for (const i of indexes) {
          const path = await reader.inclusionPath(i);
          const entry = await reader.verifiedEntry(i);
          out.paths.push(path.map(T.hex));
          out.entries.push(T.decodeUtf8(entry.data));
        }
        for (const m of olds) out.proofs.push((await reader.consistencyProof(m)).map(T.hex));
        out.root = T.hex(await reader.subtree(0, size));
        // an earlier size: its partial tile and bundle were pruned, read from the full ones
        const earlier = new T.TileReader(source, early[0], T.fromHex(early[1]));
        out.early = T.decodeUtf8((await earlier.verifiedEntry(early[0] - 1)).data);
        return out;""",
        [size, root.hex(), indexes, olds, [300, root_of(hashes[:300]).hex()]],
    )
    subtree = memory_subtree(hashes)
    assert got["root"] == root.hex()
    assert got["paths"] == [[p.hex() for p in inclusion_path(i, size, subtree)] for i in indexes]
    assert got["entries"] == [f"entry {i}" for i in indexes]
    assert got["proofs"] == [[p.hex() for p in consistency_proof(m, size, subtree)] for m in olds]
    assert got["early"] == "entry 299"
    assert not (directory / "tile/0/001.p").exists()


def test_checkpoints_open_with_their_keys_and_are_refused_when_changed(
    make_js: Callable[..., Js],
) -> None:
    got = make_js().run(
        """
        const [note, logVkey, witnessVkey, sumNote, sumVkey] = arg;
        const logKey = await T.parseVkey(logVkey);
        const policy = await T.parsePolicy("# §6.8\\nwitness " + witnessVkey + "\\nquorum 1\\n");
        const none = await T.parsePolicy("quorum 0\\n");
        const origin = "results.example.org/log";
        async function open(text, p, now, o) {
          try {
            const c = await T.openCheckpoint(T.utf8(text), logKey, p, o || origin, now);
            return [c.checkpoint.size, T.hex(c.checkpoint.root), c.cosignatures];
          } catch (e) { return e.code; }
        }
        // a real note (its origin has spaces: a note, not a checkpoint of this log's form)
        const sumKey = await T.parseVkey(sumVkey);
        const split = T.splitNote(T.utf8(sumNote));
        const line = split.signatures[0];
        const ed = await T.ed25519();
        const sum = [T.hex(line.id) === T.hex(sumKey.id),
          await ed.verify(sumKey.publicKey, line.payload, T.utf8(split.text)),
          await ed.verify(
            sumKey.publicKey, line.payload, T.utf8(split.text.replace("9\\n", "8\\n"))),
          await T.openCheckpoint(T.utf8(sumNote), sumKey, none, "go.sum database tree", 1)
            .then(() => "accepted", e => e.code)];
        const twice = await T.parsePolicy("witness " + witnessVkey +
          "\\nwitness " + arg[5] + "\\nquorum 2\\n");
        return {
          ids: [T.hex(logKey.id), T.hex(policy.witnesses[0].id),
                T.hex((await T.parseVkey(arg[6])).id)],
          honest: await open(note, policy, 1773004931),
          unwitnessed: await open(note, none, 1773004931),
          sizeChanged: await open(note.replace("\\n3\\n", "\\n4\\n"), policy, 1773004931),
          cosignatureChanged:
            await open(note.replace("yTh9kQAAAABp", "yTh9kQAAAABq"), policy, 1773004931),
          early: await open(note, policy, 1773004931 - 601),
          quorum: await open(note, twice, 1773004931),
          origin: await open(note, policy, 1773004931, "results.example.org/other"),
          notANote: await open("results.example.org/log\\n3\\n", policy, 1773004931),
          badKeyId: await T.parseVkey(logVkey.replace("a9e96d20", "a9e96d21"))
            .then(() => "accepted", e => e.code),
          sum,
        };""",
        [ELECTION_NOTE, LOG_VKEY, WITNESS_VKEY, SUMDB_NOTE, SUMDB_VKEY, REMORA_VKEY, PETER_VKEY],
    )
    assert got["ids"] == ["a9e96d20", "c9387d91", "c74f20a3"]
    assert got["honest"] == [
        3,
        "601894d251c33c8345194b8d8a4f6ed56141196e66946af16a0300fec65ae260",
        [{"name": "observers.example.net/w1", "timestamp": 1773004931}],
    ]
    assert got["unwitnessed"][0] == 3
    assert got["sizeChanged"] == "signature"
    assert got["cosignatureChanged"] == "cosignature"
    assert got["early"] == "future"
    assert got["quorum"] == "quorum"
    assert got["origin"] == "origin"
    assert got["notANote"] == "note"
    assert got["badKeyId"] == "key"
    assert got["sum"] == [True, True, False, "checkpoint"]


CANONICAL_CASES = [
    b'{"a":1,"b":[1,2,{"c":null}],"d":true,"e":"\xc3\xa9"}',
    b'{"b":1,"a":1}',
    b'{"a":1, "b":2}',
    b'{"a":1.0}',
    b'{"a":1e2}',
    b'{"a":-0}',
    b'{"a":9007199254740991}',
    b'{"a":9007199254740993}',
    b'{"a":1,"a":1}',
    b'{"a":"\\u00e9"}',
    b'{"a":"\\u0001\\n\\t\\"\\\\"}',
    b'{"a":"\x01"}',
    b'{"a":"\\/"}',
    b'{"a":"e\xcc\x81"}',
    b'{"\xc3\xa9":1}',
    b'{"a":"\\ud800"}',
    b'["a"]',
    b"\xef\xbb\xbf{}",
    b"{}",
    b'{"a":"\xff"}',
    b'{"a":{"b":{"c":{}}}}',
]


def test_canonical_json_agrees_with_secki_tlog(make_js: Callable[..., Js]) -> None:
    got = make_js().run(
        """return arg.map(h => { try { T.decodeCanonical(T.fromHex(h)); return true; }
                                 catch (e) { return false; } });""",
        [case.hex() for case in CANONICAL_CASES],
    )
    expected = []
    for case in CANONICAL_CASES:
        try:
            canonical.decode(case)
        except canonical.CanonicalError:
            expected.append(False)
        else:
            expected.append(True)
    assert got == expected
    assert expected.count(True) == 5  # the first, \u0001\n\t\"\\ escaped, {}, the nested two


def day() -> list[bytes]:
    """A valid log: the register, the election opened, three stations, an amendment, an
    annulment, turnout reports and a correction, a scan, the election closed."""
    files = {"stations.csv": "1" * 64, "units.csv": "2" * 64}
    entries = [
        register_published("e", 1, files, T0),
        election_published("e", "3" * 64, T0),
        protocol_accepted("e", "1", {"L1": 100, "C1": 60, "C2": 40}, T0, scan_sha256="4" * 64),
        protocol_accepted("e", "2", {"L1": 200, "C1": 70, "C2": 130}, T0),
        protocol_accepted("e", "3", {"L1": 300, "C1": 1, "C2": 2}, T0),
        turnout_reported("e", "1", "10:00", 30, T0),
        scan_uploaded("e", "1", 1, "5" * 64, 1000, "image/png", T0),
    ]
    entries.append(
        protocol_amended("e", "1", 2, Prev.of(2, entries[2]), {"L1": 100, "C1": 61, "C2": 39}, T0)
    )
    entries.append(protocol_annulled("e", "3", 2, Prev.of(4, entries[4]), T0, "decision 7"))
    entries.append(
        turnout_reported(
            "e", "1", "10:00", 31, T0, version=2, prev=Prev.of(5, entries[5]), reason="typo"
        )
    )
    entries.append(election_closed("e", T0))
    return entries


def invalid_logs() -> list[list[bytes]]:
    good = day()
    anchor = {
        "kind": "chain.anchor",
        "seq": 1,
        "head": "7" * 64,
        "anchored_at": "2026-03-08T08:00:00Z",
    }
    return [
        [*good[:3], protocol_accepted("e", "1", {"L1": 1}, T0)],  # already accepted
        [*good[:3], protocol_amended("e", "1", 3, Prev.of(2, good[2]), {"L1": 1}, T0)],  # version
        [*good[:4], protocol_amended("e", "1", 2, Prev.of(3, good[3]), {"L1": 1}, T0)],  # prev
        [*good[:2], protocol_annulled("e", "9", 2, Prev.of(1, good[1]), T0, "none")],  # nothing
        [election_closed("e", T0)],  # not open
        [good[0], register_published("e", 3, {"a.csv": "6" * 64}, T0)],  # register version
        [*good[:2], b'{"kind":"protocol.accepted","election":"e"}'],  # not canonical
        [*good[:2], canonical.encode({"kind": "protocol.accepted", "election": "e"})],  # fields
        [*good[:2], canonical.encode(anchor)],  # an anchor after entry 0
    ]


def test_replay_and_totals_agree_with_secki_tlog(make_js: Callable[..., Js]) -> None:
    logs = [day(), *invalid_logs()]
    got = make_js().run(
        """
        const out = [];
        for (const log of arg) {
          const r = new T.Replay();
          try {
            for (const h of log) { const e = T.fromHex(h); r.add(e, await T.leafHash(e)); }
            const t = r.tally("e");
            out.push({totals: t.totals, counted: t.stationsCounted, stations: t.stations});
          } catch (e) { out.push({invalid: [e.params.index, e.params.rule]}); }
        }
        return out;""",
        [[e.hex() for e in log] for log in logs],
    )
    tally = replay(logs[0]).tally("e")
    assert got[0] == {
        "totals": tally.totals,
        "counted": tally.stations_counted,
        "stations": tally.stations,
    }
    assert tally.totals == {"C1": 131, "C2": 169, "L1": 300}
    expected = []
    for log in logs[1:]:
        found = first_invalid(log)
        assert found is not None
        expected.append({"invalid": [found.index, str(found.rule)]})
    assert got[1:] == expected
    assert len({tuple(e["invalid"]) for e in expected}) == len(expected)


def test_results_compared_as_secki_tlog_compares_them(make_js: Callable[..., Js]) -> None:
    entries = day()
    tally = replay(entries).tally("e")
    root = root_of([leaf_hash(e) for e in entries])
    note = _note(root, len(entries))
    units_of = {"1": ["N", "C"], "2": ["S", "C"], "3": ["S", "C"]}
    units = {code: u.totals for code, u in tally.by_unit(units_of).items()}
    changed = {**units, "N": {**units["N"], "C1": units["N"]["C1"] + 1}, "X": {}}
    del changed["S"]
    documents = [
        build_results(tally, root, note, units=units),
        results_document(
            "e",
            len(entries),
            root,
            {**tally.totals, "C2": tally.totals["C2"] + 1},
            tally.stations_counted + 1,
            note,
            units=changed,
        ),
    ]
    got = make_js().run(
        """
        const [docs, units, entries] = arg;
        const r = new T.Replay();
        for (const h of entries) { const e = T.fromHex(h); r.add(e, await T.leafHash(e)); }
        const tally = r.tally("e");
        const unitsOf = new Map(Object.entries(units));
        return docs.map(d => {
          const doc = T.parseResults(T.fromHex(d), "results");
          return T.compareResults(doc, tally).concat(T.compareUnits(doc, tally, unitsOf))
            .map(p => [p.code, p.params.unit || null, p.params.line || null]);
        });""",
        [[d.hex() for d in documents], units_of, [e.hex() for e in entries]],
    )
    assert got[0] == []
    assert got[1] == [
        ["r_stations", None, None],
        ["r_line", None, "C2"],
        ["r_unit_missing", "S", None],
        ["r_unit_line", "N", "C1"],
    ]
    # the same differences, in the same order, as secki.tlog names them
    for data, problems in zip(documents, got, strict=True):
        document = parse_results(data)
        named = compare_results(document, tally) + compare_units(document, tally, units_of)
        assert len(named) == len(problems)
    document = parse_results(documents[1])
    assert [line.split(":")[0] for line in compare_units(document, tally, units_of)] == [
        "unit S",
        "unit N line C1",
    ]


def _note(root: bytes, size: int) -> str:
    """A checkpoint note of ``size`` and ``root`` (the results file needs one of its size and
    root; it is not opened here)."""
    signer = Signer.from_seed("results.test/log/e", KeyType.ED25519, bytes(32))
    return sign_note(Checkpoint("results.test/log/e", size, root).format(), signer)
