"""The audit pages: an administrator sets up an audit, records the seed and draws a round;
two board members enter a station's count on the entry form; the public sees the calculator,
the live page, the report as JSON and CSV, and the manifest — in az, en and ru."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from typing import Any

import pytest
from django.test import Client

from secki.audits.models import Audit, BoardAssignment, Task
from secki.simulator import SimulationConfig
from tests.audits.conftest import (
    SEED,
    WITNESSES,
    Imported,
    Paper,
    make_boards,
)

pytestmark = pytest.mark.django_db


SIMULATION = SimulationConfig(
    stations=50,
    seed=4,
    candidates=2,
    shares=(0.6, 0.4),
    constituencies=3,
    slug="audit-pages",
)


def progress_total(html: str, constituency: str) -> list[int]:
    """The total row of ``constituency`` in the progress table: sampled, counted once,
    reconciled, discrepancies."""
    row = re.search(
        rf'<tr class="total" data-constituency="{re.escape(constituency)}">(.*?)</tr>', html, re.S
    )
    assert row is not None, constituency
    return [int(v) for v in re.findall(r"<td>(\d+)</td>", row.group(1))]


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_public_calculator_lists_several_risk_limits(sim: Imported) -> None:
    page = Client().get(f"/e/{sim.election.slug}/audits/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="expected"' in html
    for percent in ("1 %", "5 %", "10 %", "20 %"):
        assert f"<td>{percent}</td>" in html


def test_whole_audit_through_the_pages(sim: Imported) -> None:
    slug = sim.election.slug
    cec = login(sim.people["cec"].user)
    bad = cec.post(f"/staff/audits/e/{slug}/", {"kind": "macro", "risk_limit": "75 %"})
    assert (
        bad.status_code == 422
        and b"risk_limit" in bad.content
        and b"Nothing was stored" in bad.content
    )
    assert not Audit.objects.filter(election=sim.election).exists()
    made = cec.post(
        f"/staff/audits/e/{slug}/",
        {"kind": "macro", "risk_limit": "10 %", "contest": "President", "max_rounds": "3"},
    )
    assert made.status_code == 302
    audit = Audit.objects.get(election=sim.election)
    page = f"/staff/audits/e/{slug}/{audit.pk}/"
    early = cec.post(page, {"step": "round"})
    assert early.status_code == 422 and b"no_seed" in early.content
    bad_seed = cec.post(page, {"step": "seed", "seed": "123", "witnesses": "\n".join(WITNESSES)})
    assert bad_seed.status_code == 422 and b'value="123"' in bad_seed.content
    assert (
        cec.post(
            page, {"step": "seed", "seed": SEED, "witnesses": "\n".join(WITNESSES)}
        ).status_code
        == 302
    )
    assert cec.post(page, {"step": "round"}).status_code == 302
    audit.refresh_from_db()
    assert audit.status == "counting"
    boards = make_boards(sim)
    first, second = login(boards.first), login(boards.second)
    groups = sorted(
        set(Task.objects.filter(round__audit=audit).values_list("row__constituency", flat=True))
    )
    # the board does not assign itself; an unknown member is refused, naming the field
    refused = first.post(page, {"step": "assign", "constituency": groups[0], "member": "x"})
    assert refused.status_code == 403
    unknown = cec.post(page, {"step": "assign", "constituency": groups[0], "member": "nobody"})
    assert unknown.status_code == 422 and b"member" in unknown.content
    assert b'value="nobody"' in unknown.content
    assert not BoardAssignment.objects.filter(round__audit=audit).exists()
    task0 = Task.objects.filter(round__audit=audit).select_related("row__station").first()
    assert task0 is not None
    assert b"/count/" not in first.get(page).content  # nothing to enter before assignment
    assert first.get(f"{page}count/{task0.pk}/").status_code == 403
    for group in groups:
        for member in (boards.first, boards.second):
            assigned = cec.post(
                page, {"step": "assign", "constituency": group, "member": member.username}
            )
            assert assigned.status_code == 302
    assert BoardAssignment.objects.filter(round__audit=audit).count() == 2 * len(groups)
    for client in (cec, first):  # the dashboard leads both to the audits
        assert f"/staff/audits/e/{slug}/".encode() in client.get("/staff/").content
    lists = first.get(page)
    assert lists.status_code == 200 and b"retrieval" in lists.content
    paper = Paper(sim.sim)
    tasks = list(Task.objects.filter(round__audit=audit).select_related("row__station"))
    for task in tasks:
        url = f"{page}count/{task.pk}/"
        form = first.get(url)
        assert form.status_code == 200
        for _code, votes in task.row.votes.items():  # blind: the reported figures are not shown
            assert f'value="{votes}"' not in form.content.decode()
        values = {k: str(v) for k, v in paper.station_count(task.row.station.code).items()}
        assert first.post(url, values).status_code == 302
    # every station counted once, none reconciled yet: the progress per constituency says so
    sampled = {g: sum(1 for t in tasks if t.row.constituency == g) for g in groups}
    for html in (
        cec.get(page).content.decode(),
        Client().get(f"/e/{slug}/audits/{audit.pk}/").content.decode(),
    ):
        for g in groups:
            assert progress_total(html, g) == [sampled[g], sampled[g], 0, 0]
    for task in tasks:
        url = f"{page}count/{task.pk}/"
        values = {k: str(v) for k, v in paper.station_count(task.row.station.code).items()}
        assert second.post(url, values).status_code == 302
    audit.refresh_from_db()
    assert audit.status == "confirmed"
    # the administrator does not count, the board does not set up
    assert cec.get(f"{page}count/{tasks[0].pk}/").status_code in (403, 404)
    assert (
        first.post(f"/staff/audits/e/{slug}/", {"kind": "macro", "risk_limit": "5"}).status_code
        == 403
    )
    for g in groups:
        assert progress_total(cec.get(page).content.decode(), g) == [sampled[g], 0, sampled[g], 0]
    # the public report
    for lang in ("az", "en", "ru"):
        public = Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/e/{slug}/audits/{audit.pk}/")
        assert public.status_code == 200 and SEED.encode() in public.content
    report = json.loads(Client().get(f"/e/{slug}/audits/{audit.pk}/report.json").content)
    assert report["status"] == "confirmed" and report["seed"] == SEED
    assert len(report["draws"]) == report["rounds"][0]["size"]
    rows = list(
        csv.reader(
            io.StringIO(Client().get(f"/e/{slug}/audits/{audit.pk}/draws.csv").content.decode())
        )
    )
    assert (
        rows[0][:4] == ["draw", "round", "ticket", "station"]
        and len(rows) == len(report["draws"]) + 1
    )
    manifest = Client().get(f"/e/{slug}/audits/{audit.pk}/manifest.csv").content
    assert hashlib.sha256(manifest).hexdigest() == audit.manifest_sha256


def test_pages_need_a_log_in_and_a_role(sim: Imported) -> None:
    slug = sim.election.slug
    assert Client().get(f"/staff/audits/e/{slug}/").status_code == 302
    assert login(sim.people["observer"].user).get(f"/staff/audits/e/{slug}/").status_code == 403
