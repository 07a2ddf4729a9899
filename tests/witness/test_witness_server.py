"""The witness server (spec §4.3), over real HTTP on a loopback port: every status code, the
cosignature it returns and serves, the race of two submissions from one old size, a rewritten
history refused with 422 (and kept as evidence), and its state surviving a restart."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest
from tests.witness.conftest import (
    NOW,
    ORIGIN,
    SITE,
    MemoryLog,
    body,
    log_key,
    make_witness,
    monitored,
    post,
    request,
    serving,
    witness_key,
)

from secki.tlog.checkpoint import (
    Checkpoint,
    WitnessPolicy,
    open_checkpoint,
)
from secki.tlog.checkpoint import (
    Witness as PolicyWitness,
)
from secki.tlog.merkle import EMPTY_ROOT
from secki.tlog.note import add_signatures, open_note, sign_note
from secki.witness.server import MAX_BODY, Witness, WitnessServer


def cosigned_by(reply_body: bytes, note: str, number: int = 1) -> None:
    """The answer is one cosignature line of witness ``number``, valid for ``note``."""
    lines = reply_body.decode()
    assert lines.startswith(f"\u2014 w{number}.example.test ") and lines.count("\n") == 1
    opened = open_note(add_signatures(note, [lines]), [witness_key(number).verifier])
    assert [v.timestamp for v in opened.verified] == [NOW]


def test_a_first_checkpoint_is_cosigned_and_served(server: WitnessServer, log: MemoryLog) -> None:
    log.add(3)
    note = log.note()
    reply = post(server.url, body(0, [], note))
    assert (reply.status, reply.content_type) == (200, "text/plain; charset=utf-8")
    cosigned_by(reply.body, note)
    served = monitored(server.url)
    assert served.status == 200
    policy = WitnessPolicy((PolicyWitness(witness_key(1).verifier),), 1)
    opened = open_checkpoint(served.body, log_key().verifier, policy, ORIGIN, NOW)
    assert (opened.checkpoint.size, opened.checkpoint.root) == (3, log.root)
    assert served.body.decode() == note + reply.body.decode()


def test_later_checkpoints_need_a_proof_from_the_size_cosigned(
    server: WitnessServer, log: MemoryLog
) -> None:
    log.add(3)
    assert post(server.url, body(0, [], log.note())).status == 200
    log.add(700)
    reply = post(server.url, body(3, log.proof(3), log.note()))
    assert reply.status == 200
    cosigned_by(reply.body, log.note())
    # the same checkpoint again, from its own size: cosigned again
    assert post(server.url, body(703, [], log.note())).status == 200
    checkpoint = Checkpoint.parse(monitored(server.url).body.decode().split("\n\n")[0] + "\n")
    assert checkpoint.size == 703


def test_409_states_the_size_last_cosigned(server: WitnessServer, log: MemoryLog) -> None:
    log.add(5)
    assert post(server.url, body(0, [], log.note())).status == 200
    reply = post(server.url, body(2, log.proof(2), log.note()))
    assert (reply.status, reply.content_type, reply.body) == (409, "text/x.tlog.size", b"5\n")
    log.add(4)
    for old in (0, 3, 7):
        reply = post(server.url, body(old, log.proof(old), log.note()))
        assert (reply.status, reply.content_type, reply.body) == (409, "text/x.tlog.size", b"5\n")


def test_400_for_a_malformed_body_or_an_old_size_beyond_the_new(
    server: WitnessServer, log: MemoryLog
) -> None:
    log.add(4)
    note = log.note()
    proof_line = base64.b64encode(bytes(32)).decode()
    for data in (
        b"old 0\n" + note.encode(),  # no empty line
        ("old x\n\n" + note).encode(),
        ("old 01\n\n" + note).encode(),
        ("old  0\n\n" + note).encode(),
        ("old 1\nnot base64!\n\n" + note).encode(),
        ("old 1\n" + base64.b64encode(bytes(31)).decode() + "\n\n" + note).encode(),
        ("old 1\n" + (proof_line + "\n") * 64 + "\n" + note).encode(),
        b"old 0\n\nnot a note\n",
        ("old 0\n\n" + sign_note("not\na checkpoint\n", log.signer)).encode(),
        b"\xff\xfe",
    ):
        reply = post(server.url, data)
        assert reply.status == 400, (data[:40], reply)
    reply = post(server.url, body(5, [], note))
    assert (reply.status, reply.body) == (400, b"old size 5 is larger than the size 4\n")


def test_403_without_a_valid_signature_of_a_trusted_log_key(
    server: WitnessServer, log: MemoryLog
) -> None:
    log.add(2)
    stranger = MemoryLog(log_key(SITE, seed=9))  # same name, another key
    stranger.add(2)
    reply = post(server.url, body(0, [], stranger.note()))
    assert reply.status == 403 and b"no signature by a trusted key" in reply.body
    forged = log.note().replace("\n2\n", "\n3\n", 1)  # the text changed after signing
    reply = post(server.url, body(0, [], forged))
    assert reply.status == 403 and b"does not verify" in reply.body
    assert monitored(server.url).status == 404  # nothing cosigned


def test_404_for_an_origin_or_a_path_it_does_not_serve(
    tmp_path: Path, server: WitnessServer, log: MemoryLog
) -> None:
    other = MemoryLog(log.signer, origin="example.test/logbook")  # not under example.test/log
    other.add(1)
    assert post(server.url, body(0, [], other.note())).status == 404
    assert request(server.url, "POST", "/add-checkpoint/", b"").status == 404
    assert request(server.url, "GET", "/checkpoint").status == 404
    assert request(server.url, "GET", "/" + "0" * 64 + "/checkpoint").status == 404
    assert monitored(server.url).status == 404
    # an origin prefix given explicitly replaces the default (the log keys' names)
    narrow = make_witness(tmp_path, 2, prefixes=[f"{SITE}/2026-parl"])
    with serving(narrow) as running:
        log.add(1)
        assert post(running.url, body(0, [], log.note())).status == 200
        elsewhere = MemoryLog(log.signer, origin=f"{SITE}/2027-local")
        elsewhere.add(1)
        assert post(running.url, body(0, [], elsewhere.note())).status == 404


def test_411_and_413_for_bodies_without_length_or_too_long(server: WitnessServer) -> None:
    import http.client

    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    connection.putrequest("POST", "/add-checkpoint")
    connection.endheaders()
    assert connection.getresponse().status == 411
    connection.close()
    assert post(server.url, b"x" * (MAX_BODY + 1)).status == 413


def test_422_for_a_rewritten_history_kept_as_evidence(
    witness: Witness, server: WitnessServer, log: MemoryLog
) -> None:
    log.add(10)
    assert post(server.url, body(0, [], log.note())).status == 200
    # the operator rewrites entry 4 and signs the same size: another root
    rewritten = MemoryLog(log.signer, entries=list(log.entries))
    rewritten.entries[4] = b"entry 4, rewritten"
    reply = post(server.url, body(10, [], rewritten.note()))
    assert (reply.status, reply.body) == (422, b"size 10 was cosigned with another root\n")
    # … or grows the rewritten log: its proof from size 10 fails
    rewritten.add(6)
    reply = post(server.url, body(10, rewritten.proof(10), rewritten.note()))
    assert reply.status == 422 and b"consistency from size 10" in reply.body
    # a proof of the honest log does not fit the rewritten checkpoint either
    log.add(6)
    reply = post(server.url, body(10, log.proof(10), rewritten.note()))
    assert reply.status == 422
    refusals = witness.refusals()
    assert len(refusals) == 3 and all(origin == ORIGIN for origin, _, _ in refusals)
    assert refusals[0][2] == rewritten.note(10)  # the log-signed note, to publish
    # the witness still stands by the honest history
    assert post(server.url, body(10, log.proof(10), log.note())).status == 200


def test_422_for_size_0_with_another_root_or_a_proof_from_0(
    server: WitnessServer, log: MemoryLog
) -> None:
    empty = Checkpoint(ORIGIN, 0, bytes(32)).format()
    reply = post(server.url, body(0, [], sign_note(empty, log.signer)))
    assert reply.status == 422 and b"size 0" in reply.body
    log.add(3)
    reply = post(server.url, body(0, [bytes(32)], log.note()))
    assert reply.status == 422 and b"non-empty consistency proof" in reply.body
    good_empty = sign_note(Checkpoint(ORIGIN, 0, EMPTY_ROOT).format(), log.signer)
    assert post(server.url, body(0, [], good_empty)).status == 200
    assert post(server.url, body(0, [], log.note())).status == 200


def test_two_submissions_from_one_old_size_get_one_200_and_one_409(
    witness: Witness, server: WitnessServer, log: MemoryLog
) -> None:
    """Both requests check their proof against the state of size 5 before either stores: the
    barrier holds each one between its check and its atomic store until both have checked.
    Exactly one stores; the other is told the new size (409), so the witness never rolls
    back to the smaller size (C2SP tlog-witness's race)."""
    log.add(5)
    assert post(server.url, body(0, [], log.note())).status == 200
    small, large = MemoryLog(log.signer, entries=list(log.entries)), log
    small.add(3)
    large.add(30)
    barrier = threading.Barrier(2, timeout=60)
    witness.before_commit = lambda origin: barrier.wait()
    replies: dict[str, int] = {}

    def submit(name: str, which: MemoryLog) -> None:
        replies[name] = post(server.url, body(5, which.proof(5), which.note())).status

    threads = [
        threading.Thread(target=submit, args=("small", small)),
        threading.Thread(target=submit, args=("large", large)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    witness.before_commit = None
    assert sorted(replies.values()) == [200, 409]
    winner = small if replies["small"] == 200 else large
    stored = monitored(server.url).body.decode()
    assert stored.startswith(Checkpoint(ORIGIN, winner.size, winner.root).format())
    # the loser retries from the size its 409 named: the larger log extends the smaller one
    # (cosigned), the smaller one is behind the larger (400: old size beyond its size)
    loser = large if winner is small else small
    proof = loser.proof(winner.size) if winner.size < loser.size else []
    retry = post(server.url, body(winner.size, proof, loser.note()))
    assert retry.status == (200 if loser is large else 400)


def test_the_state_survives_a_restart(tmp_path: Path, log: MemoryLog) -> None:
    log.add(20)
    with serving(make_witness(tmp_path)) as first:
        assert post(first.url, body(0, [], log.note())).status == 200
        served = monitored(first.url).body
    with serving(make_witness(tmp_path)) as second:
        assert monitored(second.url).body == served
        reply = post(second.url, body(0, [], log.note()))
        assert (reply.status, reply.body) == (409, b"20\n")
        log.add(1)
        assert post(second.url, body(20, log.proof(20), log.note())).status == 200


def test_a_witness_refuses_a_log_key_as_its_own_or_a_witness_key_as_a_log_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="not a cosignature key"):
        Witness(log_key(), tmp_path / "w.sqlite", [log_key().verifier])
    with pytest.raises(ValueError, match="not an Ed25519 note key"):
        Witness(witness_key(1), tmp_path / "w.sqlite", [witness_key(2).verifier])
    with pytest.raises(ValueError, match="at least one log key"):
        Witness(witness_key(1), tmp_path / "w.sqlite", [])
