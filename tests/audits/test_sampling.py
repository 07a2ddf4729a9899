"""The sample is reproduced draw by draw from the published seed and manifest by an
independent implementation written here (hashlib and the csv module, not the app's code),
and by ``secki audit-sample``; the seed cannot be changed and nothing is drawn before it."""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import IntegrityError, transaction

from secki.audits import actions, report
from secki.audits.cli import audit_sample
from secki.audits.models import Draw, SeedCeremony
from secki.errors import IntakeError
from secki.ledger.models import LedgerEntry
from secki.simulator import SimulationConfig
from tests.audits.conftest import (
    SEED,
    WITNESSES,
    Imported,
    Paper,
    count_round,
    make_boards,
)

pytestmark = pytest.mark.django_db


SIMULATION = SimulationConfig(stations=120, seed=8, candidates=3, slug="audit-sampling")


def independent_draws(
    seed: str, manifest: bytes, first: int, n: int
) -> list[tuple[int, str, str, int | None]]:
    """The published rule, from the manifest file alone."""
    rows = list(csv.DictReader(io.StringIO(manifest.decode("utf-8"))))
    out: list[tuple[int, str, str, int | None]] = []
    if "error_bound" in rows[0]:
        cumulative, running = [], 0.0
        for row in rows:
            running += float(row["error_bound"])
            cumulative.append(running)
        shares = [c / running for c in cumulative]
        shares[-1] = 1.0
        for j in range(first, first + n):
            digest = hashlib.sha256(f"{seed},draw,{j}".encode()).hexdigest()
            u = int(digest, 16) / 2**256
            out.append((j, digest, rows[bisect.bisect_right(shares, u)]["station"], None))
        return out
    ends, total = [], 0
    for row in rows:
        total += int(row["ballots"])
        ends.append(total)
    for j in range(first, first + n):
        digest = hashlib.sha256(f"{seed},draw,{j}".encode()).hexdigest()
        k = (int(digest, 16) * total) >> 256
        i = bisect.bisect_right(ends, k)
        out.append((j, digest, rows[i]["station"], k - (ends[i] - int(rows[i]["ballots"])) + 1))
    return out


def app_draws(audit: Any) -> list[tuple[int, str, str, int | None]]:
    return [
        (d.number, d.ticket, d.row.station.code, d.ballot)
        for d in Draw.objects.filter(audit=audit).select_related("row__station").order_by("number")
    ]


@pytest.mark.parametrize("kind", ["macro", "bravo"])
def test_sample_reproduced_draw_by_draw(sim: Imported, kind: str, tmp_path: Path) -> None:
    cec = sim.people["cec"].user
    audit = actions.create_audit(
        sim.election, actor=cec, kind=kind, risk_limit="0.05", max_rounds=5
    )
    with pytest.raises(IntakeError) as refused:
        actions.start_round(audit, actor=cec)
    assert refused.value.code == "no_seed" and not Draw.objects.filter(audit=audit).exists()
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    round1 = actions.start_round(audit, actor=cec)
    manifest = actions.manifest_bytes(audit)
    assert hashlib.sha256(manifest).hexdigest() == audit.manifest_sha256
    created = json.loads(
        LedgerEntry.objects.filter(kind="audit.created").order_by("-index")[0].body
    )
    assert created["manifest_sha256"] == audit.manifest_sha256 and created["type"] == kind
    seeded = json.loads(LedgerEntry.objects.filter(kind="audit.seed").order_by("-index")[0].body)
    assert (seeded["seed"], seeded["witnesses"]) == (SEED, WITNESSES)
    expected = independent_draws(SEED, manifest, 1, round1.size)
    assert app_draws(audit) == expected
    published = json.loads(
        LedgerEntry.objects.filter(kind="audit.round").order_by("-index")[0].body
    )
    assert [tuple(d) + ((None,) if kind == "macro" else ()) for d in published["draws"]] == expected
    # the CLI, from the files anyone can download
    path = tmp_path / "manifest.csv"
    path.write_bytes(manifest)
    result = CliRunner().invoke(
        audit_sample, ["--seed", SEED, "--manifest", str(path), "--draws", str(round1.size)]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("Drawing")]
    rows = list(csv.reader(lines))
    assert rows[0] == ["draw", "ticket", "station", "ballot"]
    assert [(int(r[0]), r[1], r[2], int(r[3]) if r[3] else None) for r in rows[1:]] == expected


def test_a_second_round_goes_on_from_the_first(sim: Imported) -> None:
    """Round 2's draws continue the numbering; a wrong hand count forces it."""
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="macro", risk_limit="0.05")
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    round1 = actions.start_round(audit, actor=cec)
    boards = make_boards(sim)
    boards.assign(round1)
    paper = Paper(sim.sim)
    # the paper of the first drawn station shows half the winner's reported votes for a loser
    first = round1.tasks.select_related("row__station").first()
    assert first is not None
    count = paper.station_count(first.row.station.code)
    moved = count["C1"] // 2
    count["C1"] -= moved
    count["C2"] += moved
    actions.enter_count(first, count, actor=boards.first)
    actions.enter_count(first, count, actor=boards.second)
    count_round(audit, paper, boards)
    round1.refresh_from_db()
    assert audit.status == "seeded" and round1.risk is not None and round1.risk > 0.05
    round2 = actions.start_round(audit, actor=cec)
    assert round2.first_draw == round1.size + 1 and round2.size == round1.figures["next_size"]
    manifest = actions.manifest_bytes(audit)
    assert app_draws(audit) == independent_draws(SEED, manifest, 1, round1.size + round2.size)
    # progress per constituency across the rounds: round 1 reconciled with its one
    # discrepancy, round 2 sampled and not counted yet
    table = {g["constituency"]: g for g in report.progress_table(audit)}
    assert sum(g["total"]["discrepancies"] for g in table.values()) == 1
    assert table[first.row.constituency]["total"]["discrepancies"] == 1
    for g in table.values():
        by_round = {r["round"]: r for r in g["rounds"]}
        if 1 in by_round:
            r1 = by_round[1]
            assert r1["reconciled"] == r1["sampled"] > 0 and r1["counted_once"] == 0
        if 2 in by_round:
            assert by_round[2]["reconciled"] == by_round[2]["counted_once"] == 0
        assert g["total"]["sampled"] == sum(r["sampled"] for r in g["rounds"])
    assert sum(g["total"]["sampled"] for g in table.values()) == (
        round1.tasks.count() + round2.tasks.count()
    )


def test_the_seed_is_entered_once_and_never_changes(sim: Imported) -> None:
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="bravo", risk_limit="0.1")
    ceremony = actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    with pytest.raises(IntakeError) as again:
        actions.enter_seed(audit, actor=cec, seed="1" * 20, witnesses=WITNESSES)
    assert again.value.code == "seed_exists" and again.value.field == "seed"
    with pytest.raises(ValueError, match="cannot be changed"):
        ceremony.seed = "9" * 20
        ceremony.save()
    # the database refuses too, whatever writes to it
    with pytest.raises(IntegrityError), transaction.atomic():
        SeedCeremony.objects.filter(pk=ceremony.pk).update(seed="9" * 20)
    ceremony.refresh_from_db()
    assert ceremony.seed == SEED
