"""Who acts: the one type of the acting user, for every action, access check and page.

``User`` is what a request carries (``request.user``): an account, or the anonymous visitor
that every check refuses. An action that the server's command line may also run takes
``User | None``, where ``None`` is the command line (trusted: it has no role to check, and
its records name no account).
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account

User: TypeAlias = Account | AnonymousUser


def account_of(user: User | None) -> Account | None:
    """The account a record names as its author: None for the command line and for an
    anonymous caller."""
    return user if isinstance(user, Account) else None


__all__ = ["Account", "User", "account_of"]
