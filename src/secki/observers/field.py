"""Observers in the field (issue 17 items 2 and 3): every write checks the caller's role and
territory, validates everything before it writes, writes in one transaction and appends an
audit record.

* :func:`install_checklists` — the commission gives an election the built-in checklists
  (opening, voting, counting; ``builtin_checklists/*.toml``) or a definition of its own.
* :func:`assign`, :func:`unassign` — an organisation's coordinator (its representative) posts
  its accredited observers to stations, or a mobile team to a unit, within the accreditation's
  territory.
* :func:`check_in` — the observer's arrival at or departure from the station of their post.
* :func:`submit_checklist` — the observer's answers to a checklist at a station, checked
  against its questions and QA rules (:mod:`secki.observers.checklist`).
* :func:`report_incident`, :func:`add_evidence`, :func:`move_incident` — incidents with photo
  evidence (checked and hashed like protocol scans) and their workflow: reported → verified /
  rejected (the coordinator) → escalated (the coordinator) / resolved (the coordinator, or the
  commission over the station's territory once escalated), each step with its note.

Refusals raise :class:`~secki.accounts.access.AccessDenied` or
:class:`~secki.errors.IntakeError` naming the field; nothing is stored in part.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki import rawsql
from secki.accounts import audit
from secki.accounts.access import AccessDenied
from secki.accounts.users import User, account_of
from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError
from secki.inputs import clean_text, quoted
from secki.observers import checklist, store, video
from secki.observers.actions import (
    _authenticated,
    _drop,
    _file_digest,
    _folder,
    _save,
    authorize_decision,
    covers,
    is_active,
    observer_accreditation,
    representative_of,
    today,
)
from secki.observers.models import (
    Accreditation,
    Assignment,
    CheckIn,
    CheckInKind,
    ChecklistForm,
    ChecklistSubmission,
    Incident,
    IncidentCategory,
    IncidentEvent,
    IncidentEvidence,
    IncidentStatus,
)
from secki.protocols.scans import Digest, megabytes, sniff, store_file

DESCRIPTION_MAX = 4000
NOTE_MAX = 1000
MAX_EVIDENCE = 5
#: how far ahead of the server's clock a phone's time may be
CLOCK_SKEW = dt.timedelta(minutes=10)

#: the incident workflow: status → the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    IncidentStatus.REPORTED: (IncidentStatus.VERIFIED, IncidentStatus.REJECTED),
    IncidentStatus.VERIFIED: (IncidentStatus.ESCALATED, IncidentStatus.RESOLVED),
    IncidentStatus.ESCALATED: (IncidentStatus.RESOLVED, IncidentStatus.REJECTED),
    IncidentStatus.REJECTED: (),
    IncidentStatus.RESOLVED: (),
}
#: statuses a note is required for
NOTE_REQUIRED = (IncidentStatus.REJECTED, IncidentStatus.ESCALATED, IncidentStatus.RESOLVED)


# -- checklists' definitions ----------------------------------------------------------------


def install_checklists(
    election: Election,
    *,
    actor: User | None,
    definitions: Sequence[Mapping[str, Any]] | None = None,
    request: HttpRequest | None = None,
) -> list[ChecklistForm]:
    """The election's checklists (the built-in ones by default): a form already there with the
    same code gets the new definition once nobody has answered it."""
    authorize_decision(actor, election, None)
    try:
        forms = (
            checklist.builtin()
            if definitions is None
            else [checklist.Checklist.from_dict(d) for d in definitions]
        )
    except checklist.DefinitionError as exc:
        raise IntakeError("invalid_definition", str(exc), field="definition") from None
    out: list[ChecklistForm] = []
    with transaction.atomic():
        for form in forms:
            row = ChecklistForm.objects.select_for_update().filter(
                election=election, code=form.code
            )
            existing = row.first()
            if existing is not None and existing.submissions.exists():
                if existing.definition == form.to_dict():
                    out.append(existing)
                    continue
                if _answered_alike(existing.definition, form.to_dict()):
                    # only the answers that matter (``alert_when``) change: what the dashboard
                    # counts, not what observers answered
                    existing.definition = form.to_dict()
                    existing.save(update_fields=["definition"])
                    out.append(existing)
                    continue
                raise IntakeError(
                    "checklist_answered",
                    gettext_noop(
                        "%(code)s: observers have answered this checklist; it cannot change"
                    ),
                    params={"code": form.code},
                    status=409,
                    field="definition",
                )
            saved, _created = ChecklistForm.objects.update_or_create(
                election=election,
                code=form.code,
                defaults={
                    "title": form.title,
                    "definition": form.to_dict(),
                    "position": form.position,
                },
            )
            out.append(saved)
        audit.record(
            actor,
            "observers.checklists",
            election=election,
            target=election.slug,
            after={"checklists": [f.code for f in out]},
            request=request,
        )
    return out


def _answered_alike(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether two definitions differ at most in their questions' ``alert_when``."""

    def plain(d: Mapping[str, Any]) -> dict[str, Any]:
        questions = [
            {k: v for k, v in q.items() if k != "alert_when"} for q in d.get("questions", [])
        ]
        return {**d, "questions": questions}

    return plain(before) == plain(after)


def definition(form: ChecklistForm) -> checklist.Checklist:
    return checklist.Checklist.from_dict(form.definition)


def checklist_form(election: Election, code: Any) -> ChecklistForm:
    text = str(code or "").strip()[:32]
    form = store.checklist_form(election.pk, text) if text else None
    if form is None:
        raise IntakeError(
            "unknown_checklist",
            gettext_noop("form: %(code)s is not a checklist of %(slug)s"),
            params={"code": quoted(text), "slug": election.slug},
            field="form",
        )
    return form


# -- deployment -----------------------------------------------------------------------------


def _coordinated(user: User | None, election: Election, number: Any) -> Accreditation:
    """The accreditation ``number`` of an organisation ``user`` represents, active today."""
    organisations = {o.pk for o in representative_of(user, election)}
    text = str(number or "").strip()[:32]
    accreditation = (
        Accreditation.objects.filter(election=election, number=text)
        .select_related("unit", "organisation")
        .first()
        if text
        else None
    )
    if accreditation is None:
        raise IntakeError(
            "unknown_accreditation",
            gettext_noop("accreditation: %(n)s is not an accreditation of %(slug)s"),
            params={"n": quoted(text), "slug": election.slug},
            field="accreditation",
        )
    if accreditation.organisation_id not in organisations:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("accreditation %(n)s belongs to another organisation"),
            params={"n": accreditation.number},
        )
    if not is_active(accreditation, today(election)):
        raise IntakeError(
            "inactive_accreditation",
            gettext_noop("accreditation: %(n)s is revoked or not valid today"),
            params={"n": accreditation.number},
            field="accreditation",
        )
    return accreditation


def post_of(
    election: Election, station: Any = "", unit: Any = ""
) -> tuple[Station | None, Unit | None]:
    """The station or the unit (a mobile team's) a post names: exactly one."""
    code = str(station or "").strip()[:64]
    unit_code = str(unit or "").strip()[:64]
    if bool(code) == bool(unit_code):
        raise IntakeError(
            "invalid_post",
            gettext_noop("station: name a station, or a unit for a mobile team (not both)"),
            field="station",
        )
    if code:
        found = Station.objects.filter(election=election, code=code).first()
        if found is None:
            raise IntakeError(
                "unknown_station",
                gettext_noop("station: %(code)s is not a polling station of %(slug)s"),
                params={"code": quoted(code), "slug": election.slug},
                field="station",
            )
        return found, None
    found_unit = Unit.objects.filter(election=election, code=unit_code).first()
    if found_unit is None:
        raise IntakeError(
            "unknown_unit",
            gettext_noop("unit: %(code)s is not a territory of %(slug)s"),
            params={"code": quoted(unit_code), "slug": election.slug},
            field="unit",
        )
    return None, found_unit


def _within(accreditation: Accreditation, station: Station | None, unit: Unit | None) -> bool:
    if station is not None:
        return covers(accreditation.unit, station)
    assert unit is not None
    return accreditation.unit is None or unit.path.startswith(accreditation.unit.path)


def assign(
    election: Election,
    *,
    actor: User | None,
    accreditation: Any,
    station: Any = "",
    unit: Any = "",
    request: HttpRequest | None = None,
) -> Assignment:
    """Post an observer (by accreditation number) to a station, or as a mobile team to a unit;
    the observer's current post, if any, ends."""
    held = _coordinated(actor, election, accreditation)
    post_station, post_unit = post_of(election, station, unit)
    if not _within(held, post_station, post_unit):
        raise AccessDenied(
            "forbidden_territory",
            gettext_noop("%(post)s is outside the territory of accreditation %(n)s"),
            params={
                "post": post_station.code if post_station else getattr(post_unit, "code", ""),
                "n": held.number,
            },
        )
    with transaction.atomic():
        locked = Accreditation.objects.select_for_update().get(pk=held.pk)
        now = timezone.now()
        before = Assignment.objects.filter(accreditation=locked, ended_at__isnull=True).first()
        if before is not None:
            before.ended_at = now
            before.save(update_fields=["ended_at"])
        row = Assignment.objects.create(
            election=election,
            accreditation=locked,
            station=post_station,
            unit=post_unit,
            assigned_at=now,
            assigned_by=account_of(actor),
        )
        audit.record(
            actor,
            "observers.assigned",
            election=election,
            target=locked.number,
            before=_post(before),
            after=_post(row),
            request=request,
        )
    return row


def _post(row: Assignment | None) -> dict[str, str] | None:
    if row is None:
        return None
    if row.station is not None:
        return {"station": row.station.code}
    return {"unit": row.unit.code if row.unit else ""}


def unassign(
    election: Election,
    *,
    actor: User | None,
    accreditation: Any,
    request: HttpRequest | None = None,
) -> Assignment:
    held = _coordinated(actor, election, accreditation)
    with transaction.atomic():
        current = (
            Assignment.objects.select_for_update()
            .filter(accreditation=held, ended_at__isnull=True)
            .first()
        )
        if current is None:
            raise IntakeError(
                "not_assigned",
                gettext_noop("accreditation: %(n)s has no post"),
                params={"n": held.number},
                status=409,
                field="accreditation",
            )
        current.ended_at = timezone.now()
        current.save(update_fields=["ended_at"])
        audit.record(
            actor,
            "observers.unassigned",
            election=election,
            target=held.number,
            before=_post(current),
            after=None,
            request=request,
        )
    return current


def current_post(accreditation: Accreditation) -> Assignment | None:
    return (
        Assignment.objects.filter(accreditation=accreditation, ended_at__isnull=True)
        .select_related("station", "unit")
        .first()
    )


# -- the observer's submissions -------------------------------------------------------------


def _moment(election: Election, field: str, raw: Any) -> dt.datetime:
    """An instant a phone sends: ISO 8601 (without an offset: the election's time zone); none:
    now. Not in the future (beyond the clock skew allowed)."""
    now = timezone.now()
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return now
    if isinstance(raw, dt.datetime):
        moment = raw
    else:
        try:
            moment = dt.datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(field)s: %(value)s is not a date and time (YYYY-MM-DDTHH:MM)"),
                params={"field": field, "value": quoted(raw)},
                field=field,
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=election.tz)
    if moment > now + CLOCK_SKEW:
        raise IntakeError(
            "in_future",
            gettext_noop("%(field)s: %(value)s is in the future"),
            params={"field": field, "value": moment},
            field=field,
        )
    return moment


def _station(election: Election, raw: Any) -> Station:
    code = str(raw or "").strip()[:64]
    station = (
        Station.objects.filter(election=election, code=code).select_related("unit").first()
        if code
        else None
    )
    if station is None:
        raise IntakeError(
            "unknown_station",
            gettext_noop("station: %(code)s is not a polling station of %(slug)s"),
            params={"code": quoted(code), "slug": election.slug},
            field="station",
        )
    return station


@dataclass(frozen=True)
class Arrival:
    """A check-in as stored."""

    id: int
    station: str
    kind: str
    at: dt.datetime
    accreditation: str


@dataclass(frozen=True)
class Answered:
    """A checklist's answers as stored."""

    id: int
    form: str
    station: str
    answers: dict[str, int | str]
    flags: list[str]
    submitted_at: dt.datetime


def _where(election: Election, actor: User | None, raw: Any) -> store.Where:
    """The station a submission names and the caller's accreditations (one statement)."""
    code = str(raw or "").strip()[:64]
    found = store.where(election.pk, getattr(actor, "pk", None), code) if code else None
    if found is None:
        raise IntakeError(
            "unknown_station",
            gettext_noop("station: %(code)s is not a polling station of %(slug)s"),
            params={"code": quoted(code), "slug": election.slug},
            field="station",
        )
    return found


def _covering(election: Election, found: store.Where) -> list[store.Held]:
    """The caller's active accreditations covering the station (as
    :func:`~secki.observers.actions.observer_accreditation` decides), or AccessDenied."""
    on = today(election)
    active = [h for h in found.held if not h.revoked and h.valid_from <= on <= h.valid_until]
    if not active:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop(
                "only observers with a valid accreditation in %(slug)s record protocol copies"
            ),
            params={"slug": election.slug},
        )
    covering = [h for h in active if h.unit_path is None or found.unit_path.startswith(h.unit_path)]
    if not covering:
        raise AccessDenied(
            "forbidden_territory",
            gettext_noop("station %(code)s is outside the territory of your accreditation"),
            params={"code": found.station_code},
        )
    return covering


def check_in(
    election: Election,
    *,
    actor: User | None,
    station: Any,
    kind: Any,
    at: Any = None,
    request: HttpRequest | None = None,
) -> Arrival:
    """The observer arrives at or leaves ``station``: the station of their post, or one in their
    mobile team's unit."""
    _authenticated(actor)
    found = _where(election, actor, station)
    if kind not in CheckInKind.values:
        raise IntakeError("invalid_value", gettext_noop("kind: arrival or departure"), field="kind")
    moment = _moment(election, "at", at)
    posted = next(
        (
            h
            for h in _covering(election, found)
            if h.post_station_id == found.station_id
            or (h.post_unit_path is not None and found.unit_path.startswith(h.post_unit_path))
        ),
        None,
    )
    if posted is None:
        raise AccessDenied(
            "not_assigned",
            gettext_noop("station %(code)s is not your post: your coordinator assigns it"),
            params={"code": found.station_code},
        )
    record = audit.draft(
        actor,
        f"observers.{kind}",
        election=election,
        target=found.station_code,
        after={"accreditation": posted.number, "at": moment.isoformat()},
        request=request,
    )
    with transaction.atomic(savepoint=False):  # nothing refused below: may share a batch
        row = rawsql.insert(
            CheckIn,
            also=[record],
            election_id=election.pk,
            accreditation_id=posted.id,
            station_id=found.station_id,
            kind=kind,
            at=moment,
            received_at=timezone.now(),
        )
    return Arrival(row.pk, found.station_code, str(kind), moment, posted.number)


_DEFINITIONS: dict[tuple[int, str], checklist.Checklist] = {}


def _definition(form: ChecklistForm) -> checklist.Checklist:
    """The form's checklist, compiled once per process for each version of its definition."""
    key = (form.pk, json.dumps(form.definition, sort_keys=True))
    found = _DEFINITIONS.get(key)
    if found is None:
        if len(_DEFINITIONS) > 64:
            _DEFINITIONS.clear()
        found = _DEFINITIONS[key] = definition(form)
    return found


def submit_checklist(
    election: Election,
    *,
    actor: User | None,
    station: Any,
    form: Any,
    answers: Any,
    at: Any = None,
    request: HttpRequest | None = None,
) -> Answered:
    """An observer's answers to a checklist at a station within their accreditation."""
    _authenticated(actor)
    found = _where(election, actor, station)
    chosen = checklist_form(election, form)
    if not isinstance(answers, Mapping):
        raise IntakeError(
            "invalid_value", gettext_noop("answers: an object of question codes"), field="answers"
        )
    held = _covering(election, found)[0]
    values, flags = _definition(chosen).check(answers)
    moment = _moment(election, "at", at)
    record = audit.draft(
        actor,
        "observers.checklist",
        election=election,
        target=found.station_code,
        after={"form": chosen.code, "accreditation": held.number, "flags": flags},
        request=request,
    )
    with transaction.atomic(savepoint=False):  # nothing refused below: may share a batch
        row = rawsql.insert(
            ChecklistSubmission,
            also=[record],
            election_id=election.pk,
            form_id=chosen.pk,
            station_id=found.station_id,
            accreditation_id=held.id,
            answers=values,
            flags=flags,
            submitted_at=moment,
        )
    return Answered(row.pk, chosen.code, found.station_code, values, flags, moment)


def _category(raw: Any) -> str:
    if raw not in IncidentCategory.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("category: one of %(values)s"),
            params={"values": ", ".join(IncidentCategory.values)},
            field="category",
        )
    return str(raw)


def _digests(files: Sequence[UploadedFile]) -> list[Digest]:
    if len(files) > MAX_EVIDENCE:
        raise IntakeError(
            "too_many_files",
            gettext_noop("evidence: at most %(n)s files"),
            params={"n": MAX_EVIDENCE},
            field="evidence",
        )
    return [_evidence_digest(f) for f in files]


def video_max_bytes() -> int:
    return int(getattr(settings, "SECKI_INCIDENT_VIDEO_MAX_BYTES", 100 * 1024 * 1024))


def _evidence_digest(upload: UploadedFile) -> Digest:
    """A photo or PDF checked like a protocol scan, or a video (MP4, QuickTime, WebM: its
    type by its first bytes, its container's structure checked, at most
    ``SECKI_INCIDENT_VIDEO_MAX_BYTES``), hashed; errors name the field ``evidence``."""
    name = (upload.name or "")[:80]
    upload.seek(0)
    head = upload.read(video.HEAD)
    upload.seek(0)
    kind = video.sniff(head)
    if kind is None:
        if head and sniff(head) is None:
            raise IntakeError(
                "unsupported_type",
                gettext_noop(
                    "evidence: %(name)s is not a photo (PNG, JPEG), a PDF or a video (MP4, "
                    "QuickTime, WebM), judged by its content, not its name"
                ),
                params={"name": name},
                status=415,
                field="evidence",
            )
        return _file_digest(upload, "evidence")
    limit = video_max_bytes()
    sha = hashlib.sha256()
    size = 0
    for chunk in upload.chunks(1 << 16):
        sha.update(chunk)
        size += len(chunk)
        if size > limit:
            break
    if size > limit or (upload.size or 0) > limit:
        raise IntakeError(
            "file_too_large",
            gettext_noop(
                "evidence: %(name)s: %(size)s is more than the %(limit)s a video may have"
            ),
            params={
                "name": name,
                "size": megabytes(max(size, upload.size or 0)),
                "limit": megabytes(limit),
            },
            status=413,
            field="evidence",
        )
    try:
        video.check(upload, size, kind)
    except video.VideoError as exc:
        raise IntakeError(
            "invalid_video",
            gettext_noop("evidence: %(name)s is not a well-formed %(kind)s video: %(detail)s"),
            params={"name": name, "kind": video.EXTENSIONS[kind].upper(), "detail": str(exc)},
            field="evidence",
        ) from None
    finally:
        upload.seek(0)
    return Digest(sha.hexdigest(), size, kind)


def _store_evidence(
    incident: Incident, files: Sequence[UploadedFile], digests: list[Digest], created: list[str]
) -> list[str]:
    folder = _folder(incident.election, "incidents")
    now = timezone.now()
    for upload, digest in zip(files, digests, strict=True):
        if digest.content_type in video.EXTENSIONS:
            name = f"{folder}/{digest.sha256}.{video.EXTENSIONS[digest.content_type]}"
            stored, new = store_file(name, upload, digest)
            if new:
                created.append(stored)
        else:
            stored = _save(folder, upload, digest, created)
        IncidentEvidence.objects.create(
            incident=incident,
            file=stored,
            sha256=digest.sha256,
            size=digest.size,
            content_type=digest.content_type,
            uploaded_at=now,
        )
    return [d.sha256 for d in digests]


def report_incident(
    election: Election,
    *,
    actor: User | None,
    station: Any,
    category: Any,
    occurred_at: Any,
    description: Any,
    evidence: Sequence[UploadedFile] = (),
    request: HttpRequest | None = None,
) -> Incident:
    """An observer reports an incident at a station within their accreditation."""
    _authenticated(actor)
    where = _station(election, station)
    category_ = _category(category)
    if occurred_at is None or (isinstance(occurred_at, str) and not occurred_at.strip()):
        raise IntakeError(
            "missing_value", gettext_noop("occurred_at: when did it happen?"), field="occurred_at"
        )
    moment = _moment(election, "occurred_at", occurred_at)
    text = clean_text(
        "description", description if isinstance(description, str) else None, DESCRIPTION_MAX
    )
    if not text:
        raise IntakeError(
            "missing_value", gettext_noop("description: say what happened"), field="description"
        )
    held = observer_accreditation(actor, election, where)
    digests = _digests(evidence)
    created: list[str] = []
    try:
        with transaction.atomic():
            now = timezone.now()
            incident = Incident.objects.create(
                election=election,
                organisation=held.organisation,
                accreditation=held,
                station=where,
                category=category_,
                occurred_at=moment,
                description=text,
                reported_at=now,
            )
            hashes = _store_evidence(incident, evidence, digests, created)
            IncidentEvent.objects.create(
                incident=incident,
                after=IncidentStatus.REPORTED,
                note="",
                actor=account_of(actor),
                at=now,
            )
            audit.record(
                actor,
                "observers.incident",
                election=election,
                target=f"incident {incident.pk}",
                after={
                    "station": where.code,
                    "category": category_,
                    "accreditation": held.number,
                    "evidence": hashes,
                },
                request=request,
            )
    except BaseException:
        _drop(created)
        raise
    return incident


def add_evidence(
    incident: Incident,
    files: Sequence[UploadedFile],
    *,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Incident:
    """The reporting observer adds photos to their incident while it is open."""
    _authenticated(actor)
    if incident.accreditation.account_id != getattr(actor, "pk", None):
        raise AccessDenied(
            "forbidden_role", gettext_noop("only the observer who reported it adds evidence")
        )
    if not files:
        raise IntakeError(
            "missing_file",
            gettext_noop("evidence: attach a photo (PNG, JPEG), a PDF or a video (MP4, WebM)"),
            field="evidence",
        )
    if incident.evidence.count() + len(files) > MAX_EVIDENCE:
        raise IntakeError(
            "too_many_files",
            gettext_noop("evidence: at most %(n)s files"),
            params={"n": MAX_EVIDENCE},
            field="evidence",
        )
    digests = _digests(files)
    created: list[str] = []
    try:
        with transaction.atomic():
            locked = Incident.objects.select_for_update().get(pk=incident.pk)
            if locked.status in (IncidentStatus.REJECTED, IncidentStatus.RESOLVED):
                raise IntakeError(
                    "incident_closed",
                    gettext_noop("incident %(id)s is closed (%(status)s)"),
                    params={"id": locked.pk, "status": locked.get_status_display()},
                    status=409,
                )
            hashes = _store_evidence(locked, files, digests, created)
            audit.record(
                actor,
                "observers.evidence",
                election=locked.election,
                target=f"incident {locked.pk}",
                after={"evidence": hashes},
                request=request,
            )
    except BaseException:
        _drop(created)
        raise
    return locked


def authorize_incident(user: User | None, incident: Incident, status: str) -> None:
    """Who may move ``incident`` to ``status``: the organisation's coordinator, except out of
    ``escalated``, which is the commission's over the station's territory."""
    _authenticated(user)
    if incident.status == IncidentStatus.ESCALATED:
        authorize_decision(user, incident.election, incident.station.unit)
        return
    if incident.organisation.representative_id != getattr(user, "pk", None):
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("only the coordinator of %(name)s decides on its observers' incidents"),
            params={"name": incident.organisation.name},
        )


def move_incident(
    incident: Incident,
    status: Any,
    *,
    actor: User | None,
    note: Any = "",
    request: HttpRequest | None = None,
) -> Incident:
    """One step of the workflow with its note (required to reject, escalate or resolve)."""
    if status not in IncidentStatus.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("status: one of %(values)s"),
            params={"values": ", ".join(IncidentStatus.values)},
            field="status",
        )
    text = clean_text("note", note if isinstance(note, str) else None, NOTE_MAX)
    with transaction.atomic():
        locked = (
            Incident.objects.select_for_update()
            .select_related("organisation", "station__unit", "election")
            .get(pk=incident.pk)
        )
        authorize_incident(actor, locked, str(status))
        if status not in TRANSITIONS[locked.status]:
            raise IntakeError(
                "invalid_transition",
                gettext_noop("status: incident %(id)s is %(now)s; it can become %(allowed)s"),
                params={
                    "id": locked.pk,
                    "now": locked.status,
                    "allowed": ", ".join(TRANSITIONS[locked.status]) or "—",
                },
                status=409,
                field="status",
            )
        if status in NOTE_REQUIRED and not text:
            raise IntakeError("missing_value", gettext_noop("note: say why"), field="note")
        before = locked.status
        locked.status = str(status)
        locked.save(update_fields=["status"])
        IncidentEvent.objects.create(
            incident=locked,
            before=before,
            after=locked.status,
            note=text,
            actor=account_of(actor),
            at=timezone.now(),
        )
        audit.record(
            actor,
            f"observers.incident_{status}",
            election=locked.election,
            target=f"incident {locked.pk}",
            before={"status": before},
            after={"status": locked.status, "note": text},
            request=request,
        )
    return locked
