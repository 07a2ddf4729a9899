"""Observers' pages for the commission, organisations and observers: applications and their
documents, decisions (accept, reject, ask for more), revocation, the printable badge with its
QR code, the observer's phone form for a protocol copy and the organisation's CSV upload.

Every write is an action of :mod:`secki.observers.actions` (role, territory, audit record,
public fact); a refused action is shown with the field it names and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from secki.accounts.access import AccessDenied
from secki.elections.models import Election, Station, Unit
from secki.elections.names import local
from secki.errors import IntakeError
from secki.observers import actions, dashboard
from secki.observers.models import (
    Accreditation,
    Application,
    ApplicationStatus,
    Document,
    Organisation,
    OrganisationKind,
    ProtocolCopy,
    Webcam,
)
from secki.staff.common import account


def _election(slug: str) -> Election:
    return get_object_or_404(Election, slug=slug)


def _denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return render(request, "observers/denied.html", {"message": exc.message}, status=403)


def _attempt(
    request: HttpRequest, work: Callable[[], tuple[str, str]]
) -> HttpResponse | IntakeError:
    """Run a form's action (``work`` returns its success message and the address to go to
    next): then the message and a redirect; a refused role or territory is the 403 page; a
    refused input is returned, for the form to show with the field it names."""
    try:
        message, where = work()
    except AccessDenied as exc:
        return _denied(request, exc)
    except IntakeError as exc:
        return exc
    if message:
        messages.success(request, message)
    return redirect(where)


def _may_decide(request: HttpRequest, election: Election) -> bool:
    try:
        actions.authorize_decision(account(request), election, None)
    except AccessDenied:
        return False
    return True


def _decides_some(request: HttpRequest, election: Election) -> bool:
    """A manager of the whole election or of part of it."""
    return dashboard.is_commission(account(request), election)


@login_required
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    """What the user does here: the commission sees every application; a representative their
    organisation's; an accredited observer their accreditations and the copy form."""
    election = _election(slug)
    user = account(request)
    manager = _decides_some(request, election)
    applications = Application.objects.filter(election=election).select_related(
        "organisation", "unit"
    )
    if not manager:
        applications = applications.filter(organisation__representative=user)
    mine = list(
        Accreditation.objects.filter(election=election, account=user).select_related(
            "organisation", "unit"
        )
    )
    represented = list(
        Organisation.objects.filter(
            election=election,
            representative=user,
            applications__status=ApplicationStatus.ACCEPTED,
        ).distinct()
    )
    if request.method == "POST" and manager:
        try:
            actions.set_publish_names(
                election, request.POST.get("publish_names") == "1", actor=user, request=request
            )
        except AccessDenied as exc:
            return _denied(request, exc)
        messages.success(request, _("Saved."))
        return redirect("observers:overview", slug=slug)
    return render(
        request,
        "observers/overview.html",
        {
            "election": election,
            "manager": manager,
            "publish_names": actions.publishes_names(election),
            "applications": list(applications),
            "mine": mine,
            "represented": represented,
            "today": actions.today(election),
        },
    )


def _units(election: Election) -> list[Unit]:
    return list(Unit.objects.filter(election=election).order_by("path", "position"))


@login_required
def apply(request: HttpRequest, slug: str) -> HttpResponse:
    election = _election(slug)
    user = account(request)
    try:
        actions.authorize_applicant(user, election)
    except AccessDenied as exc:
        return _denied(request, exc)
    error: IntakeError | None = None
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.POST.dict()

        def send() -> tuple[str, str]:
            application = actions.apply(
                election,
                actor=user,
                name=form.get("name"),
                kind=form.get("kind"),
                contact=form.get("contact"),
                unit=form.get("unit"),
                observers=form.get("observers"),
                names=form.get("names", ""),
                documents=request.FILES.getlist("documents"),
                request=request,
            )
            return (
                _("Application %(id)s received: the commission will decide.")
                % {"id": application.pk},
                reverse("observers:application", args=[slug, application.pk]),
            )

        outcome = _attempt(request, send)
        if not isinstance(outcome, IntakeError):
            return outcome
        error = outcome
    return render(
        request,
        "observers/apply.html",
        {
            "election": election,
            "units": _units(election),
            "kinds": OrganisationKind.choices,
            "form": form,
            "error": error,
        },
        status=422 if error else 200,
    )


def _application(election: Election, pk: int) -> Application:
    return get_object_or_404(
        Application.objects.select_related("organisation", "unit"), election=election, pk=pk
    )


@login_required
def application(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One application: its documents with their hashes, its accreditations; the decision
    forms for the commission."""
    election = _election(slug)
    user = account(request)
    app = _application(election, pk)
    manager = _decides_some(request, election)
    if not manager and app.organisation.representative_id != user.pk:
        return _denied(request, AccessDenied("forbidden_role", _("this application is not yours")))
    error: IntakeError | None = None
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.POST.dict()
        decision = form.get("decision")
        here = reverse("observers:application", args=[slug, pk])

        def decide() -> tuple[str, str]:
            if decision == "accept":
                issued = actions.accept(
                    app,
                    actor=user,
                    valid_from=form.get("valid_from"),
                    valid_until=form.get("valid_until"),
                    names=form.get("names", ""),
                    reason=form.get("reason", ""),
                    request=request,
                )
                return _("Accepted: %(n)s accreditations issued.") % {"n": len(issued)}, here
            if decision == "reject":
                actions.reject(app, form.get("reason"), actor=user, request=request)
                return _("Rejected."), here
            if decision == "more":
                actions.ask_more(app, form.get("reason"), actor=user, request=request)
                return _("The organisation was asked for more."), here
            if decision == "documents":
                actions.add_documents(
                    app,
                    request.FILES.getlist("documents"),
                    actor=user,
                    note=form.get("note", ""),
                    request=request,
                )
                return _("Documents added: the commission will decide."), here
            raise IntakeError(
                "invalid_value", _("decision: accept, reject or ask for more"), field="decision"
            )

        outcome = _attempt(request, decide)
        if not isinstance(outcome, IntakeError):
            return outcome
        error = outcome
    names = form.get("names")
    if names is None:
        names = "\n".join(app.names)
    return render(
        request,
        "observers/application.html",
        {
            "election": election,
            "app": app,
            "documents": list(app.documents.all()),
            "accreditations": list(app.accreditations.select_related("unit")),
            "manager": manager,
            "open": app.status in (ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO),
            "answer": app.status == ApplicationStatus.MORE_INFO
            and app.organisation.representative_id == user.pk,
            "form": form,
            "names": names,
            "default_from": election.date.replace(day=1),
            "default_until": election.date,
            "error": error,
            "today": actions.today(election),
        },
        status=422 if error else 200,
    )


@login_required
def document_file(request: HttpRequest, slug: str, pk: int) -> HttpResponseBase:
    """A document of an application, for the commission and the organisation's representative:
    always a download, sandboxed like a protocol scan."""
    election = _election(slug)
    document = get_object_or_404(
        Document.objects.select_related("application__organisation"),
        pk=pk,
        application__election=election,
    )
    representative = document.application.organisation.representative_id == account(request).pk
    if not (representative or _decides_some(request, election)):
        return _denied(request, AccessDenied("forbidden_role", _("this application is not yours")))
    try:
        handle = document.file.open("rb")
    except OSError:
        raise Http404(document.sha256) from None
    extension = document.file.name.rsplit(".", 1)[-1]
    response = FileResponse(
        handle,
        content_type=document.content_type,
        as_attachment=True,
        filename=f"application-{document.application_id}-{document.sha256[:12]}.{extension}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _accreditation(election: Election, number: str) -> Accreditation:
    return get_object_or_404(
        Accreditation.objects.select_related("organisation", "unit"),
        election=election,
        number=number,
    )


@login_required
def revoke(request: HttpRequest, slug: str, number: str) -> HttpResponse:
    election = _election(slug)
    accreditation = _accreditation(election, number)
    if request.method != "POST":
        return redirect("observers:application", slug=slug, pk=accreditation.application_id)
    try:
        actions.revoke(
            accreditation, request.POST.get("reason"), actor=account(request), request=request
        )
    except AccessDenied as exc:
        return _denied(request, exc)
    except IntakeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Accreditation %(n)s revoked.") % {"n": number})
    return redirect("observers:application", slug=slug, pk=accreditation.application_id)


@login_required
def badge(request: HttpRequest, slug: str, number: str) -> HttpResponse:
    """The printable badge: number, organisation, territory, validity and a QR code of the
    public check page's address."""
    election = _election(slug)
    user = account(request)
    accreditation = _accreditation(election, number)
    own = accreditation.account_id == user.pk
    represents = accreditation.organisation.representative_id == user.pk
    if not (own or represents or _decides_some(request, election)):
        return _denied(request, AccessDenied("forbidden_role", _("this badge is not yours")))
    url = request.build_absolute_uri(
        reverse("portal:observer_check", args=[election.slug, accreditation.number])
    )
    qr = segno.make(url, error="m").svg_inline(
        scale=4, omitsize=True, title=_("Check accreditation %(n)s") % {"n": number}
    )
    return render(
        request,
        "observers/badge.html",
        {
            "election": election,
            "a": accreditation,
            "qr": qr,
            "url": url,
            "active": actions.is_active(accreditation, actions.today(election)),
        },
    )


def _station(election: Election, code: str) -> Station:
    station = Station.objects.filter(election=election, code=code[:64]).first()
    if station is None:
        raise IntakeError(
            "unknown_station",
            _("station: %(code)s is not a polling station of %(slug)s")
            % {"code": code[:64] or "—", "slug": election.slug},
            field="station",
        )
    return station


@login_required
def copy_form(request: HttpRequest, slug: str) -> HttpResponse:
    """The observer's phone form: the station, every number of the copy, a photo."""
    election = _election(slug)
    user = account(request)
    on = actions.today(election)
    held = [
        a
        for a in Accreditation.objects.filter(election=election, account=user)
        if actions.is_active(a, on)
    ]
    if not held:
        return _denied(
            request,
            AccessDenied(
                "forbidden_role",
                _("only observers with a valid accreditation in %(slug)s record protocol copies")
                % {"slug": election.slug},
            ),
        )
    lines = actions.copy_lines(election)
    labels = {ln.code: _(ln.label) for ln in election.protocol_schema().lines}
    for c in election.candidates.all():
        labels[c.line_code] = _("Votes for %(name)s") % {"name": local(c)}
    error: IntakeError | None = None
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.POST.dict()
        raw = {code: form.get(code, "") for code, _r in lines}

        def record() -> tuple[str, str]:
            station = _station(election, form.get("station", "").strip())
            actions.submit_copy(
                election,
                station,
                raw,
                actor=user,
                photo=request.FILES.get("photo"),
                request=request,
            )
            return (
                _("Copy of station %(code)s recorded.") % {"code": station.code},
                reverse("observers:copy", args=[slug]),
            )

        outcome = _attempt(request, record)
        if not isinstance(outcome, IntakeError):
            return outcome
        error = outcome
    recent = list(
        ProtocolCopy.objects.filter(election=election, submitted_by=user, is_current=True)
        .select_related("station")
        .order_by("-id")[:20]
    )
    fields = [
        (code, labels.get(code, code), required, form.get(code, "")) for code, required in lines
    ]
    return render(
        request,
        "observers/copy.html",
        {
            "election": election,
            "fields": fields,
            "form": form,
            "error": error,
            "recent": recent,
            "held": held,
        },
        status=422 if error else 200,
    )


@login_required
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """An organisation's copies as one CSV file (and photos named after the stations)."""
    election = _election(slug)
    user = account(request)
    try:
        organisations = actions.representative_of(user, election)
    except AccessDenied as exc:
        return _denied(request, exc)
    error: IntakeError | None = None
    if request.method == "POST":
        chosen = next(
            (o for o in organisations if str(o.pk) == request.POST.get("organisation")),
            organisations[0] if len(organisations) == 1 else None,
        )
        file = request.FILES.get("file")

        def store() -> tuple[str, str]:
            if chosen is None:
                raise IntakeError(
                    "missing_value", _("organisation: choose one"), field="organisation"
                )
            if file is None:
                raise IntakeError(
                    "missing_file", _("file: choose the CSV file of the copies"), field="file"
                )
            outcome = actions.upload_copies(
                election,
                chosen,
                file,
                actor=user,
                photos=request.FILES.getlist("photos"),
                request=request,
            )
            return (
                _("%(n)s copies recorded (%(p)s photos).")
                % {"n": outcome.copies, "p": outcome.photos},
                reverse("observers:upload", args=[slug]),
            )

        result = _attempt(request, store)
        if not isinstance(result, IntakeError):
            return result
        error = result
    header = ",".join(["station", *[code for code, _r in actions.copy_lines(election)]])
    return render(
        request,
        "observers/upload.html",
        {
            "election": election,
            "organisations": organisations,
            "error": error,
            "header": header,
        },
        status=422 if error else 200,
    )


# -- webcams' registry ----------------------------------------------------------------------


@login_required
def webcams(request: HttpRequest, slug: str) -> HttpResponse:
    """The webcam registry for the commission: every registered webcam with its status, the
    register's filmed stations not registered yet (added by one audited action)."""
    election = _election(slug)
    user = account(request)
    if not _decides_some(request, election):
        return _denied(
            request,
            AccessDenied("forbidden_role", _("the webcam registry is kept by the commission")),
        )
    if request.method == "POST":
        try:
            added = actions.register_webcams(election, actor=user, request=request)
        except AccessDenied as exc:
            return _denied(request, exc)
        messages.success(request, _("%(n)s webcams added to the registry.") % {"n": len(added)})
        return redirect("observers:webcams", slug=slug)
    registered = list(
        Webcam.objects.filter(election=election)
        .select_related("station")
        .order_by("station__position", "id")
    )
    known = {w.station_id for w in registered}
    unregistered = [
        s
        for s in Station.objects.filter(election=election, webcam=True).order_by("position")
        if s.pk not in known
    ]
    return render(
        request,
        "observers/webcams.html",
        {"election": election, "webcams": registered, "unregistered": unregistered},
    )


@login_required
def webcam(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """Register or change one station's webcam: stream, recording, operator."""
    election = _election(slug)
    user = account(request)
    try:
        station = _station(election, code)
    except IntakeError as exc:
        raise Http404(exc.message) from None
    current = Webcam.objects.filter(station=station).first()
    error: IntakeError | None = None
    form: dict[str, Any] = {
        "stream_url": current.stream_url if current else station.webcam_link,
        "recording_url": current.recording_url if current else "",
        "operator": current.operator if current else "",
    }
    if request.method == "POST":
        form = request.POST.dict()

        def save() -> tuple[str, str]:
            actions.edit_webcam(
                election,
                station,
                actor=user,
                stream_url=form.get("stream_url"),
                recording_url=form.get("recording_url", ""),
                operator=form.get("operator", ""),
                request=request,
            )
            return (
                _("Webcam of station %(code)s saved.") % {"code": station.code},
                reverse("observers:webcams", args=[slug]),
            )

        outcome = _attempt(request, save)
        if not isinstance(outcome, IntakeError):
            return outcome
        error = outcome
    elif not _decides_some(request, election):
        return _denied(
            request,
            AccessDenied("forbidden_role", _("the webcam registry is kept by the commission")),
        )
    return render(
        request,
        "observers/webcam.html",
        {"election": election, "station": station, "webcam": current, "form": form, "error": error},
        status=422 if error else 200,
    )


# -- the observers' dashboard ---------------------------------------------------------------


@login_required
def board(request: HttpRequest, slug: str) -> HttpResponse:
    """What the commission and an organisation's coordinator follow: accreditations, copies,
    contradictions, webcams' outages."""
    election = _election(slug)
    try:
        figures = dashboard.build(account(request), election)
    except AccessDenied as exc:
        return _denied(request, exc)
    return render(request, "observers/dashboard.html", {"election": election, "board": figures})
