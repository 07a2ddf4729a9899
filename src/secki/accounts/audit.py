"""The audit trail of setup and account changes (:class:`AuditRecord`).

Every action that changes an election, its register, a membership, a token or a log-in
calls :func:`record` inside its own transaction, so the record exists exactly when the
change does.
"""

from __future__ import annotations

import getpass
import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from secki import rawsql
from secki.accounts.models import AuditRecord
from secki.accounts.users import User, account_of
from secki.elections.models import Election


def actor_name(user: User | None) -> str:
    """The name an audit record keeps: the user's username, or ``cli:<os user>``."""
    if user is not None and user.is_authenticated:
        return str(user.get_username())[:150]
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"cli:{who}"[:150]


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind a proxy the header it sets on every
    request (``SECKI_CLIENT_IP_HEADER``, e.g. ``X-Real-IP``). Also the address django-axes
    counts failed log-ins by (``AXES_CLIENT_IP_CALLABLE``)."""
    if request is None:
        return None
    header = settings.SECKI_CLIENT_IP_HEADER
    if header:
        forwarded = request.headers.get(header, "").strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass  # no proxy in between (a local request): its own address
    return request.META.get("REMOTE_ADDR") or None


def draft(
    user: User | None,
    action: str,
    *,
    election: Election | None = None,
    target: str = "",
    before: Any = None,
    after: Any = None,
    request: HttpRequest | None = None,
) -> AuditRecord:
    """The audit record :func:`record` would append, unsaved: for an action that inserts it in
    the same statement as its own row (``rawsql.insert(…, also=[draft(…)])``)."""
    authenticated = user is not None and user.is_authenticated
    return AuditRecord(
        actor=account_of(user),
        actor_name=actor_name(user) if authenticated or request is None else "anonymous",
        action=action,
        election=election,
        target=target[:200],
        before=before,
        after=after,
        ip=client_ip(request),
    )


def record(
    user: User | None,
    action: str,
    *,
    election: Election | None = None,
    target: str = "",
    before: Any = None,
    after: Any = None,
    request: HttpRequest | None = None,
) -> AuditRecord:
    """Append one audit record. ``user`` is None for the command line (recorded as
    ``cli:<os user>``) or for an anonymous web request (``anonymous``, with its address);
    ``before``/``after`` are JSON values (None for creation/removal)."""
    row = draft(
        user,
        action,
        election=election,
        target=target,
        before=before,
        after=after,
        request=request,
    )
    # rawsql: the ORM's save without its per-call overhead (every API write records one);
    # append-only holds, as nothing here updates
    return rawsql.add(row)
