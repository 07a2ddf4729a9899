"""Checkpoints, the witness policy and opening a cosigned checkpoint (spec §3.1, §3.4, §4.4):
the §6.8 checkpoint file byte for byte, and each refusal naming the problem."""

from __future__ import annotations

import base64

import pytest
from tests.tlog.conftest import ORIGIN, WITNESS

from secki.tlog.checkpoint import (
    Checkpoint,
    CheckpointError,
    Witness,
    WitnessPolicy,
    open_checkpoint,
)
from secki.tlog.note import (
    KeyType,
    NoteError,
    Signer,
    add_signatures,
    cosign,
    generate_key,
    sign_note,
)

ROOT_3 = bytes.fromhex("601894d251c33c8345194b8d8a4f6ed56141196e66946af16a0300fec65ae260")
TIMESTAMP = 1773004931
#: spec §6.8, the complete checkpoint file
CHECKPOINT_FILE = (
    "results.example.org/log\n"
    "3\n"
    "YBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n"
    "\n"
    "— results.example.org/log qeltIGcFHQ0rioTnoeoyx/AagG8dZP7jM8oebWXMeZL1G4HaLwdlkqINOY2oRHYk"
    "ZbuIMKmOQ8VfDR2YpC0/iwJwYAQ=\n"
    "— observers.example.net/w1 yTh9kQAAAABpreiDT42lB8bhiGkMyOPmvxOovns2clUm3ZJqXFymCdUxTV2h/u/n"
    "XBSBKh3BzrcY/zR5vjzoDzyed/L7WcApguddDA==\n"
)


def cosigned(text: str, log: Signer, *lines: str) -> str:
    return add_signatures(sign_note(text, log), lines)


@pytest.fixture
def policy(witness_signer: Signer) -> WitnessPolicy:
    return WitnessPolicy((Witness(witness_signer.verifier),), 1)


def test_the_election_checkpoint_of_6_8_byte_for_byte(
    log_signer: Signer, witness_signer: Signer, policy: WitnessPolicy
) -> None:
    assert log_signer.verifier.format() == (
        "results.example.org/log+a9e96d20+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    )
    assert witness_signer.verifier.format() == (
        "observers.example.net/w1+c9387d91+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"
    )
    text = Checkpoint(ORIGIN, 3, ROOT_3).format()
    note = cosigned(text, log_signer, cosign(text, witness_signer, TIMESTAMP))
    assert note == CHECKPOINT_FILE
    opened = open_checkpoint(note.encode(), log_signer.verifier, policy, ORIGIN, TIMESTAMP)
    assert opened.checkpoint == Checkpoint(ORIGIN, 3, ROOT_3)
    assert [(c.witness.name, c.timestamp) for c in opened.cosignatures] == [(WITNESS, TIMESTAMP)]


def test_checkpoint_text_round_trips() -> None:
    checkpoint = Checkpoint(ORIGIN, 70000, bytes(range(32)), ("ext line",))
    assert Checkpoint.parse(checkpoint.format()) == checkpoint
    assert Checkpoint(ORIGIN, 0, bytes(32)).format().splitlines()[1] == "0"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("o\n3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=", "newline"),
        ("o\n3\n", "at least 3 lines"),
        ("o\n03\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n", "leading zeros"),
        ("o\n-3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n", "leading zeros"),
        ("o\n3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA\n", "not base64"),
        ("o\n3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa\n", "30 bytes"),
        ("o\n3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n\n", "empty line"),
        ("o o\n3\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n", "whitespace"),
        ("o\n18446744073709551616\nYBiU0lHDPINFGUuNik9u1WFBGW5mlGrxagMA/sZa4mA=\n", "2\\^64"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, problem: str) -> None:
    with pytest.raises(CheckpointError, match=problem):
        Checkpoint.parse(text)


def test_the_policy_text_round_trips_and_is_checked(witness_signer: Signer) -> None:
    other = generate_key("observers.example.org/w2", KeyType.COSIGNATURE)
    policy = WitnessPolicy(
        (
            Witness(witness_signer.verifier, "https://observers.example.net/w1/"),
            Witness(other.verifier),
        ),
        2,
    )
    assert WitnessPolicy.parse(policy.format()) == policy
    assert WitnessPolicy.parse("# comment\n\n" + policy.format() + "  # trailing\n") == policy
    w1 = witness_signer.verifier.format()
    for text, problem in [
        (f"witness {w1}\n", "no quorum line"),
        (f"witness {w1}\nquorum 2\n", "quorum 2 is outside 0…1"),
        (f"witness {w1}\nwitness {w1}\nquorum 1\n", "appears twice"),
        (f"witness {generate_key('log.example').verifier.format()}\nquorum 1\n", "0x01, not 0x04"),
        (f"witness {w1}\nquorum 1\nquorum 1\n", "line 3: a second quorum line"),
        ("quorum -1\n", "line 1: not 'witness"),
        (f"witness {w1[:-2]}AA\nquorum 1\n", "line 1: .*does not match"),
    ]:
        with pytest.raises(CheckpointError, match=problem):
            WitnessPolicy.parse(text)


def test_a_forged_log_signature_is_refused(
    log_signer: Signer, witness_signer: Signer, policy: WitnessPolicy
) -> None:
    forged = CHECKPOINT_FILE.replace("qeltIGcF", "qeltIGcG")
    with pytest.raises(
        NoteError, match=r"the signature of results\.example\.org/log does not verify"
    ):
        open_checkpoint(forged, log_signer.verifier, policy, ORIGIN, TIMESTAMP)
    forged = CHECKPOINT_FILE.replace("yTh9kQAAAABpreiDT42l", "yTh9kQAAAABpreiDT42m")
    with pytest.raises(
        NoteError, match=r"the cosignature of observers\.example\.net/w1 does not verify"
    ):
        open_checkpoint(forged, log_signer.verifier, policy, ORIGIN, TIMESTAMP)
    # the same signatures over a changed size
    changed = CHECKPOINT_FILE.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(changed, log_signer.verifier, policy, ORIGIN, TIMESTAMP)


def test_a_checkpoint_signed_by_an_unknown_key_is_refused(
    witness_signer: Signer, policy: WitnessPolicy
) -> None:
    impostor = generate_key(ORIGIN)  # the log's name, another key
    text = Checkpoint(ORIGIN, 3, ROOT_3).format()
    note = cosigned(text, impostor, cosign(text, witness_signer, TIMESTAMP))
    pinned = Signer.from_seed(ORIGIN, KeyType.ED25519, bytes(32)).verifier
    with pytest.raises(
        CheckpointError, match=r"no signature by the log key results\.example\.org/log"
    ):
        open_checkpoint(note, pinned, policy, ORIGIN, TIMESTAMP)
    # and a witness the policy does not name counts for nothing
    stranger = generate_key("someone.example/w", KeyType.COSIGNATURE)
    note = cosigned(text, impostor, cosign(text, stranger, TIMESTAMP))
    with pytest.raises(CheckpointError, match="0 distinct policy witness"):
        open_checkpoint(note, impostor.verifier, policy, ORIGIN, TIMESTAMP)


def test_too_few_cosignatures_are_refused(log_signer: Signer, witness_signer: Signer) -> None:
    w2 = generate_key("observers.example.org/w2", KeyType.COSIGNATURE)
    w3 = generate_key("university.example.edu/w3", KeyType.COSIGNATURE)
    policy = WitnessPolicy(tuple(Witness(w.verifier) for w in (witness_signer, w2, w3)), 2)
    text = Checkpoint(ORIGIN, 3, ROOT_3).format()
    one = cosigned(text, log_signer, cosign(text, witness_signer, TIMESTAMP))
    with pytest.raises(
        CheckpointError, match="1 distinct policy witness\\(es\\) cosigned, the quorum is 2"
    ):
        open_checkpoint(one, log_signer.verifier, policy, ORIGIN, TIMESTAMP)
    two = add_signatures(one, [cosign(text, w3, TIMESTAMP - 5)])
    assert (
        len(open_checkpoint(two, log_signer.verifier, policy, ORIGIN, TIMESTAMP).cosignatures) == 2
    )


def test_two_cosignatures_by_the_same_witness_count_once(
    log_signer: Signer, witness_signer: Signer
) -> None:
    w2 = generate_key("observers.example.org/w2", KeyType.COSIGNATURE)
    policy = WitnessPolicy((Witness(witness_signer.verifier), Witness(w2.verifier)), 2)
    text = Checkpoint(ORIGIN, 3, ROOT_3).format()
    note = cosigned(
        text,
        log_signer,
        cosign(text, witness_signer, TIMESTAMP),
        cosign(text, witness_signer, TIMESTAMP + 1),
    )
    with pytest.raises(
        CheckpointError,
        match=r"1 distinct policy witness.*observers\.example\.net/w1 cosigned more than once",
    ):
        open_checkpoint(note, log_signer.verifier, policy, ORIGIN, TIMESTAMP)


def test_cosignatures_from_the_future_and_stale_ones(
    log_signer: Signer, policy: WitnessPolicy
) -> None:
    open_checkpoint(CHECKPOINT_FILE, log_signer.verifier, policy, ORIGIN, TIMESTAMP - 600)
    with pytest.raises(CheckpointError, match="601 s ahead of the clock"):
        open_checkpoint(CHECKPOINT_FILE, log_signer.verifier, policy, ORIGIN, TIMESTAMP - 601)
    open_checkpoint(
        CHECKPOINT_FILE, log_signer.verifier, policy, ORIGIN, TIMESTAMP + 3600, max_age=3600
    )
    with pytest.raises(CheckpointError, match="3601 s old, over 3600 s"):
        open_checkpoint(
            CHECKPOINT_FILE, log_signer.verifier, policy, ORIGIN, TIMESTAMP + 3601, max_age=3600
        )


def test_a_foreign_origin_is_refused(log_signer: Signer, policy: WitnessPolicy) -> None:
    with pytest.raises(
        CheckpointError, match=r"for origin 'results\.example\.org/log', not 'x\.example/log'"
    ):
        open_checkpoint(CHECKPOINT_FILE, log_signer.verifier, policy, "x.example/log", TIMESTAMP)
    with pytest.raises(CheckpointError, match="not of type 0x01"):
        open_checkpoint(CHECKPOINT_FILE, policy.keys[0], policy, ORIGIN, TIMESTAMP)


def test_a_split_view_needs_a_quorum_of_colluding_witnesses(
    log_signer: Signer, witness_signer: Signer
) -> None:
    """The operator signs two checkpoints of one size with different roots. Honest witnesses
    cosign only one of them (they never cosign two inconsistent views); with a quorum of 2,
    one dishonest witness cannot make the second view acceptable."""
    dishonest = generate_key("observers.example.org/w2", KeyType.COSIGNATURE)
    w3 = generate_key("university.example.edu/w3", KeyType.COSIGNATURE)
    policy = WitnessPolicy(tuple(Witness(w.verifier) for w in (witness_signer, dishonest, w3)), 2)
    shown_to_a = Checkpoint(ORIGIN, 3, ROOT_3).format()
    shown_to_b = Checkpoint(ORIGIN, 3, bytes(32)).format()
    view_a = cosigned(
        shown_to_a,
        log_signer,
        cosign(shown_to_a, witness_signer, TIMESTAMP),
        cosign(shown_to_a, dishonest, TIMESTAMP),
    )
    view_b = cosigned(shown_to_b, log_signer, cosign(shown_to_b, dishonest, TIMESTAMP))
    open_checkpoint(view_a, log_signer.verifier, policy, ORIGIN, TIMESTAMP)
    with pytest.raises(CheckpointError, match="the quorum is 2"):
        open_checkpoint(view_b, log_signer.verifier, policy, ORIGIN, TIMESTAMP)
    # both are signed by the log: together they are proof of its misbehaviour
    a, b = (Checkpoint.parse(v.split("\n\n")[0] + "\n") for v in (view_a, view_b))
    assert a.size == b.size and a.root != b.root
    assert base64.b64encode(a.root).decode() in view_a
