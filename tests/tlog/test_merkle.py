"""Hashes and proofs (spec §1) against the published vectors of §6.1–6.4, the 196
transparency-dev probe files, and the reference implementation on random trees."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from types import ModuleType

import pytest
from tests.tlog.conftest import REF_LEAVES

from secki.tlog.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_path,
    leaf_hash,
    memory_subtree,
    node_hash,
    root_of,
    split_point,
    verify_consistency,
    verify_inclusion,
)

H = bytes.fromhex

# §6.2: LH(d[n−1]) and MTH(D[0:n]) for n = 0…8 (transparency-dev/merkle, CT-Go)
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# interior nodes of §6.2
N_2_4 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
N_4_6 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
N_6_8 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
N_4_8 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"

# §6.3: published inclusion paths
INCLUSION = {
    (0, 1): [],
    (0, 8): [LEAF_HASHES[1], N_2_4, N_4_8],
    (5, 8): [LEAF_HASHES[4], N_6_8, ROOTS[4]],
    (2, 3): [ROOTS[2]],
    (1, 5): [LEAF_HASHES[0], N_2_4, LEAF_HASHES[4]],
}
# §6.4: published consistency proofs
CONSISTENCY = {
    (1, 1): [],
    (1, 8): [LEAF_HASHES[1], N_2_4, N_4_8],
    (6, 8): [N_4_6, N_6_8, ROOTS[4]],
    (2, 5): [N_2_4, LEAF_HASHES[4]],
    (6, 7): [N_4_6, LEAF_HASHES[6], ROOTS[4]],
}


def hashes() -> list[bytes]:
    return [leaf_hash(e) for e in REF_LEAVES]


def test_primitives_of_6_1() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert base64.b64encode(leaf_hash(b"hello world")).decode() == (
        "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
    )
    # the empty tree is H(""), not the tree of one empty entry
    assert leaf_hash(b"").hex() == LEAF_HASHES[0] != EMPTY_ROOT.hex()


def test_leaf_hashes_and_roots_of_6_2() -> None:
    assert [h.hex() for h in hashes()] == LEAF_HASHES
    for n in range(9):
        assert root_of(hashes()[:n]).hex() == ROOTS[n], n
    subtree = memory_subtree(hashes())
    assert [subtree(a, b).hex() for a, b in [(2, 4), (4, 6), (6, 8), (4, 8)]] == [
        N_2_4,
        N_4_6,
        N_6_8,
        N_4_8,
    ]


def test_split_point() -> None:
    assert [split_point(n) for n in (2, 3, 4, 5, 8, 9, 70000)] == [1, 2, 2, 4, 4, 8, 65536]
    with pytest.raises(ValueError):
        split_point(1)


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_inclusion_paths_of_6_3(index: int, size: int) -> None:
    want = [H(x) for x in INCLUSION[index, size]]
    path = inclusion_path(index, size, memory_subtree(hashes()[:size]))
    assert path == want
    verify_inclusion(index, size, hashes()[index], path, H(ROOTS[size]))
    if want:
        bad = [bytes(32), *want[1:]]
        with pytest.raises(ProofError, match="leads to root"):
            verify_inclusion(index, size, hashes()[index], bad, H(ROOTS[size]))


@pytest.mark.parametrize(("old", "new"), list(CONSISTENCY))
def test_consistency_proofs_of_6_4(old: int, new: int) -> None:
    want = [H(x) for x in CONSISTENCY[old, new]]
    if old < new:
        assert consistency_proof(old, new, memory_subtree(hashes()[:new])) == want
    verify_consistency(old, new, H(ROOTS[old]), H(ROOTS[new]), want)
    if want:
        with pytest.raises(ProofError):
            verify_consistency(old, new, H(ROOTS[new]), H(ROOTS[old]), want)
        with pytest.raises(ProofError):
            verify_consistency(old, new, H(ROOTS[old]), H(ROOTS[new]), [bytes(32), *want[1:]])


def test_the_labelled_example_of_c2sp_merkle_tree() -> None:
    """§6.4: the 7-leaf example of the draft C2SP merkle-tree.md (PR #199)."""
    hs = hashes()[:7]
    subtree = memory_subtree(hs)
    labels = dict(zip("abcdefg", hs, strict=True))
    labels |= {
        "h": subtree(0, 2),
        "i": subtree(2, 4),
        "j": subtree(4, 6),
        "k": subtree(0, 4),
        "l": subtree(4, 7),
    }
    name = {v: k for k, v in labels.items()}

    def named(proof: list[bytes]) -> str:
        return " ".join(name[x] for x in proof)

    assert [named(inclusion_path(m, 7, subtree)) for m in (0, 3, 4, 6)] == [
        "b i l",
        "c h l",
        "f g k",
        "j k",
    ]
    assert [named(consistency_proof(m, 7, subtree)) for m in (3, 4, 6)] == [
        "c d h l",
        "l",
        "j g k",
    ]


def test_every_proof_of_sizes_1_to_8_verifies() -> None:
    subtree = memory_subtree(hashes())
    for n in range(1, 9):
        for m in range(n):
            verify_inclusion(m, n, hashes()[m], inclusion_path(m, n, subtree), H(ROOTS[n]))
        for m in range(1, n):
            verify_consistency(m, n, H(ROOTS[m]), H(ROOTS[n]), consistency_proof(m, n, subtree))


def test_edge_cases_of_verification_name_the_problem() -> None:
    hs = hashes()
    root = H(ROOTS[8])
    path = inclusion_path(0, 8, memory_subtree(hs))
    with pytest.raises(ProofError, match="index 8 is not below the tree size 8"):
        verify_inclusion(8, 8, hs[0], path, root)
    with pytest.raises(ProofError, match="too long"):
        verify_inclusion(0, 8, hs[0], [*path, bytes(32)], root)
    with pytest.raises(ProofError, match="too short"):
        verify_inclusion(0, 8, hs[0], path[:-1], root)
    with pytest.raises(ProofError, match=r"path\[1\] has 31 bytes"):
        verify_inclusion(0, 8, hs[0], [path[0], path[1][:31], path[2]], root)
    with pytest.raises(ProofError, match="size 0 proves nothing"):
        verify_consistency(0, 8, EMPTY_ROOT, root, [])
    with pytest.raises(ProofError, match="larger than the new size"):
        verify_consistency(8, 7, root, H(ROOTS[7]), [])
    with pytest.raises(ProofError, match="two different roots for size 8"):
        verify_consistency(8, 8, root, H(ROOTS[7]), [])
    with pytest.raises(ProofError, match="need an empty proof"):
        verify_consistency(8, 8, root, root, [root])
    with pytest.raises(ProofError, match="empty consistency proof"):
        verify_consistency(3, 8, H(ROOTS[3]), root, [])
    proof = consistency_proof(3, 8, memory_subtree(hs))
    with pytest.raises(ProofError, match="too long"):
        verify_consistency(3, 8, H(ROOTS[3]), root, [*proof, bytes(32)])
    with pytest.raises(ProofError, match="too short"):
        verify_consistency(3, 8, H(ROOTS[3]), root, proof[:-1])
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(3, 8, H(ROOTS[4]), root, proof)
    with pytest.raises(ProofError, match="new root"):
        verify_consistency(3, 8, H(ROOTS[3]), H(ROOTS[7]), proof)


def _probe_files(probes_dir: Path) -> list[Path]:
    return sorted(probes_dir.rglob("*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def test_all_196_probe_files_get_the_expected_verdict(probes_dir: Path) -> None:
    files = _probe_files(probes_dir)
    assert len(files) == 196
    wrong = []
    verdicts = {True: 0, False: 0}
    for path in files:
        probe = json.loads(path.read_text())
        proof = [_b64(x) for x in probe["proof"] or []]
        try:
            if "leafIdx" in probe:
                verify_inclusion(
                    probe["leafIdx"],
                    probe["treeSize"],
                    _b64(probe["leafHash"]),
                    proof,
                    _b64(probe["root"]),
                )
            else:
                verify_consistency(
                    probe["size1"],
                    probe["size2"],
                    _b64(probe["root1"]),
                    _b64(probe["root2"]),
                    proof,
                )
        except ProofError:
            accepted = False
        else:
            accepted = True
        verdicts[accepted] += 1
        if accepted == probe["wantErr"]:
            wrong.append(str(path.relative_to(probes_dir)))
    assert wrong == []
    # the happy paths of inclusion/0-4 and consistency/0-4, a single-entry tree whose root is
    # its leaf, and equal sizes with equal roots
    assert verdicts == {True: 12, False: 184}


@pytest.mark.parametrize("seed", range(6))
def test_random_trees_agree_with_the_reference(reference: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(1, 700)
    hs = [leaf_hash(rng.randbytes(rng.randint(0, 40))) for _ in range(size)]
    ours, theirs = memory_subtree(hs), reference.memory_range_hasher(hs)
    root = root_of(hs)
    assert root == reference.mth_hashes(hs)
    for _ in range(25):
        m = rng.randrange(size)
        path = inclusion_path(m, size, ours)
        assert path == reference.inclusion_proof(m, size, theirs)
        verify_inclusion(m, size, hs[m], path, root)
        if m:
            proof = consistency_proof(m, size, ours)
            assert proof == reference.consistency_proof(m, size, theirs)
            verify_consistency(m, size, root_of(hs[:m]), root, proof)
            # one flipped bit anywhere fails, as the reference's verifier agrees
            i = rng.randrange(len(proof))
            bad = [*proof[:i], bytes([proof[i][0] ^ 1]) + proof[i][1:], *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(m, size, root_of(hs[:m]), root, bad)
            assert not reference.verify_consistency(m, size, root_of(hs[:m]), root, bad)
