"""Signed notes, keys and cosignatures (spec §3.2–3.4, §4.1–4.2) against the published
vectors of §6.1, §6.6 and §6.7; every refusal names its reason."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.tlog.conftest import TEST1_SEED

from secki.tlog.checkpoint import Checkpoint
from secki.tlog.note import (
    KeyType,
    NoteError,
    SignatureLine,
    Signer,
    VerifierKey,
    add_signatures,
    cosign,
    cosignature_message,
    generate_key,
    key_id,
    open_note,
    sign_note,
    split_note,
)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
    "pRZb6KE6RyyBwJnAM=\n"
)
ENOCH_LINE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
    "33WWd1RvMc+QQ=\n"
)
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n35225469\nvt5T6GaLCXvyHFl9VUvvItR43XZxfLgftEcTyO3eJCQ=\n\n"
    "— sum.golang.org Az3grpukl5AXaVfYkLiDGORx/DN2nlcS5kZHR5uYOBV2KA2HgXpD+gu9HHONebHLAyaKbbTM75Q"
    "TtPydhKCExixSfwQ=\n"
)


def test_ed25519_of_rfc_8032_test_1() -> None:
    signer = Signer.from_seed("t", KeyType.ED25519, TEST1_SEED)
    assert signer.verifier.public_key.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert signer.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_the_c2sp_signed_note_example() -> None:
    key = VerifierKey.parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    assert key.key_id.hex() == "530d903a"
    note = (
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppz"
        "i2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    opened = open_note(note.encode(), [key])
    assert opened.text == "This is an example message.\n"
    assert [v.key for v in opened.verified] == [key]


def test_peter_neumann_of_golang_mod() -> None:
    key = VerifierKey.parse(PETER_VKEY)
    assert key.key_id.hex() == "c74f20a3"
    assert key.format() == PETER_VKEY
    signer = Signer.parse(PETER_SKEY)
    assert signer.verifier == key
    assert signer.format() == PETER_SKEY
    note = sign_note(PETER_TEXT, signer)
    assert note == PETER_TEXT + "\n" + PETER_LINE  # byte for byte
    assert open_note(note, [key]).verified[0].key == key
    altered = note.replace("problem,", "problem;")
    with pytest.raises(NoteError, match="the signature of PeterNeumann does not verify"):
        open_note(altered, [key])


def test_enoch_root_with_a_zero_seed() -> None:
    signer = Signer.from_seed("EnochRoot", KeyType.ED25519, bytes(32))
    assert sign_note(PETER_TEXT, signer) == PETER_TEXT + "\n" + ENOCH_LINE
    both = add_signatures(sign_note(PETER_TEXT, Signer.parse(PETER_SKEY)), [ENOCH_LINE])
    opened = open_note(both, [VerifierKey.parse(PETER_VKEY), signer.verifier])
    assert [v.key.name for v in opened.verified] == ["PeterNeumann", "EnochRoot"]


def test_a_real_sum_golang_org_checkpoint() -> None:
    key = VerifierKey.parse(SUMDB_VKEY)
    assert key.key_id.hex() == "033de0ae"
    opened = open_note(SUMDB_NOTE, [key])
    assert opened.text.splitlines()[:2] == ["go.sum database tree", "35225469"]


@pytest.mark.parametrize(
    ("vkey", "key_type", "kid"),
    [
        ("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", KeyType.ED25519, "7997405c"),
        (
            "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            KeyType.COSIGNATURE,
            "da77ade7",
        ),
    ],
)
def test_key_ids_of_transparency_dev_formats(vkey: str, key_type: KeyType, kid: str) -> None:
    key = VerifierKey.parse(vkey)
    assert (key.key_type, key.key_id.hex()) == (key_type, kid)
    assert key_id(key.name, key_type, key.public_key).hex() == kid


def test_the_c2sp_cosignature_example_line() -> None:
    line = (
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
        "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    signature = split_note("x\n\n" + line).signatures[0]
    assert len(signature.key_id + signature.payload) == 76
    assert signature.key_id.hex() == "8d66cf3f"
    assert struct.unpack(">Q", signature.payload[:8]) == (1679315147,)
    root = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    text = Checkpoint("example.com/behind-the-sofa", 20852163, root).format()
    assert cosignature_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    raw = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDc"
        "FiEBYJXORmnFBOBA=="
    )
    assert struct.unpack(">Q", raw[4:12]) == (1727964367,)


def test_sigsum_signatures_over_a_checkpoint_text() -> None:
    """§6.7: the log signature and two cosignature/v1 signatures published by Sigsum."""
    log_public = bytes.fromhex("7e55283748388e2fa565346516d848ef1195cad5c83816a4b6e24344cfc717e9")

    log_hash = hashlib.sha256(log_public).hexdigest()
    assert log_hash == "415e81ad656a4d1bd36f8f8d07703ed2bf0d00bf9e1a7e5c1f3fa2f1a90e7e61"
    root = bytes.fromhex("12594afb57e40a283bd03afac74641a032065cd59e098278920f55dae9d6f505")
    text = Checkpoint("sigsum.org/v1/tree/" + log_hash, 1, root).format()
    log_key = VerifierKey("sigsum-log", KeyType.ED25519, log_public)
    assert log_key.verify(
        text.encode(),
        bytes.fromhex(
            "69e5d513350061558350726bb8208e4801ca2a0e04599bf325a00a3566001818"
            "d64ceff441814911ea9e9a8920dab43848fc2cbb5aed01a51fd149c55c005501"
        ),
    )
    witnesses = {
        hashlib.sha256(bytes.fromhex(k)).hexdigest(): bytes.fromhex(k)
        for k in (
            "0356a86448e731c962782b30563d9d5c807f7956c4c361cf48ac75c6bd7fce0f",
            "364ced2caf85261de3c91170f137c0bf8688fda3293372d66f02d6b7f4bab79c",
            "ce80e6540b37b34c3b15a574ad82e1ebb5b7cae54f5335fb9fa960f5b89dd660",
        )
    }
    for key_hash, timestamp, signature in [
        (
            "f5762bab89791fd55deb53fa2faec246ef03f2d823ba276237612cb6ec55969a",
            1771286008,
            "39d88fc30e8a1df0df5c7b339fffbe1e1f34f1f3b67885db4ef47248f4f90dd7"
            "7fe070ecefb8e9eba0a2d63781a05b2a7e18b96dfc9577478f2e4dc01e7f1005",
        ),
        (
            "500dacf19d1b689f7bf2641283bdda2e37b568d12a420145eaa095743c6a7eb2",
            1771286014,
            "abf47128ba667057037124abf1c620ed912c2e1ac8921739094ec8ee19f1483f"
            "8132eb9f660a4000493ea8ee7502f13bb836486c45c5869d50015e169b49030f",
        ),
    ]:
        witness = VerifierKey("w", KeyType.COSIGNATURE, witnesses[key_hash])
        message = cosignature_message(text, timestamp)
        assert witness.verify(message, bytes.fromhex(signature))
        assert not witness.verify(
            cosignature_message(text, timestamp + 1), bytes.fromhex(signature)
        )


def test_cosignatures_round_trip_with_their_timestamp() -> None:
    log = generate_key("log.example/x")
    witness = generate_key("w.example/1", KeyType.COSIGNATURE)
    text = Checkpoint("log.example/x", 5, bytes(32)).format()
    note = add_signatures(sign_note(text, log), [cosign(text, witness, 1773004931)])
    opened = open_note(note, [log.verifier, witness.verifier])
    assert [(v.key.name, v.timestamp) for v in opened.verified] == [
        ("log.example/x", None),
        ("w.example/1", 1773004931),
    ]
    with pytest.raises(NoteError, match="not a cosignature key"):
        cosign(text, log, 1)
    with pytest.raises(NoteError, match="is a cosignature key"):
        sign_note(text, witness)


def test_private_keys_round_trip() -> None:
    for key_type in KeyType:
        signer = generate_key("n.example/k", key_type)
        again = Signer.parse(signer.format())
        assert (again.verifier, again.seed) == (signer.verifier, signer.seed)
        assert VerifierKey.parse(signer.verifier.format()) == signer.verifier


def test_unknown_signatures_are_ignored_and_a_forged_one_rejects_the_note() -> None:
    log = Signer.parse(PETER_SKEY)
    stranger = generate_key("Stranger")
    stranger_line = sign_note(PETER_TEXT, stranger)[len(PETER_TEXT) + 1 :]
    note = add_signatures(sign_note(PETER_TEXT, log), [stranger_line])
    opened = open_note(note, [log.verifier])
    assert [v.key.name for v in opened.verified] == ["PeterNeumann"]
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(note, [generate_key("Other").verifier])
    # a line under the trusted name and key ID whose signature is someone else's
    forger = Ed25519PrivateKey.generate()
    fake = SignatureLine(log.name, log.key_id, forger.sign(PETER_TEXT.encode())).format()
    with pytest.raises(NoteError, match="the signature of PeterNeumann does not verify"):
        open_note(add_signatures(sign_note(PETER_TEXT, log), [fake]), [log.verifier])
    # or the right signature of another text
    other = SignatureLine(log.name, log.key_id, log.sign(b"another text\n")).format()
    with pytest.raises(NoteError, match="the signature of PeterNeumann does not verify"):
        open_note(PETER_TEXT + "\n" + other, [log.verifier])


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        (b"\xff\n\n" + PETER_LINE.encode(), "not UTF-8"),
        (PETER_TEXT + "\n" + PETER_LINE[:-1], "does not end in a newline"),
        (PETER_TEXT + PETER_LINE, "no blank line"),
        (PETER_TEXT + "\t\n\n" + PETER_LINE, "control character U\\+0009"),
        (PETER_TEXT + "\n" + PETER_LINE.replace("—", "-"), "em dash"),
        (PETER_TEXT + "\n" + PETER_LINE.replace("x08go", "x08g!"), "not base64"),
        (PETER_TEXT + "\n" + "— PeterNeumann AAAA\n", "too short"),
        (PETER_TEXT + "\n" + "— Peter+Neumann AAAAAAAA\n", "key name"),
        (PETER_TEXT + "\n" + PETER_LINE * 101, "101 signature lines"),
        (PETER_TEXT + "\n\n", "no signature lines"),
    ],
)
def test_malformed_notes_are_refused(note: bytes | str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        open_note(note, [VerifierKey.parse(PETER_VKEY)])


@pytest.mark.parametrize(
    ("vkey", "problem"),
    [
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3+Bhpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "0x06"),
        ("PeterNeumann+c74f20a3+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "32 bytes"),
        ("PeterNeumann+c74f20a3", "name\\+keyid\\+key"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "empty"),
    ],
)
def test_malformed_vkeys_are_refused(vkey: str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        VerifierKey.parse(vkey)


def test_a_private_key_with_a_wrong_key_id_is_refused() -> None:
    with pytest.raises(NoteError, match="does not match"):
        Signer.parse(PETER_SKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError, match="PRIVATE\\+KEY\\+"):
        Signer.parse(PETER_VKEY)
