"""Observers in the field (``/staff/field/<slug>/``): the observer's phone pages (check-in,
checklists, incident report) that keep working with no connection, the coordinator's
deployment page (posts and the roster by territory) and the incidents board.

The phone pages work without JavaScript (plain form posts). With it, ``field.js`` registers
the service worker (:func:`worker`, served from this folder so that its scope is the phone
pages), caches the pages, and turns a submit into an item of a queue in IndexedDB that is sent
to the API with an ``Idempotency-Key`` (made when the item is queued) as soon as the phone is
online; the API answers a resent item with its first answer, so it is stored once.

Every write is an action of :mod:`secki.observers.field` (role, territory, audit record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from secki.accounts.access import AccessDenied
from secki.elections.models import Election, Unit
from secki.errors import IntakeError
from secki.observers import actions, field
from secki.observers.checklist import Checklist
from secki.observers.models import (
    Accreditation,
    Assignment,
    ChecklistForm,
    ChecklistSubmission,
    Incident,
    IncidentCategory,
    IncidentEvidence,
    IncidentStatus,
    Organisation,
)
from secki.portal.http import sealed_file
from secki.staff.common import account

WORKER = Path(__file__).with_name("static") / "field" / "sw.js"
ROSTER_PAGE = 100


def _election(slug: str) -> Election:
    return get_object_or_404(Election, slug=slug)


def _denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return render(request, "observers/denied.html", {"message": exc.message}, status=403)


def _held(request: HttpRequest, election: Election) -> list[Accreditation]:
    on = actions.today(election)
    return [
        a
        for a in Accreditation.objects.filter(election=election, account=account(request))
        .select_related("organisation", "unit")
        .order_by("number")
        if actions.is_active(a, on)
    ]


def _observer_only(election: Election) -> AccessDenied:
    return AccessDenied(
        "forbidden_role",
        _("only observers with a valid accreditation in %(slug)s use these forms")
        % {"slug": election.slug},
    )


def worker(request: HttpRequest, slug: str) -> HttpResponse:
    """The service worker, served from the phone pages' folder (its scope)."""
    _election(slug)
    response = HttpResponse(WORKER.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@never_cache
@login_required
def home(request: HttpRequest, slug: str) -> HttpResponse:
    """The observer's phone: accreditation and post, arrival and departure, the checklists,
    the incident form, and the queue of what waits for a connection."""
    election = _election(slug)
    held = _held(request, election)
    if not held:
        return _denied(request, _observer_only(election))
    error: IntakeError | None = None
    if request.method == "POST":
        try:
            row = field.check_in(
                election,
                actor=account(request),
                station=request.POST.get("station", ""),
                kind=request.POST.get("kind", ""),
                at=request.POST.get("at", ""),
                request=request,
            )
        except AccessDenied as exc:
            return _denied(request, exc)
        except IntakeError as exc:
            error = exc
        else:
            messages.success(
                request,
                (
                    _("Arrival at %(code)s recorded.")
                    if row.kind == "arrival"
                    else _("Departure from %(code)s recorded.")
                )
                % {"code": row.station},
            )
            return redirect("field:home", slug=slug)
    posts = [(a, field.current_post(a)) for a in held]
    station = next((p.station.code for _a, p in posts if p and p.station), "")
    return render(
        request,
        "field/home.html",
        {
            "election": election,
            "posts": posts,
            "station": station,
            "forms": list(ChecklistForm.objects.filter(election=election)),
            "error": error,
            "recent": list(
                ChecklistSubmission.objects.filter(election=election, accreditation__in=held)
                .select_related("form", "station")
                .order_by("-id")[:10]
            ),
        },
        status=422 if error else 200,
    )


def _default_station(held: list[Accreditation]) -> str:
    for a in held:
        post = field.current_post(a)
        if post is not None and post.station is not None:
            return post.station.code
    return ""


@never_cache
@login_required
def checklist(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """One checklist on the phone: every question as its type asks."""
    election = _election(slug)
    held = _held(request, election)
    if not held:
        return _denied(request, _observer_only(election))
    form = get_object_or_404(ChecklistForm, election=election, code=code)
    definition = Checklist.from_dict(form.definition)
    error: IntakeError | None = None
    values: dict[str, Any] = {"station": _default_station(held)}
    if request.method == "POST":
        values = request.POST.dict()
        answers = {q.code: values.get(q.code, "") for q in definition.questions}
        try:
            row = field.submit_checklist(
                election,
                actor=account(request),
                station=values.get("station", ""),
                form=code,
                answers=answers,
                request=request,
            )
        except AccessDenied as exc:
            return _denied(request, exc)
        except IntakeError as exc:
            error = exc
        else:
            messages.success(
                request,
                _("Checklist %(title)s of station %(code)s recorded.")
                % {"title": _(form.title), "code": row.station},
            )
            return redirect("field:home", slug=slug)
    questions = [
        (q, values.get(q.code, ""), [(v, _(v)) for v in q.values]) for q in definition.questions
    ]
    return render(
        request,
        "field/checklist.html",
        {
            "election": election,
            "form": form,
            "title": _(form.title),
            "questions": questions,
            "values": values,
            "error": error,
            "forms": list(ChecklistForm.objects.filter(election=election)),
        },
        status=422 if error else 200,
    )


@never_cache
@login_required
def incident(request: HttpRequest, slug: str) -> HttpResponse:
    """The incident form on the phone (with JavaScript its report and files queue offline)."""
    election = _election(slug)
    held = _held(request, election)
    if not held:
        return _denied(request, _observer_only(election))
    error: IntakeError | None = None
    values: dict[str, Any] = {"station": _default_station(held)}
    if request.method == "POST":
        values = request.POST.dict()
        try:
            row = field.report_incident(
                election,
                actor=account(request),
                station=values.get("station", ""),
                category=values.get("category", ""),
                occurred_at=values.get("occurred_at", ""),
                description=values.get("description", ""),
                evidence=request.FILES.getlist("evidence"),
                request=request,
            )
        except AccessDenied as exc:
            return _denied(request, exc)
        except IntakeError as exc:
            error = exc
        else:
            messages.success(
                request,
                _("Incident %(id)s at station %(code)s reported.")
                % {"id": row.pk, "code": row.station.code},
            )
            return redirect("field:home", slug=slug)
    return render(
        request,
        "field/incident.html",
        {
            "election": election,
            "values": values,
            "categories": IncidentCategory.choices,
            "error": error,
            "forms": list(ChecklistForm.objects.filter(election=election)),
        },
        status=422 if error else 200,
    )


def _coordinated(request: HttpRequest, election: Election) -> list[Organisation]:
    try:
        return actions.representative_of(account(request), election)
    except AccessDenied:
        return []


def _manages(request: HttpRequest, election: Election) -> bool:
    try:
        actions.authorize_decision(account(request), election, None)
    except AccessDenied:
        return False
    return True


@login_required
def deploy(request: HttpRequest, slug: str) -> HttpResponse:
    """The coordinator posts observers; the roster by territory (the commission reads it)."""
    election = _election(slug)
    organisations = _coordinated(request, election)
    manager = _manages(request, election)
    if not organisations and not manager:
        return _denied(
            request,
            AccessDenied(
                "forbidden_role",
                _("only an accredited organisation's coordinator or the commission sees this"),
            ),
        )
    error: IntakeError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("end"):
                field.unassign(
                    election,
                    actor=account(request),
                    accreditation=request.POST.get("end"),
                    request=request,
                )
                messages.success(request, _("Post ended."))
            else:
                row = field.assign(
                    election,
                    actor=account(request),
                    accreditation=request.POST.get("accreditation", ""),
                    station=request.POST.get("station", ""),
                    unit=request.POST.get("unit", ""),
                    request=request,
                )
                messages.success(
                    request,
                    _("%(n)s posted to %(post)s.")
                    % {
                        "n": row.accreditation.number,
                        "post": row.station.code if row.station else getattr(row.unit, "name", ""),
                    },
                )
        except AccessDenied as exc:
            return _denied(request, exc)
        except IntakeError as exc:
            error = exc
        else:
            return redirect(request.get_full_path())
    units = list(Unit.objects.filter(election=election).order_by("path", "position"))
    chosen = next((u for u in units if u.code == request.GET.get("unit")), None)
    posts = Assignment.objects.filter(election=election, ended_at__isnull=True).select_related(
        "accreditation__organisation", "station", "unit"
    )
    if not manager:
        posts = posts.filter(accreditation__organisation__in=organisations)
    if chosen is not None:
        posts = posts.filter(station__unit_path__startswith=chosen.path) | posts.filter(
            unit__path__startswith=chosen.path
        )
    page = Paginator(posts.order_by("accreditation__number"), ROSTER_PAGE).get_page(
        request.GET.get("page")
    )
    unposted = (
        Accreditation.objects.filter(
            election=election, organisation__in=organisations, revoked_at__isnull=True
        )
        .exclude(assignments__ended_at__isnull=True)
        .order_by("number")[:200]
    )
    return render(
        request,
        "field/deploy.html",
        {
            "election": election,
            "organisations": organisations,
            "manager": manager,
            "units": units,
            "chosen": chosen,
            "page": page,
            "unposted": list(unposted),
            "error": error,
            "values": request.POST.dict() if error else {},
        },
        status=422 if error else 200,
    )


@login_required
def incidents(request: HttpRequest, slug: str) -> HttpResponse:
    """Incidents of the coordinator's organisations (or, for the commission, every incident
    escalated to it and the rest), with the workflow's next steps."""
    election = _election(slug)
    organisations = _coordinated(request, election)
    whole = _manages(request, election)
    regions = [] if whole else _managed_units(request, election)
    manager = whole or bool(regions)
    if not organisations and not manager:
        return _denied(
            request,
            AccessDenied(
                "forbidden_role",
                _("only an accredited organisation's coordinator or the commission sees this"),
            ),
        )
    error: IntakeError | None = None
    if request.method == "POST":
        chosen = get_object_or_404(Incident, election=election, pk=request.POST.get("incident"))
        try:
            field.move_incident(
                chosen,
                request.POST.get("status", ""),
                actor=account(request),
                note=request.POST.get("note", ""),
                request=request,
            )
        except AccessDenied as exc:
            return _denied(request, exc)
        except IntakeError as exc:
            error = exc
        else:
            messages.success(request, _("Incident %(id)s updated.") % {"id": chosen.pk})
            return redirect(request.get_full_path())
    rows = Incident.objects.filter(election=election).select_related(
        "station", "organisation", "accreditation"
    )
    if not whole:  # their organisations' incidents and those in the territories they manage
        seen = Q(organisation__in=organisations)
        for unit in regions:
            seen |= Q(station__unit_path__startswith=unit.path)
        rows = rows.filter(seen)
    status = request.GET.get("status", "")
    if status in IncidentStatus.values:
        rows = rows.filter(status=status)
    page = Paginator(rows.prefetch_related("evidence", "events"), 50).get_page(
        request.GET.get("page")
    )
    items = [(i, field.TRANSITIONS[i.status]) for i in page]
    return render(
        request,
        "field/incidents.html",
        {
            "election": election,
            "page": page,
            "items": items,
            "statuses": IncidentStatus.choices,
            "status": status,
            "error": error,
        },
        status=422 if error else 200,
    )


@login_required
def evidence(request: HttpRequest, slug: str, pk: int) -> HttpResponseBase:
    """An incident's photo, document or video, for whoever sees the incident (the observer who
    reported it, the organisation's coordinator, the commission over the station's territory):
    always a sealed download named by its SHA-256, never shown inline."""
    election = _election(slug)
    item = get_object_or_404(
        IncidentEvidence.objects.select_related(
            "incident__station", "incident__organisation", "incident__accreditation"
        ),
        incident__election=election,
        pk=pk,
    )
    incident = item.incident
    user = account(request)
    sees = (
        incident.accreditation.account_id == getattr(user, "pk", None)
        or incident.organisation in _coordinated(request, election)
        or _manages(request, election)
        or any(
            incident.station.unit_path.startswith(u.path) for u in _managed_units(request, election)
        )
    )
    if not sees:
        return _denied(
            request,
            AccessDenied(
                "forbidden_role",
                _("only the observer, the organisation's coordinator or the commission sees this"),
            ),
        )
    extension = item.file.name.rsplit(".", 1)[-1]
    return sealed_file(
        request,
        item.file.name,
        sha256=item.sha256,
        filename=f"incident-{incident.pk}-{item.sha256[:12]}.{extension}",
        public=False,
        content_type=item.content_type,
    )


def _managed_units(request: HttpRequest, election: Election) -> list[Unit]:
    from secki.accounts.access import GRANTS, Permission, memberships
    from secki.accounts.models import Role

    return [
        m.unit
        for m in memberships(account(request), election)
        if Permission.MANAGE_ELECTION in GRANTS[Role(m.role)] and m.unit is not None
    ]
