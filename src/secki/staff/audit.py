"""The audit trail, read-only, for CEC administrators: a page (filter by election and action,
newest first, paginated) and the same rows as a CSV download (``?format=csv``).

A superuser sees every record; a CEC administrator those of the elections where they hold
that role, and their own (their tokens, their log-ins).
"""

from __future__ import annotations

import csv
import json
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secki.accounts.access import AccessDenied
from secki.accounts.models import AuditRecord, Membership, Role
from secki.accounts.users import Account
from secki.elections.models import Election
from secki.staff.common import account, staff_view

PAGE_SIZE = 50

#: readable names of the actions (the code is shown for any other)
ACTION_LABELS: dict[str, Any] = {
    "election.created": gettext_lazy("Election created"),
    "election.imported": gettext_lazy("Election imported"),
    "election.settings": gettext_lazy("Election settings changed"),
    "election.status": gettext_lazy("Election status changed"),
    "election.deleted": gettext_lazy("Election deleted"),
    "unit.created": gettext_lazy("Unit created"),
    "unit.changed": gettext_lazy("Unit changed"),
    "unit.deleted": gettext_lazy("Unit deleted"),
    "station.created": gettext_lazy("Station created"),
    "station.changed": gettext_lazy("Station changed"),
    "station.deleted": gettext_lazy("Station deleted"),
    "candidate.created": gettext_lazy("Candidate created"),
    "candidate.changed": gettext_lazy("Candidate changed"),
    "candidate.deleted": gettext_lazy("Candidate deleted"),
    "protocol_line.created": gettext_lazy("Protocol line created"),
    "protocol_line.changed": gettext_lazy("Protocol line changed"),
    "protocol_line.deleted": gettext_lazy("Protocol line deleted"),
    "control_relation.created": gettext_lazy("Protocol check created"),
    "control_relation.changed": gettext_lazy("Protocol check changed"),
    "control_relation.deleted": gettext_lazy("Protocol check deleted"),
    "register.amended": gettext_lazy("Register amended"),
    "membership.granted": gettext_lazy("Role granted"),
    "membership.revoked": gettext_lazy("Role revoked"),
    "token.issued": gettext_lazy("API token issued"),
    "token.revoked": gettext_lazy("API token revoked"),
    "login": gettext_lazy("Logged in"),
    "logout": gettext_lazy("Logged out"),
    "login.failed": gettext_lazy("Log-in failed"),
    "login.locked_out": gettext_lazy("Log-ins locked out"),
    "2fa.failed": gettext_lazy("Second factor failed"),
    "2fa.enrolled": gettext_lazy("Authenticator set up"),
    "2fa.recovery_codes_issued": gettext_lazy("Recovery codes issued"),
    "2fa.reset": gettext_lazy("Two-factor log-in reset"),
}

CSV_COLUMNS = ["at", "actor", "action", "election", "target", "before", "after", "ip"]


def visible(user: Account) -> QuerySet[AuditRecord]:
    """The records ``user`` may read, or AccessDenied for anyone who is not a CEC
    administrator anywhere (or a superuser)."""
    records = AuditRecord.objects.select_related("election")
    if user.is_superuser:
        return records
    elections = list(
        Membership.objects.filter(user_id=user.pk, role=Role.CEC_ADMIN).values_list(
            "election_id", flat=True
        )
    )
    if not elections:
        raise AccessDenied("forbidden_role", _("the audit trail is for CEC administrators"))
    return records.filter(Q(election_id__in=elections) | Q(actor_id=user.pk))


def label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def compact(value: Any) -> str:
    """A before/after value as one line of JSON ("" for none)."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def changes(r: AuditRecord) -> list[tuple[str, str, str]]:
    """(field, before, after) of a record, one line per field, for the page."""
    before = r.before if isinstance(r.before, dict) else {}
    after = r.after if isinstance(r.after, dict) else {}
    if not isinstance(r.before, dict) and r.before is not None:
        before = {"": r.before}
    if not isinstance(r.after, dict) and r.after is not None:
        after = {"": r.after}
    keys = [*before, *(k for k in after if k not in before)]
    return [
        (k, compact(before[k]) if k in before else "", compact(after[k]) if k in after else "")
        for k in keys
    ]


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(records: QuerySet[AuditRecord], out: Any) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records.iterator(chunk_size=2000):
        writer.writerow(
            [
                _cell(v)
                for v in (
                    r.at.isoformat(),
                    r.actor_name,
                    r.action,
                    r.election.slug if r.election else "",
                    r.target,
                    compact(r.before),
                    compact(r.after),
                    r.ip or "",
                )
            ]
        )


@staff_view
def trail(request: HttpRequest) -> HttpResponse:
    """The audit trail: newest first, filtered by ``election`` (slug) and ``action``."""
    user = account(request)
    records = visible(user)
    slugs = list(
        Election.objects.filter(
            pk__in=records.exclude(election=None).values("election_id").distinct()
        )
        .order_by("slug")
        .values_list("slug", "name")
    )
    actions = sorted(set(records.values_list("action", flat=True).distinct()))
    slug = request.GET.get("election", "")
    action = request.GET.get("action", "")
    if slug:
        records = records.filter(election__slug=slug)
    if action:
        records = records.filter(action=action)
    records = records.order_by("-at", "-id")
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        write_csv(records, response)
        response["Content-Disposition"] = 'attachment; filename="secki-audit.csv"'
        response["Cache-Control"] = "no-store"
        return response
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"record": r, "label": label(r.action), "changes": changes(r)} for r in page]
    response = render(
        request,
        "staff/audit.html",
        {
            "page": page,
            "rows": rows,
            "elections": slugs,
            "actions": [(a, label(a)) for a in actions],
            "election": slug,
            "action": action,
            "query": urlencode({k: v for k, v in (("election", slug), ("action", action)) if v}),
        },
    )
    response["Cache-Control"] = "no-store"
    return response
