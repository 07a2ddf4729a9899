"""End to end on simulated elections with fixed seeds: set-up, seed ceremony, rounds drawn
from the seed, blind double hand counts from the paper (the simulator's clean protocols),
the measured risk, and the outcome: confirmed by the sample, or escalated to a full hand count
that overturns an altered result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from secki.accounts.actions import delete_election
from secki.audits import actions
from secki.audits.models import Audit, AuditStatus, RoundKind
from secki.ledger import chain
from secki.ledger.models import LedgerEntry
from secki.simulator import SimulationConfig
from secki.simulator.config import parse_fraud
from secki.stats.bravo import bravo_sample_size
from secki.stats.macro import macro_initial_sample_size
from tests.audits.conftest import (
    SEED,
    WITNESSES,
    Imported,
    Paper,
    import_simulated,
    make_boards,
    module_transaction,
    run_audit,
)

pytestmark = pytest.mark.django_db

ALTERED = "stuffing:fi=0.5,fe=0.1,theta=0.3"


@pytest.fixture(scope="module")
def clean(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("clean"),
            SimulationConfig(
                stations=150, seed=5, candidates=2, shares=(0.55, 0.45), slug="audit-clean"
            ),
        )


@pytest.fixture(scope="module")
def altered(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("altered"),
            SimulationConfig(
                stations=150,
                seed=5,
                candidates=2,
                shares=(0.47, 0.53),
                fraud=parse_fraud(ALTERED),
                slug="audit-altered",
            ),
        )


def logged(imported: Imported, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(body)
        for body in LedgerEntry.objects.filter(election=imported.election, kind=kind)
        .order_by("index")
        .values_list("body", flat=True)
    ]


def setup(imported: Imported, kind: str, alpha: str) -> Any:
    cec = imported.people["cec"].user
    audit = actions.create_audit(imported.election, actor=cec, kind=kind, risk_limit=alpha)
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    return audit


def api_audit(audit: Audit) -> dict[str, Any]:
    """The audit as the public API gives it (its answer is validated against its schema)."""
    response = Client().get(f"/api/v1/elections/{audit.election.slug}/audits/{audit.pk}")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_clean_batch_audit_confirms_in_the_first_round(clean: Imported) -> None:
    audit = setup(clean, "macro", "5 %")
    assert audit.risk_limit == 0.05 and audit.reported_winners == ["C1"]
    expected = macro_initial_sample_size(audit.total_error_bound, alpha=0.05)
    run_audit(audit, Paper(clean.sim), make_boards(clean), clean.people["cec"].user)
    rounds = list(audit.rounds.all())
    assert audit.status == AuditStatus.CONFIRMED
    assert len(rounds) == 1 and rounds[0].size == expected
    assert rounds[0].risk is not None and rounds[0].risk <= 0.05
    assert actions.discrepancies(audit) == []
    (result,) = logged(clean, "audit.result")
    assert result["figures"]["status"] == "confirmed" and float(result["risk"]) == rounds[0].risk
    assert len(logged(clean, "audit.count")) == rounds[0].tasks.count()


def test_altered_protocols_escalate_to_a_full_hand_count(altered: Imported) -> None:
    truth = altered.sim.clean.votes.sum(axis=0)
    reported = altered.sim.protocols.votes.sum(axis=0)
    assert truth[1] > truth[0] and reported[0] > reported[1]  # the alteration changed the winner
    audit = setup(altered, "macro", "0.05")
    run_audit(audit, Paper(altered.sim), make_boards(altered), altered.people["cec"].user)
    rounds = list(audit.rounds.all())
    assert rounds[-1].kind == RoundKind.FULL
    assert all(r.risk is not None and r.risk > 0.05 for r in rounds[:-1])
    assert rounds[-2].figures is not None and rounds[-2].figures["escalate"] is True
    assert audit.status == AuditStatus.OVERTURNED
    assert rounds[-1].figures is not None and rounds[-1].figures["winners"] == ["C2"]
    assert rounds[-1].figures["audited"] == {"C1": int(truth[0]), "C2": int(truth[1])}
    stuffed = {
        code
        for code, touched in zip(
            altered.sim.station_codes(), altered.sim.truth.touched, strict=True
        )
        if touched
    }
    assert {d["station"] for d in actions.discrepancies(audit)} == stuffed
    assert chain.verify().ok  # the audit's entries keep the log valid
    api = api_audit(audit)
    assert api["status"] == "overturned" and api["rounds"][-1]["kind"] == "full"
    assert api["rounds"][-1]["figures"]["winners"] == ["C2"]
    assert api["rounds"][-2]["escalate"] is True


def test_a_simulated_election_with_an_audit_can_still_be_deleted(tmp_path: Any) -> None:
    imported = import_simulated(
        tmp_path,
        SimulationConfig(stations=20, seed=2, candidates=2, shares=(0.6, 0.4), slug="audit-gone"),
    )
    audit = setup(imported, "bravo", "0.1")
    actions.start_round(audit, actor=imported.people["cec"].user)
    delete_election(imported.people["cec"].user, imported.election)
    assert not Audit.objects.filter(pk=audit.pk).exists()


def test_ballot_polling_confirms_a_close_race(clean: Imported) -> None:
    audit = setup(clean, "bravo", "10 %")
    asn = bravo_sample_size(audit.reported, alpha=0.10, total_ballots=audit.ballots).asn
    run_audit(audit, Paper(clean.sim), make_boards(clean), clean.people["cec"].user)
    rounds = list(audit.rounds.all())
    assert audit.status == AuditStatus.CONFIRMED
    assert rounds[0].size == asn and all(r.kind == RoundKind.SAMPLE for r in rounds)
    assert len(rounds) <= audit.max_rounds
    assert rounds[-1].risk is not None and rounds[-1].risk <= 0.10
    assert rounds[-1].figures is not None and rounds[-1].figures["draws"] == sum(
        r.size for r in rounds
    )


def test_ballot_polling_of_an_altered_result_escalates(altered: Imported) -> None:
    audit = setup(altered, "bravo", "0.10")
    run_audit(audit, Paper(altered.sim), make_boards(altered), altered.people["cec"].user)
    rounds = list(audit.rounds.all())
    assert [r.kind for r in rounds][-1] == RoundKind.FULL
    assert all(r.risk is not None and r.risk > 0.10 for r in rounds[:-1])
    assert audit.status == AuditStatus.OVERTURNED
    api = api_audit(audit)
    assert api["rounds"][0]["figures"]["method"] == "BRAVO"
    assert api["rounds"][0]["figures"]["log_statistics"]
    assert api["rounds"][-1]["figures"]["confirmed"] is False
