"""The log's client of the witnesses (spec §4.3, §4.4): one submission (409 as a Conflict with
the witness's size, other refusals as errors naming the status), and collecting a quorum of
cosignatures from a policy's witnesses, retrying once from the size a witness states."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.witness.conftest import NOW, ORIGIN, MemoryLog, log_key, make_witness, serving

from secki.server import free_port
from secki.tlog.checkpoint import Witness, WitnessPolicy, open_checkpoint
from secki.witness.client import Conflict, QuorumError, WitnessError, collect, submit
from secki.witness.server import WitnessServer


def test_submit_returns_the_cosignature_or_raises(server: WitnessServer, log: MemoryLog) -> None:
    log.add(4)
    lines = submit(server.url, 0, [], log.note())
    assert len(lines) == 1 and lines[0].startswith("\u2014 w1.example.test ")
    assert lines[0].endswith("\n")
    log.add(4)
    with pytest.raises(Conflict) as conflict:
        submit(server.url, 0, [], log.note())
    assert conflict.value.size == 4
    rewritten = MemoryLog(log.signer, entries=[b"other", *log.entries[1:]])
    with pytest.raises(WitnessError, match="HTTP 422: consistency from size 4"):
        submit(server.url.rstrip("/"), 4, rewritten.proof(4), rewritten.note())
    with pytest.raises(WitnessError, match="HTTP 403"):
        submit(server.url, 4, log.proof(4), MemoryLog(log_key(seed=7), entries=log.entries).note())
    with pytest.raises(WitnessError, match="not an http"):
        submit("ftp://example.test/", 0, [], log.note())
    with pytest.raises(WitnessError, match=r"127\.0\.0\.1"):
        submit(f"http://127.0.0.1:{free_port()}/", 0, [], log.note(), timeout=5)


def test_collect_meets_the_quorum_and_retries_from_the_size_a_witness_states(
    tmp_path: Path, log: MemoryLog
) -> None:
    witnesses = [make_witness(tmp_path, n) for n in (1, 2, 3)]
    with serving(witnesses[0]) as w1, serving(witnesses[1]) as w2, serving(witnesses[2]) as w3:
        policy = WitnessPolicy(
            tuple(
                Witness(make.signer.verifier, server.url)
                for make, server in zip(witnesses, (w1, w2, w3), strict=True)
            ),
            2,
        )
        log.add(10)
        # w2 cosigned size 10 earlier, for instance before the log crashed; the others did not
        assert submit(w2.url, 0, [], log.note())
        asked: list[int] = []

        def proof_for(old: int) -> list[bytes]:
            asked.append(old)
            return log.proof(old)

        log.add(90)
        note = collect(policy, log.note(), 0, proof_for)
        assert asked == [10]  # w2's 409 named size 10; the retry carried PROOF(10, 100)
        opened = open_checkpoint(note, log.signer.verifier, policy, ORIGIN, NOW)
        assert sorted(c.witness.name for c in opened.cosignatures) == [
            "w1.example.test",
            "w2.example.test",
            "w3.example.test",
        ]
        assert opened.checkpoint.size == 100


def test_collect_raises_without_a_quorum(tmp_path: Path, log: MemoryLog) -> None:
    with serving(make_witness(tmp_path, 1)) as w1:
        down = f"http://127.0.0.1:{free_port()}/"
        policy = WitnessPolicy(
            (
                Witness(make_witness(tmp_path, 1).signer.verifier, w1.url),
                Witness(make_witness(tmp_path, 2).signer.verifier, down),
                Witness(make_witness(tmp_path, 3).signer.verifier),
            ),
            2,
        )
        log.add(3)
        with pytest.raises(QuorumError) as error:
            collect(policy, log.note(), 0, log.proof, timeout=5)
        assert error.value.cosigned == 1
        assert set(error.value.failures) == {"w2.example.test", "w3.example.test"}
        assert "no submission URL" in error.value.failures["w3.example.test"]
        # a witness answering with another witness's key does not count
        impostor = WitnessPolicy((Witness(make_witness(tmp_path, 4).signer.verifier, w1.url),), 1)
        log.add(1)
        with pytest.raises(QuorumError, match="does not verify with its key"):
            collect(impostor, log.note(), 3, log.proof)
