"""The API's hand-written SQL: what every API request reads or writes besides its own work (the
caller's token, the election and station it names, its Idempotency-Key), in plain statements
written once (:mod:`secki.rawsql`: prepared on PostgreSQL) behind named functions
(docs/architecture.md, "Persistence")."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import JSONField
from django.utils import timezone

from secki import rawsql
from secki.accounts.models import ApiToken
from secki.api.models import IdempotencyRecord
from secki.elections.models import Election, Station, Unit

_KEYS = IdempotencyRecord._meta.db_table


def active_token(key_hash: str, *, touch_before: dt.datetime | None = None) -> ApiToken | None:
    """The unrevoked token with this hash, its user loaded (one statement).

    With ``touch_before``: the token's ``last_used_at`` becomes now when it was never used or
    last used before that moment; on PostgreSQL in the same statement (no second round trip
    and no transaction of its own), elsewhere by a second one. The token returned carries the
    time it was last used before this request."""
    user_model = get_user_model()
    tokens, users = rawsql.columns(ApiToken), rawsql.columns(user_model)
    assert user_model._meta.pk is not None
    now = timezone.now()
    select = (
        f"SELECT {tokens.select('t')}, {users.select('u')} FROM {tokens.table} t "  # noqa: S608 - model metadata
        f"JOIN {users.table} u ON u.{user_model._meta.pk.column} = t.user_id "
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL"
    )
    params: list[Any] = [key_hash]
    together = touch_before is not None and rawsql.vendor() == "postgresql"
    if together:
        # A data-modifying CTE runs whether or not the outer query reads it; the outer query
        # sees the row as it was before (one snapshot).
        select = (
            f"WITH touched AS (UPDATE {tokens.table} SET last_used_at = %s "  # noqa: S608 - model metadata
            "WHERE key_hash = %s AND revoked_at IS NULL "
            "AND (last_used_at IS NULL OR last_used_at < %s) "
            f"AND EXISTS (SELECT 1 FROM {users.table} a "
            f"WHERE a.{user_model._meta.pk.column} = user_id AND a.is_active) RETURNING 1) "
            + select
        )
        params = [now, key_hash, touch_before, key_hash]
    with rawsql.cursor() as cursor:
        cursor.execute(select, params)
        row = cursor.fetchone()
    if row is None:
        return None
    token: ApiToken = tokens.build(row)
    token.user = users.build(row, len(tokens))
    if touch_before is not None and not together:
        used = token.last_used_at
        if (used is None or used < touch_before) and token.user.is_active:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def election_by_slug(slug: str) -> Election | None:
    return rawsql.fetch_one(Election, "t.slug = %s", [slug])


def station_by_code(election: Election, code: str) -> Station | None:
    """The election's station with this code, its unit and election attached."""
    scols, ucols = rawsql.columns(Station), rawsql.columns(Unit)
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {scols.select('s')}, {ucols.select('u')} FROM {scols.table} s "  # noqa: S608 - model metadata
            f"JOIN {ucols.table} u ON u.id = s.unit_id WHERE s.election_id = %s AND s.code = %s",
            [election.pk, code],
        )
        row = cursor.fetchone()
    return None if row is None else _built_station(row, 0, election)


def election_and_station(slug: str, code: str) -> tuple[Election, Station | None] | None:
    """The election with this slug and its station with this code (its unit and election
    attached; None when the election has no such station), in one statement; None when there
    is no such election."""
    ecols, scols, ucols = (rawsql.columns(m) for m in (Election, Station, Unit))
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {ecols.select('e')}, {scols.select('s')}, {ucols.select('u')} "  # noqa: S608 - model metadata
            f"FROM {ecols.table} e LEFT JOIN {scols.table} s "
            "ON s.election_id = e.id AND s.code = %s "
            f"LEFT JOIN {ucols.table} u ON u.id = s.unit_id WHERE e.slug = %s",
            [code, slug],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    election: Election = ecols.build(row)
    if row[len(ecols)] is None:
        return election, None
    return election, _built_station(row, len(ecols), election)


def _built_station(row: Sequence[Any], start: int, election: Election) -> Station:
    """The station (its unit and election attached) from ``row[start:]``: station columns,
    then unit columns."""
    scols, ucols = rawsql.columns(Station), rawsql.columns(Unit)
    station: Station = scols.build(row, start)
    station.unit = ucols.build(row, start + len(scols))
    station.election = election
    return station


def claim_key(user_id: int, key: str, fingerprint: str, status: int) -> int | None:
    """Insert a key's record with ``status`` and an empty body and return its id; None when
    the user's key exists already (a concurrent insert of the same key waits here until the
    other transaction ends)."""
    fields = ["user_id", "key", "fingerprint", "status", "body", "created_at"]
    meta = IdempotencyRecord._meta
    values = [
        user_id,
        key,
        fingerprint,
        status,
        meta.get_field("body").get_db_prep_save({}, rawsql.db()),
        meta.get_field("created_at").get_db_prep_save(timezone.now(), rawsql.db()),
    ]
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_KEYS} ({', '.join(fields)}) VALUES (%s, %s, %s, %s, %s, %s) "  # noqa: S608 - model metadata
            "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            values,
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def store_answers(rows: list[tuple[int, int, dict[str, Any]]]) -> None:
    """Store the answers of claimed keys: (record id, status, body) rows, one statement."""
    field = IdempotencyRecord._meta.get_field("body")
    assert isinstance(field, JSONField)
    with rawsql.cursor() as cursor:
        if rawsql.vendor() == "postgresql":
            cursor.execute(
                f"UPDATE {_KEYS} AS t SET status = v.status, body = v.body::jsonb "  # noqa: S608 - model metadata
                "FROM unnest(%s::bigint[], %s::integer[], %s::text[]) AS v(id, status, body) "
                "WHERE t.id = v.id",
                [
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [json.dumps(r[2], cls=field.encoder) for r in rows],
                ],
            )
            return
        for record, status, body in rows:
            cursor.execute(
                f"UPDATE {_KEYS} SET status = %s, body = %s WHERE id = %s",  # noqa: S608 - model metadata
                [status, field.get_db_prep_save(body, rawsql.db()), record],
            )
