"""Actions on the setup and on accounts: elections, their settings and status, the register,
memberships and API tokens (STYLE.md habit 3: views validate, actions mutate).

Every function here is one state change: it checks the caller's role and territory with
:func:`secki.accounts.access.authorize`, validates, writes in one transaction and appends one
:class:`~secki.accounts.models.AuditRecord` (who, what, before, after, when, from where).
``user`` None is the command line, trusted as the machine's operator and recorded as
``cli:<os user>``. Refusals raise :class:`~secki.accounts.access.AccessDenied` (role,
territory) or :class:`~secki.errors.IntakeError` (a rule, naming the field); nothing is
stored in part.

**The register is frozen once the election opens.** Units, stations, candidates and the
protocol form may be created, changed and deleted while the election is being set up
(``setup``); from ``open`` on, the only change is :func:`amend_register` — a station's
registered voters or descriptive fields, with a required reason, audited and appended to the
public ledger as ``register.amended``.

This module sits above the registry and the ledger and below protocols, turnout and results:
it asks whether an election has protocols or turnout reports through the reverse relations
(``election.protocols``, ``election.turnout_reports``) without importing those apps.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki.accounts import audit
from secki.accounts.access import GRANTS, AccessDenied, Permission, authorize, memberships
from secki.accounts.models import ApiToken, AuditRecord, Membership, Role
from secki.accounts.users import Account, User
from secki.elections.models import (
    Candidate,
    ControlRelation,
    Election,
    ElectionStatus,
    ProtocolLine,
    SeatScope,
    Station,
    Unit,
    WinRule,
    bump_schema_revision,
)
from secki.errors import IntakeError, Text
from secki.ledger import chain, drafts

#: election fields a manager may change after creation (audited as ``election.settings``)
SETTINGS = (
    "name",
    "name_az",
    "name_ru",
    "kind",
    "country",
    "date",
    "timezone",
    "polls_open",
    "polls_close",
    "turnout_times",
    "win_rule",
    "majority_base",
    "runoff_size",
    "invalid_station_share",
    "seat_method",
    "seats",
    "seat_scope",
    "threshold",
    "threshold_scope",
    "min_turnout",
    "approval_quorum",
    "protocol_roles",
    "double_entry",
    "auto_publish",
    "turnout_allowance",
    "publication",
    "publication_share",
    "publication_at",
)

#: station fields :func:`amend_register` may change once the election is open
AMENDABLE = (
    "registered",
    "name",
    "name_az",
    "name_ru",
    "address",
    "latitude",
    "longitude",
    "webcam",
    "webcam_url",
)

#: the status changes that are allowed; to ``setup`` only while nothing was received
TRANSITIONS: dict[str, frozenset[str]] = {
    ElectionStatus.SETUP: frozenset({ElectionStatus.OPEN}),
    ElectionStatus.OPEN: frozenset({ElectionStatus.CLOSED, ElectionStatus.SETUP}),
    ElectionStatus.CLOSED: frozenset({ElectionStatus.OPEN, ElectionStatus.SETUP}),
}

#: the register's rows and the name an audit record gives each kind
SETUP_KINDS: dict[type[models.Model], str] = {
    Unit: "unit",
    Station: "station",
    Candidate: "candidate",
    ProtocolLine: "protocol_line",
    ControlRelation: "control_relation",
}

REASON_LIMIT = 500


# -- values as JSON -------------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """A field value as a JSON value: decimals as exact strings, dates and times in ISO."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, models.Model):
        return str(getattr(value, "code", value.pk))
    return str(value)


def row(obj: models.Model) -> dict[str, Any]:
    """Every concrete field of ``obj`` as JSON; a foreign key as the row's code (or id)."""
    out: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.primary_key or f.name in ("created_at", "schema_revision"):
            continue
        if isinstance(f, models.ForeignKey):
            related = getattr(obj, f.name) if getattr(obj, f.attname) is not None else None
            out[f.name] = as_json(related)
        else:
            out[f.name] = as_json(getattr(obj, f.attname))
    return out


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _invalid(exc: ValidationError) -> IntakeError:
    """A model's ValidationError as the one error type, naming the first field."""
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        text = "; ".join(str(m) for e in errors for m in e.messages)
        if field == "__all__":
            return IntakeError("invalid_value", text)
        return IntakeError("invalid_value", f"{field}: {text}", field=field)
    return IntakeError("invalid_value", "; ".join(exc.messages))


# -- who may -------------------------------------------------------------------------------


def _manage(
    user: User | None,
    election: Election,
    *,
    station: Station | None = None,
    unit: Unit | None = None,
) -> Membership | None:
    """MANAGE_ELECTION on ``station``, on ``unit``'s subtree, or (neither) on the whole
    election. Returns the granting membership (None: command line or superuser)."""
    if user is None:
        return None
    if unit is None:
        return authorize(user, election, Permission.MANAGE_ELECTION, station)
    if not getattr(user, "is_authenticated", False):
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))
    if user.is_superuser:
        return None
    granting = [
        m for m in memberships(user, election) if Permission.MANAGE_ELECTION in GRANTS[Role(m.role)]
    ]
    if not granting:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("your role in %(slug)s does not allow %(permission)s"),
            params={"slug": election.slug, "permission": Permission.MANAGE_ELECTION.value},
        )
    for m in granting:
        if m.station_id is None and (m.unit is None or unit.path.startswith(m.unit.path)):
            return m
    raise AccessDenied(
        "forbidden_territory",
        gettext_noop("%(permission)s on unit %(unit)s is outside your territory"),
        params={"permission": Permission.MANAGE_ELECTION.value, "unit": unit.code},
    )


def _superuser_or_cli(user: User | None, what: str) -> None:
    if user is None:
        return
    if not getattr(user, "is_authenticated", False):
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))
    if not user.is_superuser:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("only a superuser or the server's command line may %(what)s"),
            params={"what": what},
        )


def _locked(election: Election) -> Election:
    """The election's row, locked for the rest of the transaction: a register change and a
    status change of one election run one after the other."""
    return Election.objects.select_for_update().get(pk=election.pk)


def has_results(election: Election) -> tuple[int, int]:
    """(protocols, turnout reports) the election holds (through the reverse relations, so
    that accounts does not import the apps above it)."""
    return election.protocols.count(), election.turnout_reports.count()


def _frozen(election: Election) -> IntakeError:
    return IntakeError(
        "register_frozen",
        gettext_noop(
            "the register of %(slug)s is frozen while the election is %(status)s: a station "
            "changes only by an amendment with a reason (secki amend-register), and nothing "
            "else of the register changes"
        ),
        params={"slug": election.slug, "status": election.status},
        status=409,
    )


def require_setup(election: Election) -> None:
    """Refuse a register change unless the election is being set up."""
    if election.status != ElectionStatus.SETUP:
        raise _frozen(election)


# -- elections -------------------------------------------------------------------------------


def settings_of(election: Election) -> dict[str, Any]:
    """The election's row as the audit trail shows it (before an import replaces it, etc.)."""
    return row(election)


def check_create(user: User | None) -> None:
    """Who may create an election: a superuser or the command line (nobody else has a role
    in an election that does not exist yet)."""
    _superuser_or_cli(user, Text(gettext_noop("create an election")))


def _decimals(obj: models.Model) -> None:
    """Decimal fields given as floats (the model's defaults) or text, as exact decimals with
    the field's places, so that validation sees what will be stored."""
    for f in obj._meta.concrete_fields:
        value = getattr(obj, f.attname)
        if isinstance(f, models.DecimalField) and isinstance(value, float | int | str):
            try:
                exact = Decimal(str(value))
            except ArithmeticError:
                continue  # full_clean names the field
            if exact.is_finite() and f.decimal_places is not None:
                setattr(obj, f.attname, exact.quantize(Decimal(1).scaleb(-f.decimal_places)))


def create_election(
    user: User | None, election: Election, *, request: HttpRequest | None = None
) -> Election:
    """Store a new (unsaved) election after validating it; audited as ``election.created``."""
    check_create(user)
    if election.pk is not None:
        raise IntakeError("invalid_value", gettext_noop("the election exists already"))
    _decimals(election)
    try:
        election.full_clean()
    except ValidationError as exc:
        raise _invalid(exc) from None
    with transaction.atomic():
        election.save()
        audit.record(
            user,
            "election.created",
            election=election,
            target=election.slug,
            after=row(election),
            request=request,
        )
    return election


def check_replace(user: User | None, existing: Election) -> None:
    """Whether an import may replace ``existing``: the manager's role, no results received,
    and a register that is not frozen. Call inside the transaction that replaces it."""
    _manage(user, existing)
    protocols, reports = has_results(existing)
    if protocols or reports:
        raise IntakeError(
            "has_results",
            gettext_noop(
                "election %(slug)s has %(protocols)d protocol(s) and %(reports)d turnout "
                "report(s): replacing it would discard them, so it is refused"
            ),
            params={"slug": existing.slug, "protocols": protocols, "reports": reports},
            status=409,
            field="slug",
        )
    if existing.status != ElectionStatus.SETUP:
        raise IntakeError(
            "register_frozen",
            gettext_noop(
                "the register of %(slug)s is frozen while the election is %(status)s: set it "
                "back to setup first (secki election-status %(slug)s setup) or amend stations "
                "one by one (secki amend-register)"
            ),
            params={"slug": existing.slug, "status": existing.status},
            status=409,
            field="slug",
        )


def record_import(
    user: User | None,
    election: Election,
    *,
    replaced: dict[str, Any] | None,
    counts: dict[str, int],
    source: str = "bundle",
    request: HttpRequest | None = None,
) -> AuditRecord:
    """Audit an import (``election.imported``), inside the import's transaction: ``before``
    is the replaced election (or None), ``after`` its settings and what was loaded."""
    return audit.record(
        user,
        "election.imported",
        election=election,
        target=election.slug,
        before=replaced,
        after={**row(election), "source": source, "loaded": counts},
        request=request,
    )


def _coerce(election: Election, name: str, value: Any) -> Any:
    """A setting from a form, the API or the command line as the field's Python value."""
    try:
        field = Election._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if not isinstance(field, models.Field):
        raise IntakeError(
            "unknown_field",
            gettext_noop("%(name)s: no such setting"),
            params={"name": name},
            field=name,
        )
    if isinstance(field, models.JSONField) and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(name)s: not JSON"),
                params={"name": name},
                field=name,
            ) from None
    try:
        return field.to_python(value)
    except ValidationError as exc:
        raise IntakeError(
            "invalid_value", f"{name}: {'; '.join(exc.messages)}", field=name
        ) from None


def _check_rule_fits(election: Election) -> None:
    """The win rule fits the register: a referendum has two options (1 = yes, 2 = no); seats
    allocated per district need districts (units with seats)."""
    if election.win_rule == WinRule.REFERENDUM:
        options = election.candidates.count()
        if options != 2:
            raise IntakeError(
                "invalid_value",
                gettext_noop(
                    "win_rule: a referendum has two options, 1 = yes and 2 = no "
                    "(this election has %(n)s)"
                ),
                params={"n": options},
                field="win_rule",
            )
    if (
        election.win_rule == WinRule.PROPORTIONAL
        and election.seat_scope == SeatScope.DISTRICT
        and not election.units.filter(seats__isnull=False).exists()
    ):
        raise IntakeError(
            "invalid_value",
            gettext_noop(
                "seat_scope: seats per district need districts: no unit has its number of seats"
            ),
            field="seat_scope",
        )


def change_election(
    user: User | None, election: Election, *, request: HttpRequest | None = None, **changes: Any
) -> dict[str, Any]:
    """Change settings of an election (names in :data:`SETTINGS`); audited as
    ``election.settings`` with only the changed fields before and after, and logged publicly
    as ``election.settings``. Returns the changed fields' new values (empty: nothing changed).
    """
    _manage(user, election)
    if not changes:
        raise IntakeError("missing_value", gettext_noop("name at least one setting to change"))
    for name in changes:
        if name == "status":
            raise IntakeError(
                "invalid_value",
                gettext_noop("status changes through its own action (secki election-status)"),
                field=name,
            )
        if name not in SETTINGS:
            raise IntakeError(
                "unknown_field",
                gettext_noop("%(name)s: not a setting that can change (one of: %(names)s)"),
                params={"name": name, "names": ", ".join(SETTINGS)},
                field=name,
            )
    with transaction.atomic():
        current = _locked(election)
        before = row(current)
        for name, value in changes.items():
            setattr(current, name, _coerce(current, name, value))
        _decimals(current)
        try:
            current.full_clean()
        except ValidationError as exc:
            raise _invalid(exc) from None
        _check_rule_fits(current)
        old, new = _diff(before, row(current))
        if not new:
            return {}
        current.save(update_fields=[*new])
        current.refresh_from_db(fields=[*new])  # values as stored (decimal places)
        old, new = _diff(before, row(current))
        audit.record(
            user,
            "election.settings",
            election=current,
            target=current.slug,
            before=old,
            after=new,
            request=request,
        )
        chain.settings_changed(current, new)
        bump_schema_revision(current.pk)  # cached pages and tabulations start again
    election.refresh_from_db()
    return new


def set_status(
    user: User | None,
    election: Election,
    status: str,
    *,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Election:
    """Move an election along ``setup → open → closed`` (and ``closed → open`` to reopen;
    back to ``setup`` only while it has no protocols and no turnout reports). Audited as
    ``election.status`` and logged publicly."""
    _manage(user, election)
    if status not in ElectionStatus.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("status: one of %(values)s"),
            params={"values": ", ".join(ElectionStatus.values)},
            field="status",
        )
    reason = _text(reason, "reason", required=False)
    with transaction.atomic():
        current = _locked(election)
        old = current.status
        if status == old:
            raise IntakeError(
                "invalid_transition",
                gettext_noop("election %(slug)s is already %(status)s"),
                params={"slug": current.slug, "status": old},
                status=409,
                field="status",
            )
        if status not in TRANSITIONS[old]:
            raise IntakeError(
                "invalid_transition",
                gettext_noop(
                    "an election cannot go from %(old)s to %(new)s (allowed: %(allowed)s)"
                ),
                params={"old": old, "new": status, "allowed": ", ".join(sorted(TRANSITIONS[old]))},
                status=409,
                field="status",
            )
        if status == ElectionStatus.SETUP:
            protocols, reports = has_results(current)
            if protocols or reports:
                raise IntakeError(
                    "has_results",
                    gettext_noop(
                        "election %(slug)s has %(protocols)d protocol(s) and %(reports)d "
                        "turnout report(s): it cannot go back to setup"
                    ),
                    params={"slug": current.slug, "protocols": protocols, "reports": reports},
                    status=409,
                    field="status",
                )
        current.status = status
        current.save(update_fields=["status"])
        detail = {"status": status, **({"reason": reason} if reason else {})}
        audit.record(
            user,
            "election.status",
            election=current,
            target=current.slug,
            before={"status": old},
            after=detail,
            request=request,
        )
        chain.election_status(current, old, status, reason)
        bump_schema_revision(current.pk)
    election.refresh_from_db()
    return election


def delete_election(
    user: User | None, election: Election, *, request: HttpRequest | None = None
) -> None:
    """Delete an election with everything it holds: refused once it holds protocols or
    turnout reports, unless it is simulated (the demo's). Audited as ``election.deleted``."""
    _manage(user, election)
    with transaction.atomic():
        current = _locked(election)
        protocols, reports = has_results(current)
        if (protocols or reports) and not current.simulated:
            raise IntakeError(
                "has_results",
                gettext_noop(
                    "election %(slug)s has %(protocols)d protocol(s) and %(reports)d turnout "
                    "report(s): it cannot be deleted"
                ),
                params={"slug": current.slug, "protocols": protocols, "reports": reports},
                status=409,
            )
        before = {**row(current), "protocols": protocols, "turnout_reports": reports}
        slug = current.slug
        current.delete()
        audit.record(user, "election.deleted", target=slug, before=before, request=request)


# -- the register ----------------------------------------------------------------------------


def _kind(obj: models.Model) -> str:
    kind = SETUP_KINDS.get(type(obj))
    if kind is None:
        raise TypeError(f"{type(obj).__name__} is not part of the register")
    return kind


def _label(obj: models.Model) -> str:
    code = getattr(obj, "code", None) or getattr(obj, "number", None)
    return f"{_kind(obj)} {code if code is not None else obj.pk}"


def _authorize_row(user: User | None, election: Election, obj: models.Model) -> None:
    if isinstance(obj, Station):
        if obj.pk is None:  # a new station: its unit's territory
            _manage(user, election, unit=obj.unit)
        else:  # where it is (``unit_path``)
            _manage(user, election, station=obj)
    elif isinstance(obj, Unit):
        if obj.pk is not None:
            _manage(user, election, unit=obj)
        elif obj.parent is not None:
            _manage(user, election, unit=obj.parent)
        else:
            _manage(user, election)
    else:
        _manage(user, election)


def _same_election(election: Election, obj: models.Model) -> None:
    for name in ("unit", "parent"):
        related = getattr(obj, name, None) if hasattr(obj, f"{name}_id") else None
        if related is not None and related.election_id != election.pk:
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(field)s: %(code)s belongs to another election"),
                params={"field": name, "code": related.code},
                field=name,
            )


def _move_unit(unit: Unit, old_path: str) -> None:
    """A unit got a new parent: its path and depth, and those of its subtree, follow."""
    parent = unit.parent
    if parent is not None and parent.path.startswith(old_path):
        raise IntakeError(
            "invalid_value",
            gettext_noop("parent: %(code)s lies inside the unit itself"),
            params={"code": parent.code},
            field="parent",
        )
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    shift = (parent.depth + 1 if parent else 0) - unit.depth
    unit.depth += shift
    below = list(
        Unit.objects.filter(election_id=unit.election_id, path__startswith=old_path).exclude(
            pk=unit.pk
        )
    )
    for u in below:
        u.path = unit.path + u.path[len(old_path) :]
        u.depth += shift
    Unit.objects.bulk_update(below, ["path", "depth"])
    stations = list(
        Station.objects.filter(election_id=unit.election_id, unit_path__startswith=old_path)
    )
    for s in stations:
        s.unit_path = unit.path + s.unit_path[len(old_path) :]
    Station.objects.bulk_update(stations, ["unit_path"])


def save_setup_row(
    user: User | None, obj: models.Model, *, request: HttpRequest | None = None
) -> AuditRecord | None:
    """Create or change a unit, station, candidate, protocol line or check of an election
    being set up; audited as ``<kind>.created`` / ``<kind>.changed`` (only the changed
    fields). Returns the record (None when nothing changed)."""
    kind = _kind(obj)
    election_id = getattr(obj, "election_id", None)
    if election_id is None:
        raise IntakeError("missing_value", gettext_noop("election: required"), field="election")
    with transaction.atomic():
        election = _locked(Election(pk=election_id))
        model = type(obj)
        old = model._default_manager.filter(pk=obj.pk).first() if obj.pk is not None else None
        if old is not None:
            _authorize_row(user, election, old)  # where it was …
        _same_election(election, obj)
        if isinstance(obj, Station):
            obj.unit_path = obj.unit.path
        _authorize_row(user, election, obj)  # … and where it goes
        require_setup(election)
        old_unit = old if isinstance(old, Unit) else None
        if isinstance(obj, Unit):
            if old_unit is None:  # the path needs the new row's id: set after the insert
                obj.path, obj.depth = "/", obj.parent.depth + 1 if obj.parent else 0
            else:  # a new parent moves the subtree below (after the save)
                obj.path, obj.depth = old_unit.path, old_unit.depth
        try:
            obj.full_clean()
        except ValidationError as exc:
            raise _invalid(exc) from None
        before = row(old) if old is not None else None
        try:
            with transaction.atomic():
                obj.save()
        except IntegrityError as exc:
            raise IntakeError(
                "invalid_value",
                gettext_noop("conflicts with another row: %(error)s"),
                params={"error": exc},
            ) from None
        if isinstance(obj, Unit):
            if old_unit is None:
                obj.path = f"{obj.parent.path if obj.parent else '/'}{obj.pk}/"
                obj.save(update_fields=["path"])
            elif old_unit.parent_id != obj.parent_id:
                _move_unit(obj, old_unit.path)
                obj.save(update_fields=["path", "depth"])
        after = row(obj)
        bump_schema_revision(election.pk)
        if before is None:
            return audit.record(
                user,
                f"{kind}.created",
                election=election,
                target=_label(obj),
                after=after,
                request=request,
            )
        old_values, new_values = _diff(before, after)
        if not new_values:
            return None
        return audit.record(
            user,
            f"{kind}.changed",
            election=election,
            target=_label(obj),
            before=old_values,
            after=new_values,
            request=request,
        )


def edit_station(
    user: User | None, station: Station, *, request: HttpRequest | None = None, **changes: Any
) -> AuditRecord | None:
    """Change fields of a station while the election is being set up (see
    :func:`save_setup_row`); once it is open, :func:`amend_register` is the only way."""
    current = Station.objects.select_related("unit").get(pk=station.pk)
    for name, value in changes.items():
        _station_field(name)
        setattr(current, name, value)
    done = save_setup_row(user, current, request=request)
    station.refresh_from_db()
    return done


def delete_setup_row(
    user: User | None, obj: models.Model, *, request: HttpRequest | None = None
) -> None:
    """Delete a register row (and what it holds) while the election is being set up."""
    kind = _kind(obj)
    with transaction.atomic():
        election = _locked(Election(pk=getattr(obj, "election_id", None)))
        _authorize_row(user, election, obj)
        require_setup(election)
        before = row(obj)
        if isinstance(obj, Unit):
            before["stations"] = Station.objects.filter(unit_path__startswith=obj.path).count()
        label = _label(obj)
        obj.delete()
        bump_schema_revision(election.pk)
        audit.record(
            user,
            f"{kind}.deleted",
            election=election,
            target=label,
            before=before,
            request=request,
        )


def _station_field(name: str) -> models.Field[Any, Any]:
    try:
        field = Station._meta.get_field(name)
    except FieldDoesNotExist:
        raise IntakeError(
            "unknown_field",
            gettext_noop("%(name)s: no such station field"),
            params={"name": name},
            field=name,
        ) from None
    assert isinstance(field, models.Field)
    return field


def _text(value: Any, name: str, *, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(name)s: must be text"),
            params={"name": name},
            field=name,
        )
    if required and not text:
        raise IntakeError(
            "missing_value",
            gettext_noop("%(name)s: required, say why"),
            params={"name": name},
            field=name,
        )
    if len(text) > REASON_LIMIT or "\x00" in text:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(name)s: at most %(limit)d characters, no NUL"),
            params={"name": name, "limit": REASON_LIMIT},
            field=name,
        )
    return text


def amend_register(
    user: User | None,
    election: Election,
    station: Station,
    *,
    reason: str,
    request: HttpRequest | None = None,
    **changes: Any,
) -> AuditRecord:
    """Amend a station of the register (``registered`` and the fields in :data:`AMENDABLE`)
    with a required reason, in any status of the election: audited as ``register.amended``
    and appended to the public ledger under the same name."""
    if station.election_id != election.pk:
        raise IntakeError(
            "invalid_value",
            gettext_noop("station %(code)s is not in %(slug)s"),
            params={"code": station.code, "slug": election.slug},
            field="station",
        )
    _manage(user, election, station=station)
    reason = _text(reason, "reason")
    if not changes:
        raise IntakeError(
            "missing_value",
            gettext_noop("name at least one field to amend (%(names)s)"),
            params={"names": ", ".join(AMENDABLE)},
        )
    for name in changes:
        if name not in AMENDABLE:
            raise IntakeError(
                "unknown_field",
                gettext_noop("%(name)s: cannot be amended (one of: %(names)s)"),
                params={"name": name, "names": ", ".join(AMENDABLE)},
                field=name,
            )
    with transaction.atomic():
        current_election = _locked(election)
        current = Station.objects.select_related("unit").get(pk=station.pk)
        before = row(current)
        for name, value in changes.items():
            field = _station_field(name)
            try:
                setattr(current, name, field.to_python(value))
            except ValidationError as exc:
                raise IntakeError(
                    "invalid_value", f"{name}: {'; '.join(exc.messages)}", field=name
                ) from None
        try:
            current.full_clean()
        except ValidationError as exc:
            raise _invalid(exc) from None
        old, new = _diff(before, row(current))
        if not new:
            raise IntakeError(
                "invalid_value",
                gettext_noop("the amendment changes nothing"),
                field=next(iter(changes)),
            )
        current.save(update_fields=[*new])
        current.refresh_from_db(fields=[*new])
        old, new = _diff(before, row(current))
        done = audit.record(
            user,
            "register.amended",
            election=current_election,
            target=f"station {current.code}",
            before=old,
            after={**new, "reason": reason},
            request=request,
        )
        if current_election.status == ElectionStatus.SETUP:
            chain.append(
                current_election,
                drafts.Generic(
                    current_election.slug,
                    timezone.now(),
                    "register.amended",
                    drafts.REGISTER,
                    {"station": current.code, "before": old, "after": new, "reason": reason},
                ),
            )
        else:  # the register the log published changed: its next version
            chain.publish_register(current_election)
        bump_schema_revision(current_election.pk)
    station.refresh_from_db()
    return done


# -- memberships -----------------------------------------------------------------------------


def membership_facts(m: Membership) -> dict[str, Any]:
    return {
        "user": m.user.get_username(),
        "election": m.election.slug,
        "role": m.role,
        "unit": m.unit.code if m.unit else None,
        "station": m.station.code if m.station else None,
    }


def _membership_label(m: Membership) -> str:
    scope = f"station {m.station.code}" if m.station else f"unit {m.unit.code}" if m.unit else ""
    return f"{m.user.get_username()} {m.role} {scope}".strip()


def _may_grant(user: User | None, m: Membership) -> None:
    """The caller's MANAGE_ELECTION covers the membership's territory, and (unless a
    superuser, the command line or a CEC administrator) its role gives no more than theirs."""
    granting = _manage(user, m.election, station=m.station, unit=m.unit)
    if granting is None or granting.role == Role.CEC_ADMIN:
        return
    if not GRANTS[Role(m.role)] <= GRANTS[Role(granting.role)]:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("you cannot grant or revoke the role %(role)s, which is above your own"),
            params={"role": m.role},
        )


def grant(
    user: User | None,
    member: Any,
    election: Election,
    role: str,
    *,
    unit: Unit | None = None,
    station: Station | None = None,
    request: HttpRequest | None = None,
) -> Membership:
    """Give ``member`` a role in ``election``, for the whole election, a unit's subtree or one
    station; audited as ``membership.granted``."""
    if role not in Role.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("role: one of %(roles)s"),
            params={"roles": ", ".join(Role.values)},
            field="role",
        )
    if unit is not None and station is not None:
        raise IntakeError(
            "invalid_value", gettext_noop("give a unit or a station, not both"), field="unit"
        )
    for name, where in (("unit", unit), ("station", station)):
        if where is not None and where.election_id != election.pk:
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(field)s: %(code)s belongs to another election"),
                params={"field": name, "code": where.code},
                field=name,
            )
    if role == Role.STATION_OPERATOR and station is None:
        raise IntakeError(
            "missing_value", gettext_noop("a station operator needs a station"), field="station"
        )
    if role == Role.CONSTITUENCY_OPERATOR and unit is None and station is None:
        raise IntakeError(
            "missing_value", gettext_noop("a constituency operator needs a unit"), field="unit"
        )
    if member is None or getattr(member, "pk", None) is None:
        raise IntakeError("missing_value", gettext_noop("user: required"), field="user")
    m = Membership(user=member, election=election, role=role, unit=unit, station=station)
    _may_grant(user, m)
    with transaction.atomic():
        _locked(election)
        if Membership.objects.filter(
            user=member, election=election, role=role, unit=unit, station=station
        ).exists():
            raise IntakeError(
                "already_granted",
                gettext_noop("%(who)s already holds this role here"),
                params={"who": member.get_username()},
                status=409,
            )
        m.save()
        audit.record(
            user,
            "membership.granted",
            election=election,
            target=_membership_label(m),
            after=membership_facts(m),
            request=request,
        )
    return m


def revoke(
    user: User | None, membership: Membership, *, request: HttpRequest | None = None
) -> None:
    """Take a membership away; audited as ``membership.revoked``."""
    _may_grant(user, membership)
    with transaction.atomic():
        _locked(membership.election)
        facts, label = membership_facts(membership), _membership_label(membership)
        deleted, _kinds = Membership.objects.filter(pk=membership.pk).delete()
        if not deleted:
            raise IntakeError(
                "not_found", gettext_noop("that membership no longer exists"), status=404
            )
        audit.record(
            user,
            "membership.revoked",
            election=membership.election,
            target=label,
            before=facts,
            request=request,
        )


# -- API tokens ------------------------------------------------------------------------------


def issue_token(
    user: User | None, name: Any, *, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """A new API token of the user's own (the raw key is returned once and never stored);
    audited as ``token.issued`` (name and id, never the key)."""
    if not isinstance(user, Account):
        raise AccessDenied("not_authenticated", gettext_noop("log in first"))
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > 100 or "\x00" in text:
        raise IntakeError(
            "invalid_name",
            gettext_noop("name the token (1 to 100 characters)"),
            status=400,
            field="name",
        )
    with transaction.atomic():
        token, raw = ApiToken.issue(user, text)
        audit.record(
            user,
            "token.issued",
            target=f"token {token.pk} {token.name}",
            after={"user": user.get_username(), "name": token.name, "id": token.pk},
            request=request,
        )
    return token, raw


def revoke_token(user: User | None, token: ApiToken, *, request: HttpRequest | None = None) -> bool:
    """Revoke a token: its owner, a superuser or the command line. Audited as
    ``token.revoked``; False when it was revoked already (nothing recorded)."""
    if user is not None:
        if not getattr(user, "is_authenticated", False):
            raise AccessDenied("not_authenticated", gettext_noop("log in first"))
        if token.user_id != user.pk and not user.is_superuser:
            raise AccessDenied("forbidden_role", gettext_noop("only its owner may revoke a token"))
    with transaction.atomic():
        current = ApiToken.objects.select_for_update().get(pk=token.pk)
        if current.revoked_at is not None:
            return False
        current.revoke()
        audit.record(
            user,
            "token.revoked",
            target=f"token {current.pk} {current.name}",
            before={"user": current.user.get_username(), "name": current.name, "revoked": False},
            after={"revoked_at": as_json(current.revoked_at)},
            request=request,
        )
    token.refresh_from_db()
    return True


# -- two-factor log-in -----------------------------------------------------------------------


def reset_two_factor(
    user: User | None, account: Any, *, request: HttpRequest | None = None
) -> bool:
    """Remove ``account``'s authenticator and recovery codes (a lost phone): the superuser or
    the command line only; the account enrols again at its next log-in. Audited as
    ``2fa.reset``; False when it had none (nothing recorded)."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _superuser_or_cli(user, Text(gettext_noop("reset another account's two-factor log-in")))
    with transaction.atomic():
        authenticators = TOTPDevice.objects.filter(user_id=account.pk)
        recovery = StaticDevice.objects.filter(user_id=account.pk)
        before = {
            "authenticators": authenticators.filter(confirmed=True).count(),
            "recovery_codes": sum(d.token_set.count() for d in recovery),
        }
        if not authenticators.exists() and not recovery.exists():
            return False
        authenticators.delete()
        recovery.delete()
        audit.record(
            user,
            "2fa.reset",
            target=account.get_username(),
            before=before,
            after={"authenticators": 0, "recovery_codes": 0},
            request=request,
        )
    return True
