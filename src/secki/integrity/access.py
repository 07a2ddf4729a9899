"""Who sees the integrity pages, and who may register PVT samples, counts and exit polls.

* Staff and observers with election-wide ``VIEW_UNPUBLISHED`` (CEC administrators,
  supervisors, observers; Django superusers) see the analyses of every counted protocol
  (accepted and published).
* Everybody else sees the analyses of the published protocols only, and only when the
  election's :class:`~secki.integrity.models.IntegritySettings` say ``public``.
* PVT samples, PVT counts and exit polls are registered by an observer of the election or
  a CEC administrator.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_noop

from secki.accounts.access import AccessDenied, Permission, can, memberships
from secki.accounts.models import Role
from secki.accounts.users import User
from secki.elections.models import Election
from secki.integrity.models import IntegritySettings


def is_public(election: Election) -> bool:
    return IntegritySettings.objects.filter(election=election, public=True).exists()


@dataclass(frozen=True)
class View:
    """What one user sees: ``public`` means published protocols only."""

    public: bool
    staff: bool


def view_for(user: User, election: Election) -> View:
    """The user's view of the election's integrity pages, or AccessDenied."""
    if can(user, election, Permission.VIEW_UNPUBLISHED):
        return View(public=False, staff=True)
    if is_public(election):
        return View(public=True, staff=False)
    if user is None or not user.is_authenticated:
        raise AccessDenied(
            "not_authenticated",
            gettext_noop(
                "the integrity analyses of %(slug)s are not public: log in as staff or observer"
            ),
            {"slug": election.slug},
        )
    raise AccessDenied(
        "forbidden_role",
        gettext_noop(
            "the integrity analyses of %(slug)s are for staff and observers "
            "(the CEC has not made them public)"
        ),
        {"slug": election.slug},
    )


def can_register(user: User, election: Election) -> bool:
    """Observers of the election and CEC administrators (and superusers)."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return any(m.role in (Role.OBSERVER, Role.CEC_ADMIN) for m in memberships(user, election))


def authorize_register(user: User | None, election: Election) -> None:
    if user is None or not user.is_authenticated:
        raise AccessDenied("not_authenticated", gettext_noop("log in or send an API token"))
    if not can_register(user, election):
        raise AccessDenied(
            "forbidden_role",
            gettext_noop(
                "only observers of %(slug)s and CEC administrators register PVT samples, "
                "PVT counts and exit polls"
            ),
            {"slug": election.slug},
        )


def can_manage(user: User, election: Election) -> bool:
    return can(user, election, Permission.MANAGE_ELECTION)
