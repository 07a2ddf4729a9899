"""The audit report as a PDF (fpdf2), in the active language (az, en, ru).

The text is set in DejaVu Sans, vendored beside this module with its licence
(``fonts/LICENSE.txt``), which has the Azerbaijani Latin letters (ə, ğ, ı, ş …) and Cyrillic;
fpdf2 embeds the subset of its glyphs the report uses. The document's dates are the audit's
own (its set-up and its last round), so the same audit gives the same bytes in a language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from secki.audits import report
from secki.audits.models import Audit, AuditKind, RoundKind
from secki.elections.models import Candidate

FONTS = Path(__file__).with_name("fonts")
FONT = "DejaVu"


def kind_text(kind: str) -> str:
    if kind == AuditKind.MACRO:
        return _("batch comparison by station (MACRO)")
    return _("ballot polling (BRAVO)")


def percent(value: float) -> str:
    return f"{value * 100:g} %"


def candidate_names(audit: Audit) -> dict[str, str]:
    """ "C1" → "1. Name" for the audit's contest."""
    return {
        f"C{c.number}": f"{c.number}. {c.name}"
        for c in Candidate.objects.filter(election=audit.election).order_by("number")
    }


class _Report(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}/{{nb}}", align="C")


def _when(audit: Audit) -> dt.datetime:
    last = (
        audit.rounds.exclude(finished_at=None).order_by("-finished_at").first()
        if audit.pk
        else None
    )
    moment = last.finished_at if last and last.finished_at else audit.created_at
    return moment.astimezone(dt.UTC)


def render(audit: Audit) -> bytes:
    """The report of ``audit`` as PDF bytes."""
    data = report.summary(audit)
    names = candidate_names(audit)
    digest = hashlib.sha256(report.report_json(audit)).hexdigest()
    title = _("Risk-limiting audit report")
    pdf = _Report(f"{audit.election.name} — {title} {audit.pk}")
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"{title}: {audit.contest}")
    pdf.set_author(audit.election.name)
    pdf.set_lang(get_language() or "en")
    pdf.set_creation_date(_when(audit))
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    def heading(text: str, size: int = 12) -> None:
        pdf.set_font(FONT, "B", size)
        pdf.multi_cell(0, size * 0.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def para(text: str) -> None:
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def facts(rows: list[tuple[str, str]]) -> None:
        pdf.set_font(FONT, "", 9)
        with pdf.table(col_widths=(45, 135), text_align="LEFT", first_row_as_headings=False) as t:
            for label, value in rows:
                row = t.row()
                row.cell(label)
                row.cell(value)
        pdf.ln(2)

    def table(header: list[str], rows: list[list[str]], widths: tuple[int, ...]) -> None:
        pdf.set_font(FONT, "", 8)
        with pdf.table(col_widths=widths, text_align="LEFT") as t:
            head = t.row()
            for h in header:
                head.cell(h)
            for values in rows:
                row = t.row()
                for v in values:
                    row.cell(v)
        pdf.ln(2)

    heading(f"{title}: {audit.contest}", 15)
    para(f"{audit.election.name} ({audit.election.slug})")
    pdf.ln(2)
    heading(_("Outcome"))
    para(report.status_sentence(audit.status))
    pdf.ln(2)

    heading(_("Set-up"))
    reported = "; ".join(f"{names.get(c, c)}: {v:,}" for c, v in audit.reported.items())
    facts(
        [
            (_("Election"), audit.election.name),
            (_("Contest"), audit.contest),
            (_("Type"), kind_text(audit.kind)),
            (_("Risk limit"), percent(audit.risk_limit)),
            (_("Reported results"), reported),
            (_("Reported winner"), ", ".join(names.get(w, w) for w in audit.reported_winners)),
            (
                _("Checkpoint of the reported results"),
                _("log size %(size)s (the election's transparency log when the audit was set up)")
                % {"size": f"{audit.log_size:,}"},
            ),
            (
                _("Manifest"),
                _("%(stations)s stations, %(ballots)s ballots; SHA-256 %(sha)s")
                % {
                    "stations": f"{data['stations']:,}",
                    "ballots": f"{audit.ballots:,}",
                    "sha": audit.manifest_sha256,
                },
            ),
            (_("Set up at"), timezone.localtime(audit.created_at).isoformat(timespec="seconds")),
        ]
    )

    heading(_("Seed ceremony"))
    if data["seed"]:
        facts(
            [
                (_("Seed"), data["seed"]),
                (_("Held at"), data["seed_entered_at"]),
                (_("Witnesses"), "; ".join(data["witnesses"])),
                (_("Sampling rule"), data["rule"]),
            ]
        )
    else:
        para(_("Waiting for the seed ceremony."))

    heading(_("Rounds"))
    rounds = report.report_rounds(audit, data)
    if not rounds:
        para(_("No round yet."))
    for r in rounds:
        kind = (
            _("full hand count")
            if r["kind"] == RoundKind.FULL
            else _("sample of %(n)s draws") % {"n": f"{r['size']:,}"}
        )
        heading(_("Round %(n)s: %(kind)s") % {"n": r["number"], "kind": kind}, 10)
        rows = [
            (_("Sample size (draws)"), f"{r['size']:,}"),
            (_("Stations to count"), f"{r['stations']:,}"),
        ]
        if r["ballots_drawn"] is not None:
            rows.append((_("Ballots drawn"), f"{r['ballots_drawn']:,}"))
        rows += [
            (_("Counted"), f"{r['counted']:,}"),
            (
                _("Measured risk"),
                f"{r['risk']:.4f}" if r["risk"] is not None else _("being counted"),
            ),
        ]
        if r["outcome"]:
            rows.append((_("Decision"), report.status_sentence(r["outcome"])))
        facts(rows)
        if r["discrepancies"]:
            para(_("Discrepancies (reported vs audited, per candidate):"))
            lines: list[list[str]] = []
            for d in r["discrepancies"]:
                for c in audit.reported:
                    if d["difference"][c]:
                        lines.append(
                            [
                                d["station"],
                                names.get(c, c),
                                f"{d['reported'][c]:,}",
                                f"{d['audited'][c]:,}",
                                f"{d['difference'][c]:+,}",
                            ]
                        )
            table(
                [_("Station"), _("Candidate"), _("Reported"), _("Hand count"), _("Difference")],
                lines,
                (30, 60, 30, 30, 30),
            )
        elif r["kind"] == RoundKind.FULL or audit.kind == AuditKind.MACRO:
            para(_("No discrepancy found in this round."))
        pdf.ln(1)

    heading(_("Publication"))
    para(
        _(
            "Every step of this audit is a public fact in the election's transparency log "
            "(entries audit.created, audit.seed, audit.round, audit.count, audit.result of "
            "subject %(subject)s). The figures of this report are published as report.json, "
            "SHA-256 %(sha)s."
        )
        % {"subject": f"audit:{audit.pk}", "sha": digest}
    )
    if audit.finished:
        para(_("That SHA-256 is in the log too, as the audit's entry audit.report."))
    para(
        _("Anyone can redo the sample with the seed and the manifest:")
        + " secki audit-sample --seed SEED --manifest manifest.csv --draws N --first F"
    )
    return bytes(pdf.output())


def describe(audit: Audit) -> dict[str, Any]:
    """What the report page shows beside the PDF (kind, names, rounds)."""
    data = report.summary(audit)
    return {
        "data": data,
        "kind": kind_text(audit.kind),
        "names": candidate_names(audit),
        "rounds": report.report_rounds(audit, data),
        "outcome": report.status_sentence(audit.status),
        "report_sha256": hashlib.sha256(report.report_json(audit)).hexdigest(),
        "subject": f"audit:{audit.pk}",
        "risk_limit": percent(audit.risk_limit),
    }
