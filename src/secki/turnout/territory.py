"""Which stations a user's memberships cover for one permission (lists and exports).

:func:`secki.accounts.access.authorize` answers for one station; lists of stations (the
tracking page, anomaly flags) need the whole territory at once: the union of the subtrees
and stations of every membership granting the permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

from secki.accounts.access import GRANTS, AccessDenied, Permission, memberships
from secki.accounts.models import Role
from secki.accounts.users import User
from secki.elections.models import Election


@dataclass(frozen=True)
class Territory:
    everything: bool
    stations: frozenset[int]
    paths: tuple[str, ...]

    def covers(self, station_id: int, unit_path: str) -> bool:
        return (
            self.everything
            or station_id in self.stations
            or any(unit_path.startswith(p) for p in self.paths)
        )

    def q(self) -> Q:
        """A filter on Station."""
        if self.everything:
            return Q()
        parts = [Q(pk__in=sorted(self.stations))] if self.stations else []
        parts += [Q(unit_path__startswith=p) for p in self.paths]
        return reduce(or_, parts) if parts else Q(pk__in=[])


def territory(user: User, election: Election, permission: Permission) -> Territory:
    """The stations where ``user`` holds ``permission``; raises AccessDenied when none."""
    if user is None or not user.is_authenticated:
        raise AccessDenied("not_authenticated", "log in or send an API token")
    if user.is_superuser:
        return Territory(True, frozenset(), ())
    granting = [m for m in memberships(user, election) if permission in GRANTS[Role(m.role)]]
    if not granting:
        raise AccessDenied(
            "forbidden_role", f"your role in {election.slug} does not allow {permission.value}"
        )
    stations: set[int] = set()
    paths: list[str] = []
    for m in granting:
        if m.station_id is not None:
            stations.add(m.station_id)
        elif m.unit is not None:
            paths.append(m.unit.path)
        else:
            return Territory(True, frozenset(), ())
    return Territory(False, frozenset(stations), tuple(paths))
