"""What an organisation's coordinator and the commission see of observers (issue 17, item 6):
per organisation its accreditations (active, revoked, expired; active ones by territory), its
protocol copies and the contradictions they found; the webcams' status and outages; checklist
summaries by constituency (submissions, and the answers that matter: a question's
``alert_when``) and incidents by status and category per constituency, each summary one
aggregation over the caller's organisations (every organisation for the commission). The
commission (``MANAGE_ELECTION`` anywhere in the election) sees every organisation, a
representative their own; anybody else is refused. One function for the staff page and the
API."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import In
from django.utils.translation import gettext as _

from secki.accounts.access import GRANTS, AccessDenied, Permission, can, memberships
from secki.accounts.models import Role
from secki.accounts.users import User
from secki.elections.models import Election, Unit
from secki.observers import actions, checklist, compare
from secki.observers.coverage import constituencies
from secki.observers.models import (
    Accreditation,
    ApplicationStatus,
    ChecklistForm,
    ChecklistSubmission,
    Incident,
    IncidentCategory,
    IncidentStatus,
    Organisation,
    ProtocolCopy,
    Webcam,
    WebcamOutage,
    WebcamStatus,
)

#: contradictions listed per organisation, outages in the list
LISTED = 50


@dataclass
class OrganisationFigures:
    organisation: Organisation
    active: int = 0
    revoked: int = 0
    expired: int = 0  # or not yet valid
    by_territory: dict[str, int] = field(default_factory=dict)
    copies: int = 0
    marks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(compare.MARKS, 0))
    contradictions: list[compare.StationComparison] = field(default_factory=list)


@dataclass
class ChecklistRow:
    """A constituency's submissions of a checklist and its alerting answers by question."""

    unit: Unit | None  # None: stations under no constituency
    submissions: int = 0
    alerts: dict[str, int] = field(default_factory=dict)


@dataclass
class ChecklistSummary:
    form: ChecklistForm
    critical: tuple[checklist.Question, ...]
    rows: list[ChecklistRow]
    total: ChecklistRow


@dataclass
class IncidentRow:
    """A constituency's incidents of one category by status."""

    unit: Unit | None
    category: str
    statuses: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def category_label(self) -> str:
        return str(IncidentCategory(self.category).label)


@dataclass
class IncidentSummary:
    rows: list[IncidentRow]
    statuses: dict[str, int]  # every constituency

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def columns(self) -> list[IncidentStatus]:
        return list(IncidentStatus)


@dataclass
class Dashboard:
    election: Election
    commission: bool
    public: bool  # compared with published protocols only
    organisations: list[OrganisationFigures]
    webcams: dict[str, int]
    open_outages: list[WebcamOutage]
    recent_outages: list[WebcamOutage]
    checklists: list[ChecklistSummary] = field(default_factory=list)
    incidents: IncidentSummary = field(default_factory=lambda: IncidentSummary([], {}))


def is_commission(user: User | None, election: Election) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return any(
        Permission.MANAGE_ELECTION in GRANTS[Role(m.role)] for m in memberships(user, election)
    )


def visible_organisations(user: User | None, election: Election) -> tuple[bool, list[Organisation]]:
    """(whether the caller is the commission, the organisations shown), or AccessDenied."""
    if is_commission(user, election):
        return True, list(
            Organisation.objects.filter(
                election=election, applications__status=ApplicationStatus.ACCEPTED
            )
            .distinct()
            .order_by("name")
        )
    if user is None or not user.is_authenticated:
        raise AccessDenied("not_authenticated", _("log in or send an API token"))
    own = list(
        Organisation.objects.filter(election=election, representative_id=user.pk).order_by("name")
    )
    if not own:
        raise AccessDenied(
            "forbidden_role",
            _("the observers' dashboard is for the commission and the organisations' coordinators"),
        )
    return False, own


def build(user: User | None, election: Election, *, on: dt.date | None = None) -> Dashboard:
    commission, organisations = visible_organisations(user, election)
    on = on or actions.today(election)
    figures = {o.pk: OrganisationFigures(o) for o in organisations}
    for a in Accreditation.objects.filter(
        election=election, organisation_id__in=list(figures)
    ).select_related("unit"):
        row = figures[a.organisation_id]
        if a.revoked_at is not None:
            row.revoked += 1
        elif actions.is_active(a, on):
            row.active += 1
            where = a.unit.name if a.unit else _("whole election")
            row.by_territory[where] = row.by_territory.get(where, 0) + 1
        else:
            row.expired += 1
    for org_id, n in (
        ProtocolCopy.objects.filter(
            election=election, organisation_id__in=list(figures), is_current=True
        )
        .values_list("organisation_id")
        .annotate(n=Count("id"))
    ):
        figures[org_id].copies = n
    public = not can(user, election, Permission.VIEW_UNPUBLISHED)
    by_name = {f.organisation.name: f for f in figures.values()}
    for station in compare.compare(election, public=public).stations:
        for name in {c.organisation for c in station.copies}:
            found = by_name.get(name)
            if found is None:
                continue
            found.marks[station.mark] += 1
            own_diffs = any(c.diffs for c in station.copies if c.organisation == name)
            if own_diffs and len(found.contradictions) < LISTED:
                found.contradictions.append(station)
    status: Counter[str] = Counter(dict.fromkeys(WebcamStatus.values, 0))
    for s, n in (
        Webcam.objects.filter(election=election).values_list("status").annotate(n=Count("id"))
    ):
        status[s] = n
    outages = WebcamOutage.objects.filter(webcam__election=election).select_related(
        "webcam__station"
    )
    tops = constituencies(election)
    scope = None if commission else [o.pk for o in organisations]
    return Dashboard(
        election,
        commission,
        public,
        list(figures.values()),
        dict(status),
        list(outages.filter(ended_at__isnull=True).order_by("started_at")[:LISTED]),
        list(outages.filter(ended_at__isnull=False).order_by("-ended_at")[:LISTED]),
        checklist_summaries(election, tops, scope),
        incident_summary(election, tops, scope),
    )


def _constituency(tops: list[Unit]) -> Case:
    """The id of the constituency holding the row's station (0: none), in SQL."""
    return Case(
        *(When(station__unit_path__startswith=u.path, then=Value(u.pk)) for u in tops),
        default=Value(0),
        output_field=IntegerField(),
    )


def _in_order(tops: list[Unit], found: dict[int, object]) -> list[Unit | None]:
    return [u for u in tops if u.pk in found] + ([None] if 0 in found else [])


def checklist_summaries(
    election: Election, tops: list[Unit], organisations: list[int] | None
) -> list[ChecklistSummary]:
    """Per checklist: submissions and alerting answers by constituency, one aggregation each
    (``organisations``: only their observers' submissions; None: everybody's)."""
    by_id = {u.pk: u for u in tops}
    out: list[ChecklistSummary] = []
    for form in ChecklistForm.objects.filter(election=election).order_by("position", "code"):
        critical = checklist.Checklist.from_dict(form.definition).critical
        rows: QuerySet[ChecklistSubmission] = ChecklistSubmission.objects.filter(form=form)
        if organisations is not None:
            rows = rows.filter(accreditation__organisation_id__in=organisations)
        alerts = {
            f"alert_{i}": Count(
                "id", filter=Q(In(KeyTextTransform(q.code, "answers"), list(q.alert_when)))
            )
            for i, q in enumerate(critical)
        }
        found: dict[int, ChecklistRow] = {}
        for top, n, *counts in (
            rows.annotate(top=_constituency(tops))
            .values("top")
            .annotate(n=Count("id"), **alerts)
            .values_list("top", "n", *alerts)
        ):
            found[top] = ChecklistRow(
                by_id.get(top), n, {q.code: c for q, c in zip(critical, counts, strict=True)}
            )
        total = ChecklistRow(
            None,
            sum(r.submissions for r in found.values()),
            {q.code: sum(r.alerts[q.code] for r in found.values()) for q in critical},
        )
        ordered = [found[u.pk if u else 0] for u in _in_order(tops, dict(found))]
        out.append(ChecklistSummary(form, critical, ordered, total))
    return out


def incident_summary(
    election: Election, tops: list[Unit], organisations: list[int] | None
) -> IncidentSummary:
    """Incidents by constituency, category and status in one aggregation (``organisations``:
    only theirs; None: every incident of the election)."""
    rows: QuerySet[Incident] = Incident.objects.filter(election=election)
    if organisations is not None:
        rows = rows.filter(organisation_id__in=organisations)
    cells: dict[tuple[int, str], dict[str, int]] = {}
    statuses = dict.fromkeys(IncidentStatus.values, 0)
    for top, category, state, n in (
        rows.annotate(top=_constituency(tops))
        .values("top", "category", "status")
        .annotate(n=Count("id"))
        .values_list("top", "category", "status", "n")
    ):
        cells.setdefault((top, category), dict.fromkeys(IncidentStatus.values, 0))[state] = n
        statuses[state] += n
    order = {c: i for i, c in enumerate(IncidentCategory.values)}
    tops_seen = _in_order(tops, {top: None for top, _c in cells})
    out = [
        IncidentRow(unit, category, cells[(unit.pk if unit else 0, category)])
        for unit in tops_seen
        for category in sorted(
            (c for t, c in cells if t == (unit.pk if unit else 0)), key=order.__getitem__
        )
    ]
    return IncidentSummary(out, statuses)


def as_json(board: Dashboard) -> dict[str, object]:
    """The dashboard for an organisation's own tools (the API)."""

    def outage(o: WebcamOutage) -> dict[str, object]:
        return {
            "station": o.webcam.station.code,
            "started_at": o.started_at.isoformat(),
            "ended_at": o.ended_at.isoformat() if o.ended_at else None,
            "detail": o.detail,
        }

    return {
        "election": board.election.slug,
        "official": "published" if board.public else "counted",
        "organisations": [
            {
                "name": f.organisation.name,
                "kind": f.organisation.kind,
                "accreditations": {
                    "active": f.active,
                    "revoked": f.revoked,
                    "expired": f.expired,
                    "by_territory": f.by_territory,
                },
                "copies": f.copies,
                "marks": f.marks,
                "contradictions": [
                    {"station": s.station.code, "mark": s.mark, "lines": s.lines}
                    for s in f.contradictions
                ],
            }
            for f in board.organisations
        ],
        "webcams": board.webcams,
        "open_outages": [outage(o) for o in board.open_outages],
        "recent_outages": [outage(o) for o in board.recent_outages],
        "checklists": [
            {
                "code": c.form.code,
                "title": c.form.title,
                "critical": [
                    {"code": q.code, "label": q.label, "alert_when": list(q.alert_when)}
                    for q in c.critical
                ],
                "constituencies": [_checklist_row(r) for r in c.rows],
                "total": _checklist_row(c.total),
            }
            for c in board.checklists
        ],
        "incidents": {
            "statuses": board.incidents.statuses,
            "constituencies": [
                {
                    "unit": r.unit.code if r.unit else None,
                    "name": r.unit.name if r.unit else None,
                    "category": r.category,
                    "statuses": r.statuses,
                }
                for r in board.incidents.rows
            ],
        },
    }


def _checklist_row(row: ChecklistRow) -> dict[str, object]:
    return {
        "unit": row.unit.code if row.unit else None,
        "name": row.unit.name if row.unit else None,
        "submissions": row.submissions,
        "alerts": row.alerts,
    }
