"""The one access check: role × permission × territory (STYLE.md habit 5).

Every write endpoint and view calls :func:`authorize`; it returns the membership that grants
the action or raises :class:`AccessDenied` with a machine-readable code.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_noop

from secki.accounts import store
from secki.accounts.models import Membership, Role
from secki.accounts.users import User
from secki.elections.models import Election, Station
from secki.errors import Text, english, localized


class Permission(enum.StrEnum):
    ENTER_PROTOCOL = "enter_protocol"  # submit a protocol / a data entry
    AMEND_PROTOCOL = "amend_protocol"  # new version of an accepted protocol, with a reason
    ANNUL_PROTOCOL = "annul_protocol"  # annulment with a decision reference
    RECONCILE = "reconcile"  # resolve differing double entries / quarantined protocols
    PUBLISH = "publish"
    REPORT_TURNOUT = "report_turnout"
    CORRECT_TURNOUT = "correct_turnout"
    VIEW_UNPUBLISHED = "view_unpublished"
    MANAGE_ELECTION = "manage_election"  # tokens, memberships, election settings, bulk upload
    # hand counts of a risk-limiting audit (secki.audits): audit boards only, so that the
    # people who count the paper are not the ones who run the audit
    ENTER_AUDIT_COUNT = "enter_audit_count"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CEC_ADMIN: frozenset(Permission) - {Permission.ENTER_AUDIT_COUNT},
    Role.CONSTITUENCY_OPERATOR: frozenset(
        {
            Permission.ENTER_PROTOCOL,
            Permission.AMEND_PROTOCOL,
            Permission.REPORT_TURNOUT,
            Permission.CORRECT_TURNOUT,
            Permission.VIEW_UNPUBLISHED,
        }
    ),
    Role.STATION_OPERATOR: frozenset(
        {
            Permission.ENTER_PROTOCOL,
            Permission.REPORT_TURNOUT,
            Permission.CORRECT_TURNOUT,
            Permission.VIEW_UNPUBLISHED,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.RECONCILE,
            Permission.PUBLISH,
            Permission.VIEW_UNPUBLISHED,
        }
    ),
    Role.OBSERVER: frozenset({Permission.VIEW_UNPUBLISHED}),
    Role.AUDIT_BOARD: frozenset({Permission.ENTER_AUDIT_COUNT}),
}


class AccessDenied(Exception):
    """``code`` is ``not_authenticated``, ``forbidden_role`` or ``forbidden_territory``."""

    def __init__(self, code: str, message: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(english(message, params))
        self.code = code
        self.template = message
        self.params = params

    @property
    def message(self) -> str:
        """In the active language (see :mod:`secki.errors`)."""
        return localized(self.template, self.params)


def memberships(user: User | None, election: Election) -> list[Membership]:
    """The user's memberships in ``election``, each with its unit loaded (for
    :meth:`Membership.covers`). One statement of plain SQL: every write runs this."""
    if user is None or not user.is_authenticated:
        return []
    held = getattr(user, "_secki_memberships", None)
    if held is not None and held[0] == election.pk:
        return list(held[1])
    return store.memberships(user.pk, election.pk)


def holds_memberships(user: User | None) -> bool:
    """Whether :func:`authorize` reads ``user``'s memberships (an account that is not a
    superuser): whom :func:`hold_memberships` keeps them for."""
    return user is not None and user.is_authenticated and not user.is_superuser


def hold_memberships(
    user: User | None, election: Election, found: Sequence[Membership] | None = None
) -> None:
    """Read the user's memberships in ``election`` now (or take ``found``, read just now by
    the caller in a statement of its own, as :func:`memberships` reads them) and let
    :func:`memberships` reuse them for this user object. For the API's writes: the user object
    lives for one request, and the read happens in the request's own thread instead of in a
    transaction that :mod:`secki.groupcommit` may share."""
    if holds_memberships(user):
        held = (election.pk, tuple(memberships(user, election) if found is None else found))
        setattr(user, "_secki_memberships", held)  # noqa: B010 - a per-request cache on the user


def authorize(
    user: User | None, election: Election, permission: Permission, station: Station | None = None
) -> Membership | None:
    """Return the membership granting ``permission`` on ``station``, or raise AccessDenied.

    Django superusers are CEC administrators of every election (returns None).
    """
    if user is None or not user.is_authenticated:
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))
    if user.is_superuser:
        return None
    granting = [m for m in memberships(user, election) if permission in GRANTS[Role(m.role)]]
    if not granting:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("your role in %(slug)s does not allow %(permission)s"),
            {"slug": election.slug, "permission": permission.value},
        )
    for m in granting:
        if m.covers(station):
            return m
    where = station.code if station else Text(gettext_noop("the whole election"))
    raise AccessDenied(
        "forbidden_territory",
        gettext_noop("%(permission)s on %(where)s is outside your territory"),
        {"permission": permission.value, "where": where},
    )


def authorize_many(
    user: User | None, election: Election, permission: Permission, stations: list[Station]
) -> None:
    """:func:`authorize` for many stations with one query; names the first station refused."""
    if user is None or not user.is_authenticated:
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))
    if user.is_superuser:
        return
    granting = [m for m in memberships(user, election) if permission in GRANTS[Role(m.role)]]
    if not granting:
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("your role in %(slug)s does not allow %(permission)s"),
            {"slug": election.slug, "permission": permission.value},
        )
    for station in stations:
        if not any(m.covers(station) for m in granting):
            raise AccessDenied(
                "forbidden_territory",
                gettext_noop("%(permission)s on %(where)s is outside your territory"),
                {"permission": permission.value, "where": station.code},
            )


def can(
    user: User | None, election: Election, permission: Permission, station: Station | None = None
) -> bool:
    try:
        authorize(user, election, permission, station)
    except AccessDenied:
        return False
    return True
