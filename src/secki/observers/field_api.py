"""Observers in the field, through the API (tag ``observers``): the coordinator's assignments,
the observer's check-ins, checklist answers and incidents (send ``Idempotency-Key``: a phone
that sends its queue again changes nothing), incidents' workflow, the election's checklists
and the public coverage counts. Token or session auth, like protocols."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from django.http import Http404, HttpRequest, JsonResponse
from ninja import File, Form, Router
from ninja.files import UploadedFile
from pydantic import Field

from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import election_or_404
from secki.api.schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut, In, Out, StationCode, errors
from secki.observers import coverage as cover
from secki.observers import field
from secki.observers.models import (
    Assignment,
    ChecklistForm,
    Incident,
)

router = Router(tags=["observers"])

Code = Annotated[str, Field(max_length=64)]
Moment = Annotated[str, Field(max_length=40)]


class AssignmentIn(In):
    #: the observer's accreditation number (``OBS-000001``)
    accreditation: Annotated[str, Field(max_length=32)]
    #: a station (a fixed post) …
    station: Code = ""
    #: … or a unit, for a mobile team
    unit: Code = ""


class AssignmentOut(Out):
    accreditation: str
    station: str | None
    unit: str | None
    assigned_at: str


class CheckInIn(In):
    station: StationCode
    #: ``arrival`` or ``departure``
    kind: Annotated[str, Field(max_length=10)]
    #: when, as the phone recorded it (ISO 8601; without an offset: the election's time zone);
    #: empty: when the server receives it
    at: Moment = ""


class CheckInOut(Out):
    id: int
    station: str
    kind: str
    at: str
    accreditation: str


Answer_ = int | bool | str


class ChecklistIn(In):
    #: the checklist's code (``opening``, ``voting``, ``counting`` …)
    form: Annotated[str, Field(max_length=32)]
    station: StationCode
    #: question code → answer (``yes``/``no`` or true/false, a whole number, ``HH:MM``, a
    #: choice's value, text)
    answers: dict[Annotated[str, Field(max_length=40)], Answer_ | None]
    at: Moment = ""


class ChecklistOut(Out):
    id: int
    form: str
    station: str
    answers: dict[str, int | str]
    flags: list[str]
    submitted_at: str


class QuestionOut(Out):
    code: str
    label: str
    type: str
    required: bool
    min: int | None = None
    max: int | None = None
    values: list[str] | None = None
    #: the answers that matter (counted on the observers' dashboard)
    alert_when: list[str] | None = None


class RuleOut(Out):
    code: str
    expression: str
    severity: str
    message: str


class FormOut(Out):
    code: str
    title: str
    position: int
    questions: list[QuestionOut]
    rules: list[RuleOut]


class IncidentIn(In):
    station: StationCode
    category: Annotated[str, Field(max_length=24)]
    occurred_at: Moment
    description: Annotated[str, Field(max_length=4000)]


class IncidentOut(Out):
    id: int
    station: str
    category: str
    occurred_at: str
    description: str
    status: str
    organisation: str
    evidence: list[str]


class StatusIn(In):
    #: ``verified``, ``rejected``, ``escalated`` or ``resolved``
    status: Annotated[str, Field(max_length=10)]
    note: Annotated[str, Field(max_length=1000)] = ""


class UnitCoverOut(Out):
    unit: str | None
    name: str
    stations: int
    covered: int
    present: int
    observers: int


class CoverageOut(Out):
    election: str
    stations: int
    covered: int
    present: int
    observers: int
    units: list[UnitCoverOut]


def assignment_json(row: Assignment) -> dict[str, Any]:
    return {
        "accreditation": row.accreditation.number,
        "station": row.station.code if row.station else None,
        "unit": row.unit.code if row.unit else None,
        "assigned_at": row.assigned_at.isoformat(),
    }


def checkin_json(row: field.Arrival) -> dict[str, Any]:
    return {
        "id": row.id,
        "station": row.station,
        "kind": row.kind,
        "at": row.at.isoformat(),
        "accreditation": row.accreditation,
    }


def checklist_json(row: field.Answered) -> dict[str, Any]:
    return {
        "id": row.id,
        "form": row.form,
        "station": row.station,
        "answers": row.answers,
        "flags": row.flags,
        "submitted_at": row.submitted_at.isoformat(),
    }


def incident_json(row: Incident) -> dict[str, Any]:
    return {
        "id": row.pk,
        "station": row.station.code,
        "category": row.category,
        "occurred_at": row.occurred_at.isoformat(),
        "description": row.description,
        "status": row.status,
        "organisation": row.organisation.name,
        "evidence": [e.sha256 for e in row.evidence.all()],
    }


@router.post("/{slug}/observers/assignments", response={201: AssignmentOut, **WRITE_ERRORS})
def assign(request: HttpRequest, slug: str, payload: AssignmentIn) -> JsonResponse:
    """An organisation's coordinator posts an accredited observer to a station (or a mobile
    team to a unit) within the accreditation's territory; the observer's last post ends."""
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        row = field.assign(
            election,
            actor=user,
            accreditation=payload.accreditation,
            station=payload.station,
            unit=payload.unit,
            request=request,
        )
        return 201, assignment_json(row)

    return respond(request, user, work)


@router.post("/{slug}/observers/checkins", response={201: CheckInOut, **WRITE_ERRORS})
def check_in(request: HttpRequest, slug: str, payload: CheckInIn) -> JsonResponse:
    """The observer's arrival at or departure from the station of their post."""
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        row = field.check_in(
            election,
            actor=user,
            station=payload.station,
            kind=payload.kind,
            at=payload.at,
            request=request,
        )
        return 201, checkin_json(row)

    return respond(request, user, work, grouped=True)


@router.get("/{slug}/observers/checklists", response={200: list[FormOut], 404: ErrorOut})
def checklists(request: HttpRequest, slug: str) -> list[dict[str, Any]]:
    """The election's checklists: questions, their types and allowed values, QA rules."""
    election = election_or_404(slug)
    return [f.definition for f in ChecklistForm.objects.filter(election=election)]


@router.post("/{slug}/observers/checklist-answers", response={201: ChecklistOut, **WRITE_ERRORS})
def answer_checklist(request: HttpRequest, slug: str, payload: ChecklistIn) -> JsonResponse:
    """An observer's answers to a checklist at a station: each answer checked against its
    question (an error names the question's code), the checklist's rules applied (an error
    rule refuses, 422 naming the rule; warnings come back as ``flags``)."""
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        row = field.submit_checklist(
            election,
            actor=user,
            station=payload.station,
            form=payload.form,
            answers=payload.answers,
            at=payload.at,
            request=request,
        )
        return 201, checklist_json(row)

    return respond(request, user, work, grouped=True)


@router.post("/{slug}/observers/incidents", response={201: IncidentOut, **WRITE_ERRORS})
def report(request: HttpRequest, slug: str, payload: IncidentIn) -> JsonResponse:
    """An observer reports an incident at a station of their accreditation's territory (with
    photos or videos: ``incidents/with-evidence``)."""
    return _report(request, slug, payload, ())


def _report(
    request: HttpRequest, slug: str, payload: IncidentIn, evidence: Sequence[UploadedFile]
) -> JsonResponse:
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        row = field.report_incident(
            election,
            actor=user,
            station=payload.station,
            category=payload.category,
            occurred_at=payload.occurred_at,
            description=payload.description,
            evidence=evidence,
            request=request,
        )
        return 201, incident_json(row)

    return respond(request, user, work)


#: the multipart body: the incident's fields and one to five files in ``evidence``
EVIDENCE_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"properties": {"evidence": {"minItems": 1, "maxItems": 5}}}
            }
        }
    }
}


@router.post(
    "/{slug}/observers/incidents/with-evidence",
    response={201: IncidentOut, **WRITE_ERRORS, **errors(413, 415)},
    openapi_extra=EVIDENCE_BODY,
)
def report_with_evidence(
    request: HttpRequest,
    slug: str,
    payload: Form[IncidentIn],
    evidence: File[list[UploadedFile]],
) -> JsonResponse:
    """An incident with its evidence as one multipart form (the phone's queue sends it when it
    is online again): the incident's fields, and photos (PNG, JPEG), PDFs or videos (MP4,
    QuickTime, WebM) in ``evidence``, checked and hashed like the scans; all stored or none.
    With an ``Idempotency-Key`` a resent form is answered with the first answer."""
    return _report(request, slug, payload, evidence)


def _incident(election_slug: str, pk: int) -> Incident:
    election = election_or_404(election_slug)
    row = (
        Incident.objects.filter(election=election, pk=pk)
        .select_related("station", "organisation", "accreditation")
        .first()
    )
    if row is None:
        raise Http404(f"no incident {pk} in {election.slug}")
    return row


@router.post(
    "/{slug}/observers/incidents/{int:pk}/status", response={200: IncidentOut, **WRITE_ERRORS}
)
def move(request: HttpRequest, slug: str, pk: int, payload: StatusIn) -> JsonResponse:
    """One step of an incident's workflow (reported → verified / rejected → escalated /
    resolved) with its note, by the organisation's coordinator; out of ``escalated``, by the
    commission over the station's territory."""
    user = user_from_request(request)
    incident = _incident(slug, pk)

    def work() -> Answer:
        row = field.move_incident(
            incident, payload.status, actor=user, note=payload.note, request=request
        )
        return 200, incident_json(_incident(slug, row.pk))

    return respond(request, user, work)


@router.get("/{slug}/observers/coverage", response={200: CoverageOut, **READ_ERRORS})
def coverage(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Public counts: stations, stations with observers posted (or a mobile team's unit),
    stations with an observer present now, observers posted, by constituency."""
    election = election_or_404(slug)
    found = cover.coverage(election)
    return {
        "election": election.slug,
        "stations": found.total.stations,
        "covered": found.total.covered,
        "present": found.total.present,
        "observers": found.total.observers,
        "units": [
            {
                "unit": u.unit.code if u.unit else None,
                "name": u.unit.name if u.unit else "",
                "stations": u.stations,
                "covered": u.covered,
                "present": u.present,
                "observers": u.observers,
            }
            for u in found.units
        ],
    }
