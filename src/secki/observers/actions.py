"""Every observers' write: check the caller's role and territory, validate, write in one
transaction, append an audit record and a public fact (a generic entry of the election's log).

* :func:`apply` — an organisation's representative (any account without an official role in
  the election) applies for accreditation, with documents (PDF, PNG, JPEG; checked and hashed
  like protocol scans).
* :func:`accept`, :func:`reject`, :func:`ask_more` — the commission decides
  (``MANAGE_ELECTION`` over the requested territory); accepting issues one accreditation per
  observer, numbered ``OBS-000001`` … per election.
* :func:`revoke` — an accreditation is revoked with a reason (once).
* :func:`set_publish_names` — whether the badge check page names the observer.
* :func:`submit_copy` and :func:`upload_copies` — the numbers of an observer's protocol copy
  (phone form) or of an organisation's copies (CSV, all or nothing).
* :func:`edit_webcam` and :func:`register_webcams` — the webcam registry (``MANAGE_ELECTION``
  over the station; the register's filmed stations with a stream address); the health check's
  own records are :mod:`secki.observers.health`'s.

Refusals raise :class:`~secki.accounts.access.AccessDenied` (role, territory) or
:class:`~secki.errors.IntakeError` naming the field; nothing is stored in part.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from secki.accounts import audit
from secki.accounts.access import GRANTS, AccessDenied, Permission, memberships
from secki.accounts.models import Role
from secki.accounts.users import User, account_of
from secki.bundle.read import EXTRA_COLUMNS, MAX_URL, BoundedCsv, CsvProblem, is_web_address
from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError, Text
from secki.inputs import clean_text, count_in_range, quoted
from secki.ledger import chain, drafts
from secki.observers.models import (
    OPEN_STATUSES,
    Accreditation,
    Application,
    ApplicationStatus,
    CopySource,
    Document,
    ObserverSettings,
    Organisation,
    OrganisationKind,
    ProtocolCopy,
    Webcam,
)
from secki.protocol_schema.schema import MAX_COUNT, candidate_code
from secki.protocols.data import ProtocolData
from secki.protocols.models import SCAN_EXTENSIONS, ScanType
from secki.protocols.scans import Digest, digest_upload, store_file

#: the subject of every observers' entry in the election's log
SUBJECT = "observers"
MAX_DOCUMENTS = 10
MAX_OBSERVERS = 100_000
#: the longest validity of an accreditation
MAX_VALIDITY_DAYS = 366
_DIGITS = re.compile(r"[0-9]+")


# -- access ---------------------------------------------------------------------------------


def _authenticated(user: User | None) -> None:
    if user is None or not user.is_authenticated:
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))


def authorize_decision(user: User | None, election: Election, unit: Unit | None) -> None:
    """``MANAGE_ELECTION`` over ``unit``'s subtree (None: the whole election). ``user`` None
    is the command line (the machine's operator)."""
    if user is None:
        return
    _authenticated(user)
    if user.is_superuser:
        return
    granting = [
        m for m in memberships(user, election) if Permission.MANAGE_ELECTION in GRANTS[Role(m.role)]
    ]
    if not granting:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop(
                "your role in %(slug)s does not allow deciding on observers' accreditation"
            ),
            params={"slug": election.slug},
        )
    for m in granting:
        if m.station_id is not None:
            continue
        if m.unit is None or (unit is not None and unit.path.startswith(m.unit.path)):
            return
    raise AccessDenied(
        "forbidden_territory",
        gettext_noop("the territory %(unit)s is outside yours"),
        params={
            "unit": unit.code if unit is not None else Text(gettext_noop("the whole election"))
        },
    )


def authorize_applicant(user: User | None, election: Election) -> None:
    """Anybody with an account may apply for an organisation, except the election's officials
    (a commission member cannot accredit observers of their own)."""
    _authenticated(user)
    official = [m for m in memberships(user, election) if m.role != Role.OBSERVER]
    if official or (user is not None and user.is_superuser):
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("officials of %(slug)s cannot apply for observers' accreditation"),
            params={"slug": election.slug},
        )


def is_active(accreditation: Accreditation, on: dt.date) -> bool:
    return (
        accreditation.revoked_at is None
        and accreditation.valid_from <= on <= accreditation.valid_until
    )


def today(election: Election) -> dt.date:
    return timezone.now().astimezone(election.tz).date()


def covers(unit: Unit | None, station: Station) -> bool:
    return unit is None or station.unit_path.startswith(unit.path)


# -- helpers --------------------------------------------------------------------------------


def _fact(election: Election, kind: str, fields: Mapping[str, object]) -> None:
    chain.append(election, drafts.Generic(election.slug, timezone.now(), kind, SUBJECT, fields))


def _text(field: str, raw: Any, limit: int, *, required: bool = True) -> str:
    text = clean_text(field, raw if raw is None or isinstance(raw, str) else str(raw), limit)
    if required and not text:
        raise IntakeError(
            "missing_value",
            gettext_noop("%(field)s: required"),
            params={"field": field},
            field=field,
        )
    return text


def _whole(field: str, raw: Any, *, low: int, high: int) -> int:
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise IntakeError(
            "missing_value",
            gettext_noop("%(field)s: a number is required"),
            params={"field": field},
            field=field,
        )
    if not _DIGITS.fullmatch(text) or len(text) > 9:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: %(value)s is not a whole number"),
            params={"field": field, "value": quoted(raw)},
            field=field,
        )
    value = int(text)
    if not low <= value <= high:
        raise IntakeError(
            "out_of_range",
            gettext_noop("%(field)s: %(value)s is not between %(low)s and %(high)s"),
            params={"field": field, "value": value, "low": low, "high": high},
            field=field,
        )
    return value


def _date(field: str, raw: Any) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    text = str(raw or "").strip()
    if not text:
        raise IntakeError(
            "missing_value",
            gettext_noop("%(field)s: a date is required"),
            params={"field": field},
            field=field,
        )
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: %(value)s is not a date (YYYY-MM-DD)"),
            params={"field": field, "value": quoted(raw)},
            field=field,
        ) from None


def _unit(election: Election, raw: Any) -> Unit | None:
    code = str(raw or "").strip()
    if not code:
        return None
    unit = Unit.objects.filter(election=election, code=code[:64]).first()
    if unit is None:
        raise IntakeError(
            "unknown_unit",
            gettext_noop("unit: %(code)s is not a territory of %(slug)s"),
            params={"code": quoted(code), "slug": election.slug},
            field="unit",
        )
    return unit


def _names(raw: Any) -> list[str]:
    """Observers' names from a list or one name per line; each as ``Name`` or
    ``Name; username`` (the observer's log-in for the phone forms)."""
    if isinstance(raw, str):
        items = raw.splitlines()
    elif isinstance(raw, list | tuple):
        items = [str(x) for x in raw]
    else:
        raise IntakeError("invalid_value", gettext_noop("names: one name per line"), field="names")
    out = []
    for item in items:
        text = clean_text("names", item, 300)
        if text:
            out.append(text)
    return out


def _stored_name(folder: str, digest: Digest) -> str:
    extension = SCAN_EXTENSIONS[ScanType(digest.content_type)]
    return f"{folder}/{digest.sha256}.{extension}"


def _file_digest(upload: UploadedFile, field: str) -> Digest:
    """A document or photo checked like a protocol scan (type by content, whole file checked,
    size limit), its error naming ``field``."""
    try:
        return digest_upload(upload)
    except IntakeError as exc:
        message = exc.message.removeprefix("file: ")
        name = upload.name or ""
        raise IntakeError(
            exc.code, f"{field}: {name[:80]}: {message}", status=exc.status, field=field
        ) from None


def _save(folder: str, upload: UploadedFile, digest: Digest, created: list[str]) -> str:
    """Store an upload by its hash like a protocol scan (kept if the same bytes are there);
    a name this call created goes into ``created``, for removal if the transaction fails."""
    stored, new = store_file(_stored_name(folder, digest), upload, digest)
    if new:
        created.append(stored)
    return stored


def _drop(created: list[str]) -> None:
    for name in created:
        default_storage.delete(name)


def _folder(election: Election, kind: str) -> str:
    try:
        slug = get_valid_filename(election.slug)
    except SuspiciousFileOperation:
        slug = f"election-{election.pk}"
    return f"observers/{slug}/{kind}"


# -- applications ---------------------------------------------------------------------------


def apply(
    election: Election,
    *,
    actor: User | None,
    name: Any,
    kind: Any,
    contact: Any,
    unit: Any = "",
    observers: Any = None,
    names: Any = "",
    documents: Sequence[UploadedFile] = (),
    request: HttpRequest | None = None,
) -> Application:
    """An organisation applies (again, if it applied before: same name, same representative)."""
    authorize_applicant(actor, election)
    name_ = _text("name", name, 200)
    if kind not in OrganisationKind.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("kind: choose domestic or international"),
            field="kind",
        )
    contact_ = _text("contact", contact, 300)
    unit_ = _unit(election, unit)
    count = _whole("observers", observers, low=1, high=MAX_OBSERVERS)
    names_ = _names(names)
    if len(names_) > count:
        raise IntakeError(
            "too_many_names",
            gettext_noop("names: %(given)s names for %(count)s observers requested"),
            params={"given": len(names_), "count": count},
            field="names",
        )
    if not documents:
        raise IntakeError(
            "missing_file",
            gettext_noop("documents: attach at least one document (PDF, PNG or JPEG)"),
            status=400,
            field="documents",
        )
    if len(documents) > MAX_DOCUMENTS:
        raise IntakeError(
            "too_many_files",
            gettext_noop("documents: at most %(n)s files"),
            params={"n": MAX_DOCUMENTS},
            field="documents",
        )
    digests = [_file_digest(d, "documents") for d in documents]
    representative = account_of(actor)
    if representative is None:
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))
    created: list[str] = []
    try:
        with transaction.atomic():
            organisation = Organisation.objects.filter(election=election, name=name_).first()
            if organisation is None:
                organisation = Organisation.objects.create(
                    election=election,
                    name=name_,
                    kind=kind,
                    contact=contact_,
                    representative=representative,
                )
            elif organisation.representative_id != getattr(actor, "pk", None):
                raise IntakeError(
                    "organisation_exists",
                    gettext_noop("name: %(name)s already applied through another account"),
                    params={"name": name_},
                    status=409,
                    field="name",
                )
            else:
                organisation.kind, organisation.contact = kind, contact_
                organisation.save(update_fields=["kind", "contact"])
            now = timezone.now()
            application = Application.objects.create(
                election=election,
                organisation=organisation,
                unit=unit_,
                observers=count,
                names=names_,
                submitted_at=now,
            )
            folder = _folder(election, "documents")
            for upload, digest in zip(documents, digests, strict=True):
                stored = _save(folder, upload, digest, created)
                Document.objects.create(
                    application=application,
                    file=stored,
                    sha256=digest.sha256,
                    size=digest.size,
                    content_type=digest.content_type,
                    original_name=(upload.name or "")[-255:],
                    uploaded_at=now,
                )
            audit.record(
                actor,
                "observers.applied",
                election=election,
                target=f"application {application.pk}",
                after={
                    "organisation": name_,
                    "kind": kind,
                    "unit": unit_.code if unit_ else None,
                    "observers": count,
                    "documents": [d.sha256 for d in digests],
                },
                request=request,
            )
            _fact(
                election,
                "observers.applied",
                {
                    "application": application.pk,
                    "organisation": name_,
                    "organisation_kind": kind,
                    "unit": unit_.code if unit_ else None,
                    "observers": count,
                    "documents": [d.sha256 for d in digests],
                },
            )
    except BaseException:
        _drop(created)
        raise
    return application


def add_documents(
    application: Application,
    documents: Sequence[UploadedFile],
    *,
    actor: User | None,
    note: Any = "",
    request: HttpRequest | None = None,
) -> Application:
    """The organisation answers a request for more: documents (and a note) added to its
    application, which goes back to the commission (``submitted``)."""
    election = application.election
    _authenticated(actor)
    if application.organisation.representative_id != getattr(actor, "pk", None):
        raise AccessDenied(
            "forbidden_role", gettext_noop("only the organisation's representative adds documents")
        )
    note_ = _text("note", note, 500, required=False)
    if not documents:
        raise IntakeError(
            "missing_file",
            gettext_noop("documents: attach at least one document (PDF, PNG or JPEG)"),
            status=400,
            field="documents",
        )
    if len(documents) + application.documents.count() > MAX_DOCUMENTS:
        raise IntakeError(
            "too_many_files",
            gettext_noop("documents: at most %(n)s files"),
            params={"n": MAX_DOCUMENTS},
            field="documents",
        )
    digests = [_file_digest(d, "documents") for d in documents]
    created: list[str] = []
    try:
        with transaction.atomic():
            locked = Application.objects.select_for_update().get(pk=application.pk)
            if locked.status != ApplicationStatus.MORE_INFO:
                raise IntakeError(
                    "not_requested",
                    gettext_noop(
                        "application %(id)s is %(status)s: documents are added when the "
                        "commission asks for more"
                    ),
                    params={"id": locked.pk, "status": locked.get_status_display()},
                    status=409,
                )
            now = timezone.now()
            folder = _folder(election, "documents")
            for upload, digest in zip(documents, digests, strict=True):
                Document.objects.create(
                    application=locked,
                    file=_save(folder, upload, digest, created),
                    sha256=digest.sha256,
                    size=digest.size,
                    content_type=digest.content_type,
                    original_name=(upload.name or "")[-255:],
                    uploaded_at=now,
                )
            locked.status = ApplicationStatus.SUBMITTED
            locked.reason = note_
            locked.save(update_fields=["status", "reason"])
            audit.record(
                actor,
                "observers.documents_added",
                election=election,
                target=f"application {locked.pk}",
                before={"status": ApplicationStatus.MORE_INFO},
                after={
                    "status": ApplicationStatus.SUBMITTED,
                    "documents": [d.sha256 for d in digests],
                    "note": note_,
                },
                request=request,
            )
            _fact(
                election,
                "observers.documents_added",
                {"application": locked.pk, "documents": [d.sha256 for d in digests]},
            )
    except BaseException:
        _drop(created)
        raise
    return locked


def _open(application: Application) -> Application:
    locked = Application.objects.select_for_update().get(pk=application.pk)
    if locked.status not in OPEN_STATUSES:
        raise IntakeError(
            "already_decided",
            gettext_noop("application %(id)s was already decided: %(status)s"),
            params={"id": locked.pk, "status": locked.get_status_display()},
            status=409,
        )
    return locked


def _settle(
    locked: Application,
    status: str,
    reason: str,
    actor: User | None,
    at: dt.datetime | None = None,
) -> str:
    """Write the decision on the locked application; returns the status it had."""
    before = locked.status
    locked.status = status
    locked.reason = reason
    locked.decided_at = at or timezone.now()
    locked.decided_by = account_of(actor)
    locked.save(update_fields=["status", "reason", "decided_at", "decided_by"])
    return before


def _decided(
    locked: Application,
    action: str,
    *,
    actor: User | None,
    before: str,
    after: dict[str, Any],
    fact: str,
    fields: dict[str, Any],
    request: HttpRequest | None,
) -> None:
    """A decision's audit record and its public fact (which names the application and the
    organisation)."""
    audit.record(
        actor,
        action,
        election=locked.election,
        target=f"application {locked.pk}",
        before={"status": before},
        after={"status": locked.status, **after},
        request=request,
    )
    _fact(
        locked.election,
        fact,
        {"application": locked.pk, "organisation": locked.organisation.name, **fields},
    )


def _decide(
    application: Application,
    status: str,
    reason: Any,
    *,
    actor: User | None,
    request: HttpRequest | None,
    required: bool,
) -> Application:
    election = application.election
    authorize_decision(actor, election, application.unit)
    reason_ = _text("reason", reason, 500, required=required)
    with transaction.atomic():
        locked = _open(application)
        before = _settle(locked, status, reason_, actor)
        _decided(
            locked,
            f"observers.{status}",
            actor=actor,
            before=before,
            after={"reason": reason_},
            fact="observers.decision",
            fields={"decision": status, "reason": reason_},
            request=request,
        )
    return locked


def reject(
    application: Application,
    reason: Any,
    *,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Application:
    return _decide(
        application, ApplicationStatus.REJECTED, reason, actor=actor, request=request, required=True
    )


def ask_more(
    application: Application,
    reason: Any,
    *,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Application:
    """Ask the organisation for more: the application stays open."""
    return _decide(
        application,
        ApplicationStatus.MORE_INFO,
        reason,
        actor=actor,
        request=request,
        required=True,
    )


@dataclass(frozen=True)
class Observer:
    name: str
    username: str


def _observers(raw: Any) -> list[Observer]:
    users = get_user_model().objects
    out = []
    for item in _names(raw):
        name, _sep, username = item.partition(";")
        name, username = name.strip(), username.strip()
        if not name:
            raise IntakeError(
                "missing_value",
                gettext_noop("names: a line without a name: %(line)s"),
                params={"line": item},
                field="names",
            )
        if username and not users.filter(username=username).exists():
            raise IntakeError(
                "unknown_user",
                gettext_noop("names: there is no account %(user)s"),
                params={"user": quoted(username)},
                field="names",
            )
        out.append(Observer(name[:200], username))
    return out


def accept(
    application: Application,
    *,
    actor: User | None,
    valid_from: Any,
    valid_until: Any,
    names: Any = None,
    reason: Any = "",
    request: HttpRequest | None = None,
) -> list[Accreditation]:
    """Accept: one accreditation per observer named (``Name`` or ``Name; username``; by
    default the names applied with), in the territory applied for, valid between the dates."""
    election = application.election
    authorize_decision(actor, election, application.unit)
    start = _date("valid_from", valid_from)
    end = _date("valid_until", valid_until)
    if end < start:
        raise IntakeError(
            "invalid_value",
            gettext_noop("valid_until: %(end)s is before %(start)s"),
            params={"end": end, "start": start},
            field="valid_until",
        )
    if (end - start).days > MAX_VALIDITY_DAYS:
        raise IntakeError(
            "invalid_value",
            gettext_noop("valid_until: an accreditation is valid at most %(days)s days"),
            params={"days": MAX_VALIDITY_DAYS},
            field="valid_until",
        )
    observers = _observers(application.names if names is None else names)
    if not observers:
        raise IntakeError(
            "missing_value", gettext_noop("names: name at least one observer"), field="names"
        )
    if len(observers) > application.observers:
        raise IntakeError(
            "too_many_names",
            gettext_noop("names: %(given)s observers, but %(count)s were requested"),
            params={"given": len(observers), "count": application.observers},
            field="names",
        )
    reason_ = _text("reason", reason, 500, required=False)
    users = get_user_model().objects
    issued: list[Accreditation] = []
    with transaction.atomic():
        Election.objects.select_for_update().filter(pk=election.pk).first()
        locked = _open(application)
        now = timezone.now()
        taken = Accreditation.objects.filter(election=election).count()
        for i, observer in enumerate(observers, start=taken + 1):
            account = users.get(username=observer.username) if observer.username else None
            issued.append(
                Accreditation.objects.create(
                    election=election,
                    organisation=locked.organisation,
                    application=locked,
                    number=f"OBS-{i:06d}",
                    name=observer.name,
                    account=account,
                    unit=locked.unit,
                    valid_from=start,
                    valid_until=end,
                    issued_at=now,
                )
            )
        before = _settle(locked, ApplicationStatus.ACCEPTED, reason_, actor, now)
        issue = {
            "accreditations": [a.number for a in issued],
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat(),
        }
        _decided(
            locked,
            "observers.accepted",
            actor=actor,
            before=before,
            after=issue,
            fact="observers.accredited",
            fields={"unit": locked.unit.code if locked.unit else None, **issue},
            request=request,
        )
    return issued


def revoke(
    accreditation: Accreditation,
    reason: Any,
    *,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Accreditation:
    election = accreditation.election
    authorize_decision(actor, election, accreditation.unit)
    reason_ = _text("reason", reason, 500)
    with transaction.atomic():
        locked = Accreditation.objects.select_for_update().get(pk=accreditation.pk)
        if locked.revoked_at is not None:
            raise IntakeError(
                "already_revoked",
                gettext_noop("accreditation %(number)s was already revoked"),
                params={"number": locked.number},
                status=409,
            )
        locked.revoked_at = timezone.now()
        locked.revoked_reason = reason_
        locked.save(update_fields=["revoked_at", "revoked_reason"])
        audit.record(
            actor,
            "observers.revoked",
            election=election,
            target=locked.number,
            before={"revoked": False},
            after={"revoked": True, "reason": reason_},
            request=request,
        )
        _fact(
            election,
            "observers.revoked",
            {"accreditation": locked.number, "reason": reason_},
        )
    return locked


def set_publish_names(
    election: Election,
    publish: bool,
    *,
    actor: User | None,
    request: HttpRequest | None = None,
) -> ObserverSettings:
    authorize_decision(actor, election, None)
    if not isinstance(publish, bool):
        raise IntakeError(
            "invalid_value",
            gettext_noop("publish_names: must be true or false"),
            field="publish_names",
        )
    with transaction.atomic():
        row, _created = ObserverSettings.objects.select_for_update().get_or_create(
            election=election
        )
        if row.publish_names != publish:
            audit.record(
                actor,
                "observers.settings",
                election=election,
                target=election.slug,
                before={"publish_names": row.publish_names},
                after={"publish_names": publish},
                request=request,
            )
            row.publish_names = publish
            row.save(update_fields=["publish_names"])
            _fact(election, "observers.settings", {"publish_names": publish})
    return row


def publishes_names(election: Election) -> bool:
    return ObserverSettings.objects.filter(election=election, publish_names=True).exists()


# -- protocol copies ------------------------------------------------------------------------


def copy_lines(election: Election) -> list[tuple[str, bool]]:
    """(code, required) of every number a copy holds: the count lines, then C1 … Cn."""
    schema = election.protocol_schema()
    out = [(ln.code, ln.required) for ln in schema.lines if ln.kind != "datetime"]
    out += [(candidate_code(i), True) for i in range(1, election.candidate_count() + 1)]
    return out


def _count(code: str, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return count_in_range(code, raw)
    text = str(raw).strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(line)s: %(value)s is not a whole number"),
            params={"line": code, "value": quoted(raw)},
            field=code,
        )
    if text.startswith("-"):
        raise IntakeError(
            "negative_value",
            gettext_noop("%(line)s: %(value)s is negative; counts are >= 0"),
            params={"line": code, "value": quoted(raw)},
            field=code,
        )
    if len(digits.lstrip("0")) > len(str(MAX_COUNT)):
        return count_in_range(code, MAX_COUNT, shown=quoted(raw))
    return count_in_range(code, int(digits))


def parse_copy(
    station: Station, lines: list[tuple[str, bool]], raw: Mapping[str, Any]
) -> dict[str, int]:
    """A copy's numbers, each line checked (an integer within the station's bounds), every
    required line present; errors name the line."""
    known = {code for code, _required in lines}
    for code in raw:
        if code not in known:
            raise IntakeError(
                "unknown_line",
                gettext_noop("%(line)s is not a line of this election's protocol"),
                params={"line": quoted(code)},
                field=str(code)[:40],
            )
    values: dict[str, int] = {}
    for code, required in lines:
        value = raw.get(code)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise IntakeError(
                    "missing_line",
                    gettext_noop("%(line)s is required"),
                    params={"line": code},
                    field=code,
                )
            continue
        values[code] = _count(code, value)
    counts = {c: v for c, v in values.items() if not c.startswith("C")}
    candidates = tuple(v for c, v in values.items() if c.startswith("C"))
    ProtocolData(counts, {}, candidates).check_bounds(station.code, station.registered)
    return values


def observer_accreditation(
    user: User | None, election: Election, station: Station
) -> Accreditation:
    """The caller's active accreditation covering ``station``, or AccessDenied."""
    _authenticated(user)
    on = today(election)
    held = list(
        Accreditation.objects.filter(
            election=election, account_id=getattr(user, "pk", None)
        ).select_related("unit", "organisation")
    )
    active = [a for a in held if is_active(a, on)]
    if not active:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop(
                "only observers with a valid accreditation in %(slug)s record protocol copies"
            ),
            params={"slug": election.slug},
        )
    for a in active:
        if covers(a.unit, station):
            return a
    raise AccessDenied(
        "forbidden_territory",
        gettext_noop("station %(code)s is outside the territory of your accreditation"),
        params={"code": station.code},
    )


def _copy_fact(copy: ProtocolCopy, organisation: Organisation) -> drafts.Draft:
    return drafts.Generic(
        copy.election.slug,
        copy.submitted_at,
        "observers.copy",
        SUBJECT,
        {
            "station": copy.station.code,
            "organisation": organisation.name,
            "lines": copy.values,
            "photo": copy.photo_sha256 or None,
        },
    )


def submit_copy(
    election: Election,
    station: Station,
    raw: Mapping[str, Any],
    *,
    actor: User | None,
    photo: UploadedFile | None = None,
    request: HttpRequest | None = None,
) -> ProtocolCopy:
    """An accredited observer records the numbers of the copy received at ``station``."""
    accreditation = observer_accreditation(actor, election, station)
    if station.election_id != election.pk:
        raise IntakeError(
            "unknown_station", gettext_noop("station: not in this election"), field="station"
        )
    values = parse_copy(station, copy_lines(election), raw)
    digest = _file_digest(photo, "photo") if photo is not None else None
    created: list[str] = []
    try:
        with transaction.atomic():
            copy = _store_copies(
                election,
                accreditation.organisation,
                [(station, values, photo, digest)],
                source=CopySource.FORM,
                actor=actor,
                accreditation=accreditation,
                created=created,
            )[0]
            audit.record(
                actor,
                "observers.copy",
                election=election,
                target=station.code,
                after={"organisation": accreditation.organisation.name, "lines": values},
                request=request,
            )
    except BaseException:
        _drop(created)
        raise
    return copy


def _store_copies(
    election: Election,
    organisation: Organisation,
    rows: Sequence[tuple[Station, dict[str, int], UploadedFile | None, Digest | None]],
    *,
    source: str,
    actor: User | None,
    accreditation: Accreditation | None,
    created: list[str],
) -> list[ProtocolCopy]:
    # one organisation's copies are written one batch after the other: two at once would both
    # find no current copy of a station and the second would break its one-current constraint
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
    now = timezone.now()
    ProtocolCopy.objects.filter(
        organisation=organisation, station__in=[s for s, *_rest in rows], is_current=True
    ).update(is_current=False)
    folder = _folder(election, "copies")
    copies = []
    for station, values, photo, digest in rows:
        name = ""
        if photo is not None and digest is not None:
            name = _save(folder, photo, digest, created)
        copies.append(
            ProtocolCopy(
                election=election,
                station=station,
                organisation=organisation,
                accreditation=accreditation,
                values=values,
                photo=name,
                photo_sha256=digest.sha256 if digest else "",
                source=source,
                submitted_by=account_of(actor),
                submitted_at=now,
            )
        )
    ProtocolCopy.objects.bulk_create(copies, batch_size=2000)
    chain.append_many(election, [_copy_fact(c, organisation) for c in copies])
    return copies


def representative_of(user: User | None, election: Election) -> list[Organisation]:
    """The accredited organisations ``user`` represents in ``election`` (or AccessDenied)."""
    _authenticated(user)
    organisations = list(
        Organisation.objects.filter(
            election=election,
            representative_id=getattr(user, "pk", None),
            applications__status=ApplicationStatus.ACCEPTED,
        ).distinct()
    )
    if not organisations:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop(
                "only the representative of an accredited organisation uploads its copies"
            ),
        )
    return organisations


def _territories(organisation: Organisation) -> list[Unit | None]:
    return [
        a.unit
        for a in organisation.applications.filter(status=ApplicationStatus.ACCEPTED).select_related(
            "unit"
        )
    ]


@dataclass(frozen=True)
class UploadOutcome:
    organisation: Organisation
    copies: int
    photos: int


PHOTO_NAME = re.compile(r"^(?P<code>.+)\.(?:pdf|png|jpe?g)$", re.IGNORECASE)


def upload_copies(
    election: Election,
    organisation: Organisation,
    content: bytes | IO[bytes],
    *,
    actor: User | None,
    photos: Sequence[UploadedFile] = (),
    request: HttpRequest | None = None,
) -> UploadOutcome:
    """An organisation's copies as CSV (``station`` and the line codes; every row checked
    before any is stored). Photos are files named ``<station code>.pdf|png|jpg``."""
    if organisation.pk not in {o.pk for o in representative_of(actor, election)}:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("you do not represent %(name)s"),
            params={"name": organisation.name},
        )
    lines = copy_lines(election)
    codes = [c for c, _r in lines]
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    table = BoundedCsv(stream, max_columns=len(codes) + 1 + EXTRA_COLUMNS)
    stations = {s.code: s for s in Station.objects.filter(election=election).select_related("unit")}
    territories = _territories(organisation)
    parsed: list[tuple[Station, dict[str, int]]] = []
    seen: set[str] = set()
    try:
        records = table.records()
        _first, header_raw = next(records, (1, []))
        header = [h.strip() for h in header_raw]
        problems = [
            _("missing column %(c)s") % {"c": repr(c)}
            for c in ["station", *[c for c, r in lines if r]]
            if c not in header
        ]
        problems += [
            _("unknown column %(c)s") % {"c": repr(c)}
            for c in header
            if c != "station" and c not in codes
        ]
        if len(set(header)) != len(header):
            problems.append(_("a column appears twice"))
        if problems:
            raise IntakeError(
                "invalid_file",
                gettext_noop("nothing was stored: line 1: %(problems)s"),
                params={"problems": "; ".join(problems)},
                field="file",
            )
        for number, record in records:
            if not any(v.strip() for v in record):
                continue
            if len(record) != len(header):
                raise IntakeError(
                    "invalid_file",
                    gettext_noop(
                        "nothing was stored: line %(line)s: %(n)s fields, the header has %(h)s"
                    ),
                    params={"line": number, "n": len(record), "h": len(header)},
                    field="file",
                )
            row = dict(zip(header, record, strict=True))
            code = row.pop("station").strip()
            station = stations.get(code)
            where = _("nothing was stored: line %(line)s: ") % {"line": number}
            if station is None:
                raise IntakeError(
                    "unknown_station",
                    where
                    + _("station %(code)s is not in %(slug)s")
                    % {"code": quoted(code), "slug": election.slug},
                    field="station",
                )
            if code in seen:
                raise IntakeError(
                    "duplicate_station",
                    where + _("station %(code)s appears twice") % {"code": code},
                    field="station",
                )
            seen.add(code)
            if not any(covers(u, station) for u in territories):
                raise AccessDenied(
                    "forbidden_territory",
                    where
                    + _("station %(code)s is outside the territory of %(name)s")
                    % {"code": code, "name": organisation.name},
                )
            try:
                parsed.append((station, parse_copy(station, lines, row)))
            except IntakeError as exc:
                raise IntakeError(
                    exc.code, where + exc.message, status=exc.status, field=exc.field
                ) from None
    except CsvProblem as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise IntakeError(
            "invalid_file", gettext_noop("nothing was stored: ") + where + exc.message, field="file"
        ) from None
    if not parsed:
        raise IntakeError("empty_file", gettext_noop("file: no rows"), field="file")
    by_code: dict[str, tuple[UploadedFile, Digest]] = {}
    for upload in photos:
        match = PHOTO_NAME.match(upload.name or "")
        if match is None or match["code"] not in seen:
            raise IntakeError(
                "unknown_photo",
                gettext_noop(
                    "photos: %(name)s is not named after a station of the file (CODE.jpg)"
                ),
                params={"name": quoted(upload.name or "")},
                field="photos",
            )
        by_code[match["code"]] = (upload, _file_digest(upload, "photos"))
    created: list[str] = []
    try:
        with transaction.atomic():
            rows = []
            for station, values in parsed:
                photo, digest = by_code.get(station.code, (None, None))
                rows.append((station, values, photo, digest))
            _store_copies(
                election,
                organisation,
                rows,
                source=CopySource.UPLOAD,
                actor=actor,
                accreditation=None,
                created=created,
            )
            audit.record(
                actor,
                "observers.copies_uploaded",
                election=election,
                target=organisation.name,
                after={"copies": len(rows), "photos": len(by_code)},
                request=request,
            )
    except BaseException:
        _drop(created)
        raise
    return UploadOutcome(organisation, len(parsed), len(by_code))


# -- webcams --------------------------------------------------------------------------------


def web_address(field: str, raw: Any, *, required: bool) -> str:
    """An http(s) address with a host name (what the health check may fetch and a page may
    link to), or "" when not ``required``."""
    text = _text(field, raw, MAX_URL, required=required)
    if not text:
        return ""
    if not is_web_address(text):
        raise IntakeError(
            "invalid_value",
            gettext_noop(
                "%(field)s: %(value)s is not a web address: use http:// or https:// with a host"
            ),
            params={"field": field, "value": quoted(text[:80])},
            field=field,
        )
    return text


def register_webcams(
    election: Election, *, actor: User | None, request: HttpRequest | None = None
) -> list[Webcam]:
    """Registry rows for the register's filmed stations that have a stream address and no row
    yet (their stream from ``Station.webcam_url``)."""
    authorize_decision(actor, election, None)
    with transaction.atomic():
        Election.objects.select_for_update().filter(pk=election.pk).first()
        known = set(Webcam.objects.filter(election=election).values_list("station_id", flat=True))
        new = [
            Webcam(election=election, station=s, stream_url=s.webcam_link)
            for s in Station.objects.filter(election=election, webcam=True).exclude(webcam_url="")
            if s.pk not in known and s.webcam_link
        ]
        Webcam.objects.bulk_create(new, batch_size=2000)
        if new:
            audit.record(
                actor,
                "observers.webcams_registered",
                election=election,
                target=election.slug,
                after={"webcams": len(new)},
                request=request,
            )
    return new


WEBCAM_FIELDS = ("stream_url", "recording_url", "operator")


def edit_webcam(
    election: Election,
    station: Station,
    *,
    actor: User | None,
    stream_url: Any,
    recording_url: Any = "",
    operator: Any = "",
    request: HttpRequest | None = None,
) -> Webcam:
    """Register or change a station's webcam (``MANAGE_ELECTION`` over the station): audited
    with the changed fields and a public fact."""
    if station.election_id != election.pk:
        raise IntakeError(
            "unknown_station", gettext_noop("station: not in this election"), field="station"
        )
    authorize_decision(actor, election, station.unit)
    wanted = {
        "stream_url": web_address("stream_url", stream_url, required=True),
        "recording_url": web_address("recording_url", recording_url, required=False),
        "operator": _text("operator", operator, 200, required=False),
    }
    with transaction.atomic():
        webcam = Webcam.objects.select_for_update().filter(station=station).first()
        before = {f: getattr(webcam, f) for f in WEBCAM_FIELDS} if webcam else None
        if webcam is None:
            webcam = Webcam(election=election, station=station)
        changed = {f: v for f, v in wanted.items() if before is None or before[f] != v}
        if not changed:
            return webcam
        for f, v in changed.items():
            setattr(webcam, f, v)
        webcam.save()
        audit.record(
            actor,
            "observers.webcam",
            election=election,
            target=station.code,
            before={f: before[f] for f in changed} if before else None,
            after=changed,
            request=request,
        )
        _fact(election, "observers.webcam", {"station": station.code, **wanted})
    return webcam
