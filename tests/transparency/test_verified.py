"""What the publisher writes, checked by the standalone verifier (issue 14): an honest
election's published log passes every check, a station's inclusion included; a line value
changed directly in the database makes the published totals disagree with the log, and the
verifier names the line."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.elections.models import Election
from secki.opendata import transparency
from secki.opendata.transparency import publish_all
from secki.protocols.models import ProtocolValue
from secki.tlog.checkpoint import WitnessPolicy
from secki.verifier.check import Options, Report, verify
from tests.portal.conftest import submit
from tests.transparency.conftest import SIGNER

pytestmark = pytest.mark.django_db


def check(tmp_path: Path, **options: Any) -> tuple[Report, str]:
    """The verifier over the published directory, the log key and the (empty) policy pinned,
    its state kept in ``tmp_path``."""
    out = io.StringIO()
    report = verify(
        Options(
            location=str(transparency.root_dir()),
            log_key=SIGNER.verifier,
            policy=WitnessPolicy((), 0),
            state_path=tmp_path / "verifier-state.json",
            progress=False,
            **options,
        ),
        out,
        io.StringIO(),
    )
    return report, out.getvalue()


def test_an_honest_log_passes_every_check(election: Election, tmp_path: Path) -> None:
    publish_all()
    report, output = check(tmp_path)
    assert not report.failed, output
    assert "FAIL" not in output and "PASS" in output
    report, output = check(tmp_path, election=election.slug, station="2-1")
    assert not report.failed, output


def test_a_line_value_changed_in_the_database_is_caught(waiting: Election, tmp_path: Path) -> None:
    admin = get_user_model().objects.create_superuser("cec-chair", password="pw-cec-chair")
    submit(waiting, "1-1", admin)
    publish_all()
    report, output = check(tmp_path)
    assert not report.failed, output
    # someone with database access adds ten votes to candidate 1 of station 1-1 …
    value = ProtocolValue.objects.get(
        protocol__station__code="1-1", protocol__is_current=True, code="C1"
    )
    ProtocolValue.objects.filter(pk=value.pk).update(value=value.value + 10)
    # … and the next publication states the database's totals, which the log does not give
    submit(waiting, "1-2", admin)
    publish_all()
    report, output = check(tmp_path)
    assert report.failed
    assert "line C1" in output and f"published {value.value + 10 + 300}" in output, output
