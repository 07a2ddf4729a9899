"""What an organisation's coordinator and the commission see of observers (issue 17, item 6):
per organisation its accreditations (active, revoked, expired; active ones by territory), its
protocol copies and the contradictions they found; the webcams' status and outages. The
commission (``MANAGE_ELECTION`` anywhere in the election) sees every organisation, a
representative their own; anybody else is refused. One function for the staff page and the
API."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count
from django.utils.translation import gettext as _

from secki.accounts.access import GRANTS, AccessDenied, Permission, can, memberships
from secki.accounts.models import Role
from secki.accounts.users import User
from secki.elections.models import Election
from secki.observers import actions, compare
from secki.observers.models import (
    Accreditation,
    ApplicationStatus,
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
class Dashboard:
    election: Election
    commission: bool
    public: bool  # compared with published protocols only
    organisations: list[OrganisationFigures]
    webcams: dict[str, int]
    open_outages: list[WebcamOutage]
    recent_outages: list[WebcamOutage]


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
    return Dashboard(
        election,
        commission,
        public,
        list(figures.values()),
        dict(status),
        list(outages.filter(ended_at__isnull=True).order_by("started_at")[:LISTED]),
        list(outages.filter(ended_at__isnull=False).order_by("-ended_at")[:LISTED]),
    )


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
    }
