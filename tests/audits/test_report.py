"""The audit report (HTML page and PDF, in az, en and ru) and the public audit API: an audit
whose first round finds a discrepancy, so that it needs a second round, reported round by
round; the PDF embeds a font with the Azerbaijani Latin letters and Cyrillic; the API's sample
is what ``secki audit-sample`` consumes, and the CLI redoes it draw by draw."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.test import Client
from django.utils import translation

from secki.audits import actions, pdf, report
from secki.audits.cli import audit_sample
from secki.audits.models import Audit
from secki.ledger.models import LedgerEntry
from secki.simulator import SimulationConfig
from tests.audits.conftest import SEED, Imported, Paper, count_round, make_boards, run_audit

pytestmark = pytest.mark.django_db

SIMULATION = SimulationConfig(
    stations=80, seed=12, candidates=2, shares=(0.6, 0.4), constituencies=3, slug="audit-report"
)
#: witnesses whose names hold ə, ğ, ı, ş and Cyrillic letters
WITNESSES = ["Məleykə Qılınc Ağaşirinova (müşahidəçi)", "Иван Петров (наблюдатель)"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def audited(sim: Imported) -> Audit:
    """A batch comparison whose first round finds one altered station, then goes on."""
    cec = sim.people["cec"].user
    audit = actions.create_audit(
        sim.election, actor=cec, kind="macro", risk_limit="0.05", contest="Prezident seçkisi"
    )
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    round1 = actions.start_round(audit, actor=cec)
    boards = make_boards(sim)
    boards.assign(round1)
    paper = Paper(sim.sim)
    first = round1.tasks.select_related("row__station", "round__audit").first()
    assert first is not None
    count = paper.station_count(first.row.station.code)
    moved = count["C1"] // 2
    count["C1"] -= moved
    count["C2"] += moved
    actions.enter_count(first, count, actor=boards.first)
    actions.enter_count(first, count, actor=boards.second)
    count_round(audit, paper, boards)
    assert audit.status == "seeded"
    run_audit(audit, paper, boards, cec)
    assert audit.finished and audit.rounds.count() >= 2
    return audit


def pdf_texts(data: bytes) -> str:
    """Every stream of the PDF, inflated where it is compressed, as Latin-1 text."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = match.group(1)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        out.append(raw.decode("latin-1"))
    return "\n".join(out)


def test_report_page_and_pdf_in_three_languages(sim: Imported) -> None:
    audit = audited(sim)
    slug = sim.election.slug
    data = report.summary(audit)
    discrepant = data["discrepancies"][0]
    assert discrepant["round"] == 1
    for lang in ("az", "en", "ru"):
        with translation.override(lang):
            outcome = report.status_sentence(audit.status)
            title = translation.gettext("Risk-limiting audit report")
        page = Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/e/{slug}/audits/{audit.pk}/report/")
        assert page.status_code == 200
        html = page.content.decode()
        assert title in html and outcome in html
        assert f'<code id="seed">{SEED}</code>' in html
        assert WITNESSES[0] in html and WITNESSES[1] in html
        checkpoint = re.search(r'<dd id="checkpoint">(.*?)</dd>', html, re.S)
        assert checkpoint is not None and audit.manifest_sha256 in html
        assert str(audit.log_size) in re.sub(r"[^0-9 ]", "", checkpoint.group(1)).replace(" ", "")
        assert hashlib.sha256(report.report_json(audit)).hexdigest() in html
        for r in audit.rounds.all():
            assert f'id="round-{r.number}"' in html
            assert r.risk is not None
            assert f"{r.risk:.4f}" in html or f"{r.risk:.4f}".replace(".", ",") in html
        assert f"<td>{discrepant['station']}</td>" in html
        got = Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/e/{slug}/audits/{audit.pk}/report.pdf")
        assert got.status_code == 200 and got["Content-Type"] == "application/pdf"
        assert got["Content-Language"] == lang
        body = got.content
        assert body.startswith(b"%PDF-")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"audit-report-{lang}.pdf").write_bytes(body)
        # the same audit gives the same bytes in a language
        with translation.override(lang):
            assert pdf.render(audit) == body
        assert b"/FontFile2" in body and b"DejaVuSans" in body
        texts = pdf_texts(body)
        # the embedded subset maps its glyphs back to ə ğ ı ş and Cyrillic (ToUnicode CMap)
        for char in "əğışИПнб":
            assert f"<{ord(char):04X}>" in texts, (lang, char)
    # the final report's figures are fixed in the log: report.json's SHA-256
    (entry,) = LedgerEntry.objects.filter(
        election=sim.election, kind="audit.report", subject=f"audit:{audit.pk}"
    )
    served = Client().get(f"/e/{slug}/audits/{audit.pk}/report.json").content
    logged = json.loads(entry.body)
    assert logged["report_sha256"] == hashlib.sha256(served).hexdigest()
    assert logged["status"] == audit.status
    # the public audit page links the report
    detail = Client().get(f"/e/{slug}/audits/{audit.pk}/").content.decode()
    assert f"/e/{slug}/audits/{audit.pk}/report/" in detail
    assert f"/e/{slug}/audits/{audit.pk}/report.pdf" in detail


def test_api_lists_audits_and_gives_rounds_risk_and_discrepancies(sim: Imported) -> None:
    audit = audited(sim)
    slug = sim.election.slug
    client = Client()
    listed = client.get(f"/api/v1/elections/{slug}/audits")
    assert listed.status_code == 200
    body = listed.json()
    assert body["election"] == slug
    assert [a["id"] for a in body["audits"]][:1] == [audit.pk]
    assert body["audits"][0]["status"] == audit.status
    one = client.get(f"/api/v1/elections/{slug}/audits/{audit.pk}").json()
    assert one["seed"]["seed"] == SEED and one["seed"]["witnesses"] == WITNESSES
    assert one["log_size"] == audit.log_size and one["status"] == audit.status
    rounds = list(audit.rounds.order_by("number"))
    assert [r["number"] for r in one["rounds"]] == [r.number for r in rounds]
    assert [r["risk"] for r in one["rounds"]] == [r.risk for r in rounds]
    assert one["rounds"][0]["outcome"] == "seeded" and one["rounds"][0]["next_size"] > 0
    assert one["discrepancies"] == json.loads(json.dumps(actions.discrepancies(audit)))
    assert one["discrepancies"][0]["round"] == 1
    assert one["progress"] == report.progress_table(audit)
    assert client.get(one["pdf_url"]).status_code == 200
    assert client.get(f"/api/v1/elections/{slug}/audits/999999").status_code == 404
    for path in (f"{10**20}", f"{10**20}/sample", "-1", "x"):
        assert client.get(f"/api/v1/elections/{slug}/audits/{path}").status_code in (400, 404)
    assert client.get("/api/v1/elections/no-such/audits").status_code == 404
    openapi = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/elections/{slug}/audits/{audit_id}/sample" in openapi["paths"]


def test_api_sample_is_what_the_reproducer_consumes(sim: Imported, tmp_path: Path) -> None:
    audit = audited(sim)
    slug = sim.election.slug
    sample = Client().get(f"/api/v1/elections/{slug}/audits/{audit.pk}/sample").json()
    manifest = sample["manifest_csv"].encode("utf-8")
    assert hashlib.sha256(manifest).hexdigest() == sample["manifest_sha256"]
    assert Client().get(sample["manifest_url"]).content == manifest
    path = tmp_path / "manifest.csv"
    path.write_bytes(manifest)
    redone: list[dict[str, Any]] = []
    for r in sample["rounds"]:
        result = CliRunner().invoke(
            audit_sample,
            [
                "--seed",
                sample["seed"],
                "--manifest",
                str(path),
                "--draws",
                str(r["size"]),
                "--first",
                str(r["first_draw"]),
            ],
        )
        assert result.exit_code == 0, result.output
        lines = [x for x in result.stdout.splitlines()[1:] if x and not x.startswith("Drawing")]
        for line in lines:
            number, ticket, station, ballot = line.split(",")
            redone.append(
                {
                    "draw": int(number),
                    "round": r["round"],
                    "ticket": ticket,
                    "station": station,
                    "ballot": int(ballot) if ballot else None,
                }
            )
    assert redone == sample["draws"] and len(redone) == sum(r["size"] for r in sample["rounds"])
