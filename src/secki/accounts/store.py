"""The accounts app's hand-written SQL (docs/architecture.md, "Persistence"): the read every
write runs (:mod:`secki.rawsql`: written once, prepared on PostgreSQL)."""

from __future__ import annotations

from secki import rawsql
from secki.accounts.models import Membership
from secki.elections.models import Unit


def memberships(user_id: int, election_id: int) -> list[Membership]:
    """The user's memberships in the election, in the order they were granted, each with its
    unit loaded (one statement)."""
    mcols, ucols = rawsql.columns(Membership), rawsql.columns(Unit)
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {mcols.select('m')}, {ucols.select('u')} FROM {mcols.table} m "  # noqa: S608 - model metadata
            f"LEFT JOIN {ucols.table} u ON u.id = m.unit_id "
            "WHERE m.user_id = %s AND m.election_id = %s ORDER BY m.id",
            [user_id, election_id],
        )
        rows = cursor.fetchall()
    result = []
    for row in rows:
        membership: Membership = mcols.build(row)
        if membership.unit_id is not None:
            membership.unit = ucols.build(row, len(mcols))
        result.append(membership)
    return result
