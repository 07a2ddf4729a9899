"""What every officials' page needs: the caller's roles and territory, lookups that name what
was not found, and one way of turning a refused action into an HTTP answer.

Access is decided by :mod:`secki.accounts.access` only. A page first asks whether the user has
a role granting the permission anywhere in the election (so a wrong role is refused before any
input is read), then the action itself checks the territory of the station it touches.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_noop

from secki.accounts.access import GRANTS, AccessDenied, Permission, memberships
from secki.accounts.models import Role
from secki.accounts.users import Account, User

# shared with the API, re-exported for the staff views
from secki.api.lookups import election_or_404 as election_or_404
from secki.api.lookups import station_in as station_in
from secki.api.lookups import station_or_404 as station_or_404
from secki.elections.models import Election, Station
from secki.errors import IntakeError

P = ParamSpec("P")


def account(request: HttpRequest) -> Account:
    """The logged-in user of a ``staff_view`` (login_required has let only them in)."""
    user = request.user
    if not isinstance(user, Account):
        raise AccessDenied("not_authenticated", "log in first")
    return user


def has_role(user: User, election: Election, permission: Permission) -> bool:
    """Whether any of the user's roles in ``election`` grants ``permission`` (territory aside)."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return any(permission in GRANTS[Role(m.role)] for m in memberships(user, election))


def require_role(user: User, election: Election, permission: Permission) -> None:
    """Refuse a page before reading its input when no role of the user grants ``permission``."""
    if not has_role(user, election, permission):
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("your role in %(slug)s does not allow %(permission)s"),
            {"slug": election.slug, "permission": permission.value},
        )


def territory(user: User, election: Election, permission: Permission) -> QuerySet[Station]:
    """The stations on which the user holds ``permission`` (same rule as Membership.covers)."""
    stations = Station.objects.filter(election=election)
    if user is None or not user.is_authenticated:
        return stations.none()
    if user.is_superuser:
        return stations
    where = Q(pk__in=[])
    for m in memberships(user, election):
        if permission not in GRANTS[Role(m.role)]:
            continue
        if m.station_id is not None:
            where |= Q(pk=m.station_id)
        elif m.unit is not None:
            where |= Q(unit_path__startswith=m.unit.path)
        else:
            return stations
    return stations.filter(where)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A refused request as a page shows it."""

    code: str
    message: str
    status: int
    field: str | None = None
    details: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, exc: IntakeError | AccessDenied) -> Problem:
        if isinstance(exc, AccessDenied):
            return cls(exc.code, exc.message, 401 if exc.code == "not_authenticated" else 403)
        return cls(exc.code, exc.message, exc.status, exc.field, list(exc.details))


def refuse(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    exc: IntakeError | AccessDenied,
) -> HttpResponse:
    """Render ``template`` again with the problem; the status is the error's (4xx)."""
    problem = Problem.of(exc)
    return render(request, template, {**context, "problem": problem}, status=problem.status)


def staff_view(
    view: Callable[Concatenate[HttpRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """login_required, and an AccessDenied, IntakeError or Http404 that the view did not
    handle itself becomes a page naming the reason, with the error's status."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (AccessDenied, IntakeError) as exc:
            return refuse(request, "staff/refused.html", {}, exc)
        except Http404 as exc:
            problem = Problem("not_found", str(exc) or "not found", 404)
            return render(request, "staff/refused.html", {"problem": problem}, status=404)

    return cast(Callable[Concatenate[HttpRequest, P], HttpResponse], login_required(wrapper))
