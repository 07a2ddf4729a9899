"""The log's history changed in the database (issue 14, "Done when": the last entries deleted,
or the whole history re-hashed): the publisher refuses to go on from it; an operator who moves
the published log away and publishes the database's history afresh gets no cosignature from
the two witnesses (real servers on loopback ports), who keep the refused checkpoint as
evidence; and a verifier that saved the earlier checkpoint refuses the log-signed one the
operator puts up anyway, as not cosigned and not consistent with what it saw."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.opendata import transparency
from secki.opendata.transparency import publish, publish_all
from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, WitnessPolicy
from secki.tlog.entries import format_time
from secki.tlog.merkle import leaf_hash, root_of
from secki.tlog.note import sign_note
from secki.verifier.check import Options, Report, verify
from secki.witness.server import WitnessServer
from tests.portal.conftest import admin, submit
from tests.transparency.conftest import SIGNER, log_dir
from tests.transparency.test_publish import policy_of, write_policy
from tests.witness.conftest import NOW, make_witness, serving

pytestmark = pytest.mark.django_db
__all__ = ["admin"]  # the fixture


@pytest.fixture
def two_witnesses(settings: Any, tmp_path: Path) -> Iterator[tuple[WitnessServer, ...]]:
    """Two witnesses of the log, quorum 2, named by the site's policy."""
    made = [make_witness(tmp_path, n, logs=[SIGNER]) for n in (1, 2)]
    with serving(made[0]) as w1, serving(made[1]) as w2:
        write_policy(settings, tmp_path, policy_of(w1, w2, quorum=2))
        yield w1, w2


def check(policy: WitnessPolicy, state: Path) -> tuple[Report, str]:
    out = io.StringIO()
    report = verify(
        Options(
            location=str(transparency.root_dir()),
            log_key=SIGNER.verifier,
            policy=policy,
            state_path=state,
            progress=False,
            now=NOW + 60,
        ),
        out,
        io.StringIO(),
    )
    return report, out.getvalue()


def rehash_everything(election: Election) -> None:
    """Every entry rewritten (its times one second later), its leaf hash recomputed and every
    ``prev`` made to name the new leaf hashes: a history that is valid in itself."""
    renamed: dict[str, str] = {}
    for entry in LedgerEntry.objects.filter(election=election).order_by("index"):
        value = canonical.decode(entry.body.encode())
        for key in TIMES:
            if isinstance(value.get(key), str):
                moment = dt.datetime.strptime(str(value[key]), "%Y-%m-%dT%H:%M:%S%z")
                value[key] = format_time(moment + dt.timedelta(seconds=1))
        prev = value.get("prev")
        if isinstance(prev, dict):
            prev["leaf_hash"] = renamed[str(prev["leaf_hash"])]
        body = canonical.encode(value).decode()
        digest = leaf_hash(body.encode()).hex()
        assert digest != entry.leaf_hash
        renamed[entry.leaf_hash] = digest
        LedgerEntry.objects.filter(pk=entry.pk).update(body=body, leaf_hash=digest)


TIMES = ("accepted_at", "reported_at", "published_at", "uploaded_at", "closed_at", "anchored_at")


def delete_last_two(election: Election) -> None:
    last = LedgerEntry.objects.filter(election=election).order_by("-index")[:2]
    LedgerEntry.objects.filter(pk__in=[e.pk for e in last]).delete()


@pytest.mark.parametrize(
    "tamper", [delete_last_two, rehash_everything], ids=["last entries deleted", "re-hashed"]
)
def test_a_history_changed_in_the_database_is_refused_by_everyone(
    waiting: Election,
    admin: Any,
    two_witnesses: tuple[WitnessServer, ...],
    tmp_path: Path,
    tamper: Callable[[Election], None],
) -> None:
    policy = transparency.witness_policy()
    state = tmp_path / "verifier-state.json"
    submit(waiting, "1-1", admin)
    submit(waiting, "1-2", admin)
    (first,) = publish_all()
    assert first.status == "published"
    report, output = check(policy, state)
    assert not report.failed, output
    saved = first.size

    tamper(waiting)
    assert LedgerEntry.objects.filter(election=waiting).count() <= saved
    submit(waiting, "2-1", admin)  # new facts arrive after the change
    submit(waiting, "2-2", admin)
    assert LedgerEntry.objects.filter(election=waiting).count() > saved - 2

    # the publisher does not go on from a database that does not continue the published log
    (refused,) = publish_all()
    assert refused.status == "failed"
    assert (
        "does not continue the published log" in refused.detail or "were removed" in refused.detail
    ), refused.detail
    report, output = check(policy, state)  # the site still shows the honest log
    assert not report.failed, output

    # the operator moves the published log away and publishes the database's history afresh
    moved = tmp_path / "moved-away"
    shutil.move(log_dir(waiting), moved)
    done = publish(waiting)
    assert done.status == "no-quorum", done
    assert "0 witness(es) cosigned, the quorum is 2" in done.detail
    assert "w1.example.test" in done.detail and "w2.example.test" in done.detail
    for server in two_witnesses:  # each witness kept the checkpoint it refused
        refusals = server.witness.store.refusals()
        assert refusals and refusals[-1][0] == transparency.origin(waiting.slug)
    assert not (log_dir(waiting) / "checkpoint").exists()

    # … and puts up the checkpoint it signed, which no witness cosigned
    bodies = LedgerEntry.objects.filter(election=waiting).order_by("index")
    hashes = [leaf_hash(e.body.encode()) for e in bodies]
    note = sign_note(
        Checkpoint(transparency.origin(waiting.slug), len(hashes), root_of(hashes)).format(),
        SIGNER,
    )
    (log_dir(waiting) / "checkpoint").write_text(note)
    transparency.write_site()
    report, output = check(policy, state)
    assert report.failed
    origin = transparency.origin(waiting.slug)
    assert f"FAIL  {waiting.slug} checkpoint: size {len(hashes)} is signed by the log but " in (
        output
    ), output
    assert "not accepted" in output
    if len(hashes) > saved:
        assert (
            f"FAIL  {waiting.slug} consistency: size {len(hashes)} does not extend the "
            f"checkpoint saved at size {saved}"
        ) in output, output
        assert "the history was rewritten" in output
    elif len(hashes) == saved:
        assert f"size {saved} was saved with root" in output, output
    else:
        assert f"smaller than the {saved} saved" in output, output
    assert origin in state.read_text()  # the saved checkpoint stays the honest one
