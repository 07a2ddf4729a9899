"""The public audit pages: the sample-size calculator and the audits of an election, each
audit's live page (the final report once finished) and its figures as JSON and CSV, and the
published manifest."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from secki.audits import actions, report
from secki.audits.models import Audit
from secki.elections.models import Election


def _audit(slug: str, audit_id: int) -> Audit:
    return get_object_or_404(
        Audit.objects.select_related("election"), pk=audit_id, election__slug=slug
    )


def index(request: HttpRequest, slug: str) -> HttpResponse:
    election = get_object_or_404(Election, slug=slug)
    totals, expected = report.calculator(election)
    return render(
        request,
        "portal/audits/index.html",
        {
            "election": election,
            "section": "audits",
            "audits": Audit.objects.filter(election=election).order_by("-id"),
            "expected": expected,
            "totals": totals,
        },
    )


def detail(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    audit = _audit(slug, audit_id)
    data = report.summary(audit)
    return render(
        request,
        "portal/audits/detail.html",
        {
            "election": audit.election,
            "section": "audits",
            "audit": audit,
            "data": data,
            "draws": data["draws"][:500],
            "more_draws": max(0, len(data["draws"]) - 500),
            "progress_table": report.progress_table(audit),
        },
    )


def as_json(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    audit = _audit(slug, audit_id)
    body = json.dumps(report.summary(audit), ensure_ascii=False, indent=1, sort_keys=True)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}.json"'
    return response


def draws_csv(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    audit = _audit(slug, audit_id)
    response = HttpResponse(report.draws_csv(audit), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}-draws.csv"'
    return response


def manifest_csv(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    audit = _audit(slug, audit_id)
    response = HttpResponse(actions.manifest_bytes(audit), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}-manifest.csv"'
    return response
