"""The public audit pages: the sample-size calculator and the audits of an election, each
audit's live page (the final report once finished) and its figures as JSON and CSV, and the
published manifest."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import translation

from secki.audits import actions, pdf, report
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
    response = HttpResponse(
        report.report_json(audit), content_type="application/json; charset=utf-8"
    )
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


def report_page(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    """The audit's report: set-up, checkpoint, seed ceremony, every round with its sample,
    discrepancies and measured risk, and the outcome (also as PDF)."""
    audit = _audit(slug, audit_id)
    return render(
        request,
        "portal/audits/report.html",
        {"election": audit.election, "section": "audits", "audit": audit, **pdf.describe(audit)},
    )


def report_pdf(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    audit = _audit(slug, audit_id)
    language = translation.get_language() or "en"
    response = HttpResponse(pdf.render(audit), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="audit-{audit.pk}-report-{language}.pdf"'
    response["Content-Language"] = language
    return response
