"""The API's hand-written SQL: what every API request reads or writes besides its own work (the
caller's token, the election and station it names, its Idempotency-Key), in plain statements
written once (:mod:`secki.rawsql`: prepared on PostgreSQL) behind named functions
(docs/architecture.md, "Persistence")."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db.models import JSONField
from django.utils import timezone

from secki import rawsql
from secki.accounts.models import ApiToken, Membership
from secki.api.models import IdempotencyRecord
from secki.elections.models import Election, Station, Unit

_KEYS = IdempotencyRecord._meta.db_table


def _touch(key_hash: str, now: dt.datetime, touch_before: dt.datetime) -> tuple[str, list[Any]]:
    """``WITH touched AS (…)``: the data-modifying CTE (PostgreSQL) that sets the unrevoked
    token's ``last_used_at`` to ``now`` when it was never used or last used before
    ``touch_before`` (its user active). It runs whether or not the outer query reads it; the
    outer query sees the row as it was before (one snapshot)."""
    user_model = get_user_model()
    assert user_model._meta.pk is not None
    tokens, users = rawsql.columns(ApiToken), rawsql.columns(user_model)
    return (
        f"WITH touched AS (UPDATE {tokens.table} SET last_used_at = %s "  # noqa: S608 - model metadata
        "WHERE key_hash = %s AND revoked_at IS NULL "
        "AND (last_used_at IS NULL OR last_used_at < %s) "
        f"AND EXISTS (SELECT 1 FROM {users.table} a "
        f"WHERE a.{user_model._meta.pk.column} = user_id AND a.is_active) RETURNING 1) ",
        [now, key_hash, touch_before],
    )


def _touch_elsewhere(token: ApiToken, now: dt.datetime, touch_before: dt.datetime) -> None:
    """What :func:`_touch` does, by a statement of its own (SQLite)."""
    used = token.last_used_at
    if (used is None or used < touch_before) and token.user.is_active:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


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
    if touch_before is not None and together:
        touch, params = _touch(key_hash, now, touch_before)
        select = touch + select
        params.append(key_hash)
    with rawsql.cursor() as cursor:
        cursor.execute(select, params)
        row = cursor.fetchone()
    if row is None:
        return None
    token: ApiToken = tokens.build(row)
    token.user = users.build(row, len(tokens))
    if touch_before is not None and not together:
        _touch_elsewhere(token, now, touch_before)
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


def election_and_station(
    slug: str, code: str, user_id: int | None = None
) -> tuple[Election, Station | None, list[Membership]] | None:
    """The election with this slug, its station with this code (its unit and election
    attached; None when the election has no such station) and, with ``user_id``, that user's
    memberships in the election (as :func:`secki.accounts.store.memberships` reads them: in
    the order granted, each with its unit), in one statement; None when there is no such
    election. Every API write reads all three, so that no write pays a statement of its own
    for the caller's roles; they are read now, never kept beyond the request."""
    ecols, scols, ucols, mcols = (rawsql.columns(m) for m in (Election, Station, Unit, Membership))
    sql = (
        f"SELECT {ecols.select('e')}, {scols.select('s')}, {ucols.select('u')}, "  # noqa: S608 - model metadata
        f"{mcols.select('m')}, {ucols.select('mu')} "
        f"FROM {ecols.table} e LEFT JOIN {scols.table} s "
        "ON s.election_id = e.id AND s.code = %s "
        f"LEFT JOIN {ucols.table} u ON u.id = s.unit_id "
        f"LEFT JOIN {mcols.table} m ON m.election_id = e.id AND m.user_id = %s "
        f"LEFT JOIN {ucols.table} mu ON mu.id = m.unit_id WHERE e.slug = %s ORDER BY m.id"
    )
    params: list[Any] = [code, user_id, slug]
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    return _election_station_memberships(rows, 0)


class Read(NamedTuple):
    """What an API write sent with a bearer token reads before its work
    (:func:`token_election_and_station`)."""

    #: None: no unrevoked token has the hash
    token: ApiToken | None
    #: the election, its station (None: no such station) and the token's user's memberships;
    #: None: no such election
    found: tuple[Election, Station | None, list[Membership]] | None
    #: whether ``stored`` was read (the Idempotency-Key's record of the token's user)
    keyed: bool = False
    #: the committed record of the token's user with the Idempotency-Key asked for, if any
    stored: IdempotencyRecord | None = None


def token_election_and_station(
    key_hash: str,
    slug: str,
    code: str,
    *,
    touch_before: dt.datetime,
    idempotency_key: str | None = None,
) -> Read:
    """:func:`active_token` (touched as it touches) and :func:`election_and_station` with the
    token's user's memberships, in one statement on PostgreSQL: what an API write sent with a
    bearer token reads before its work; with ``idempotency_key``, also that user's committed
    record of the key, if any (``keyed`` is then true). The memberships are the token's user's
    whatever that user's state (the caller decides whether a user without a usable token has
    any); the token is None when no unrevoked token has this hash. Elsewhere by the two
    functions (the key is not read: ``keyed`` false)."""
    if rawsql.vendor() != "postgresql":
        alone = active_token(key_hash, touch_before=touch_before)
        return Read(
            alone, election_and_station(slug, code, None if alone is None else alone.user_id)
        )
    user_model = get_user_model()
    assert user_model._meta.pk is not None
    tokens, users = rawsql.columns(ApiToken), rawsql.columns(user_model)
    ecols, scols, ucols, mcols = (rawsql.columns(m) for m in (Election, Station, Unit, Membership))
    kcols = rawsql.columns(IdempotencyRecord)
    touch, params = _touch(key_hash, timezone.now(), touch_before)
    sql = touch + (
        f"SELECT {tokens.select('t')}, {users.select('tu')}, {kcols.select('k')}, "  # noqa: S608 - model metadata
        f"{ecols.select('e')}, {scols.select('s')}, {ucols.select('u')}, {mcols.select('m')}, "
        f"{ucols.select('mu')} "
        f"FROM (SELECT 1) one LEFT JOIN ({tokens.table} t JOIN {users.table} tu "
        f"ON tu.{user_model._meta.pk.column} = t.user_id) "
        "ON t.key_hash = %s AND t.revoked_at IS NULL "
        # (user, key) is unique: at most one record, so the rows stay one per membership
        f"LEFT JOIN {kcols.table} k ON k.user_id = t.user_id AND k.key = %s "
        f"LEFT JOIN {ecols.table} e ON e.slug = %s "
        f"LEFT JOIN {scols.table} s ON s.election_id = e.id AND s.code = %s "
        f"LEFT JOIN {ucols.table} u ON u.id = s.unit_id "
        f"LEFT JOIN {mcols.table} m ON m.election_id = e.id AND m.user_id = t.user_id "
        f"LEFT JOIN {ucols.table} mu ON mu.id = m.unit_id ORDER BY m.id"
    )
    params += [key_hash, idempotency_key, slug, code]
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    first = rows[0]
    token: ApiToken | None = None
    if first[0] is not None:
        token = tokens.build(first)
        token.user = users.build(first, len(tokens))
    at = len(tokens) + len(users)
    stored: IdempotencyRecord | None = None if first[at] is None else kcols.build(first, at)
    keyed = idempotency_key is not None
    start = at + len(kcols)
    if first[start] is None:
        return Read(token, None, keyed, stored)
    return Read(token, _election_station_memberships(rows, start), keyed, stored)


def _election_station_memberships(
    rows: Sequence[Sequence[Any]], start: int
) -> tuple[Election, Station | None, list[Membership]]:
    """The election, its station (or None) and the memberships of rows holding, from
    ``start``, election, station, unit, membership and unit columns (one row per membership,
    or one row with none)."""
    ecols, scols, ucols, mcols = (rawsql.columns(m) for m in (Election, Station, Unit, Membership))
    row = rows[0]
    election: Election = ecols.build(row, start)
    at = start + len(ecols)
    station = None if row[at] is None else _built_station(row, at, election)
    held: list[Membership] = []
    at += len(scols) + len(ucols)
    for found in rows:
        if found[at] is None:  # no membership: the one row the LEFT JOIN keeps
            continue
        membership: Membership = mcols.build(found, at)
        if membership.unit_id is not None:
            membership.unit = ucols.build(found, at + len(mcols))
        held.append(membership)
    return election, station, held


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


def insert_answers(rows: list[tuple[int, str, str, int, dict[str, Any]]]) -> int:
    """Insert the records of keys with their answers: (user id, key, fingerprint, status,
    body) rows, one statement; a key the user has already (committed by another transaction,
    which this waits for if it has not ended, or a row before it in ``rows``) is left as it is.
    Returns how many rows were inserted."""
    field = IdempotencyRecord._meta.get_field("body")
    assert isinstance(field, JSONField)
    created = IdempotencyRecord._meta.get_field("created_at").get_db_prep_save(
        timezone.now(), rawsql.db()
    )
    fields = "user_id, key, fingerprint, status, body, created_at"
    with rawsql.cursor() as cursor:
        if rawsql.vendor() == "postgresql":
            cursor.execute(
                f"INSERT INTO {_KEYS} ({fields}) "  # noqa: S608 - model metadata
                "SELECT v.user_id, v.key, v.fingerprint, v.status, v.body::jsonb, %s "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::integer[], %s::text[]) "
                "AS v(user_id, key, fingerprint, status, body) "
                "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                [
                    created,
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                    [r[3] for r in rows],
                    [json.dumps(r[4], cls=field.encoder) for r in rows],
                ],
            )
            return len(cursor.fetchall())
        inserted = 0
        for user_id, key, print_, status, body in rows:
            cursor.execute(
                f"INSERT INTO {_KEYS} ({fields}) VALUES (%s, %s, %s, %s, %s, %s) "  # noqa: S608 - model metadata
                "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                [user_id, key, print_, status, field.get_db_prep_save(body, rawsql.db()), created],
            )
            inserted += len(cursor.fetchall())
        return inserted


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
