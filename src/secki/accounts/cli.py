"""``secki grant`` and ``secki revoke``: memberships from the command line (audited as
``cli:<os user>`` through :mod:`secki.accounts.actions`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from secki.cli import setup_django


def _scope(election: Any, unit: str | None, station: str | None) -> tuple[Any, Any]:
    from secki.elections.models import Station, Unit

    found_unit = found_station = None
    if unit is not None:
        found_unit = Unit.objects.filter(election=election, code=unit).first()
        if found_unit is None:
            raise click.ClickException(f"no unit {unit!r} in {election.slug}")
    if station is not None:
        found_station = Station.objects.filter(election=election, code=station).first()
        if found_station is None:
            raise click.ClickException(f"no station {station!r} in {election.slug}")
    return found_unit, found_station


def _lookup(username: str, slug: str) -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model

    from secki.elections.models import Election

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    election = Election.objects.filter(slug=slug).first()
    if election is None:
        raise click.ClickException(f"no election {slug!r}")
    return user, election


ROLE = click.Choice(
    ["cec_admin", "constituency_operator", "station_operator", "supervisor", "observer"]
)


@click.command("grant")
@click.argument("username")
@click.argument("slug")
@click.argument("role", type=ROLE)
@click.option("--unit", help="Code of the unit whose subtree the role covers.")
@click.option("--station", help="Code of the one station the role covers.")
def grant_cmd(username: str, slug: str, role: str, unit: str | None, station: str | None) -> None:
    """Give USERNAME the ROLE in election SLUG (whole election, --unit or --station)."""
    setup_django()
    from secki.accounts import actions
    from secki.accounts.access import AccessDenied
    from secki.errors import IntakeError

    user, election = _lookup(username, slug)
    found_unit, found_station = _scope(election, unit, station)
    try:
        m = actions.grant(None, user, election, role, unit=found_unit, station=found_station)
    except (IntakeError, AccessDenied) as exc:
        click.echo(f"Refused, nothing changed: {exc}", err=True)
        sys.exit(2)
    click.echo(f"granted: {m}")


@click.command("revoke")
@click.argument("username")
@click.argument("slug")
@click.argument("role", type=ROLE)
@click.option("--unit", help="Code of the membership's unit.")
@click.option("--station", help="Code of the membership's station.")
def revoke_cmd(username: str, slug: str, role: str, unit: str | None, station: str | None) -> None:
    """Take the ROLE in election SLUG (with that --unit or --station) from USERNAME."""
    setup_django()
    from secki.accounts import actions
    from secki.accounts.access import AccessDenied
    from secki.accounts.models import Membership
    from secki.errors import IntakeError

    user, election = _lookup(username, slug)
    found_unit, found_station = _scope(election, unit, station)
    m = Membership.objects.filter(
        user=user, election=election, role=role, unit=found_unit, station=found_station
    ).first()
    if m is None:
        raise click.ClickException(f"{username} holds no such role in {slug}")
    try:
        actions.revoke(None, m)
    except (IntakeError, AccessDenied) as exc:
        click.echo(f"Refused, nothing changed: {exc}", err=True)
        sys.exit(2)
    click.echo(f"revoked: {m}")


@click.command("reset-2fa")
@click.argument("username")
def reset_two_factor_cmd(username: str) -> None:
    """Remove USERNAME's authenticator and recovery codes (a lost phone); the account sets up
    a new authenticator at its next log-in. Audited."""
    setup_django()
    from django.contrib.auth import get_user_model

    from secki.accounts import actions

    account = get_user_model().objects.filter(username=username).first()
    if account is None:
        raise click.ClickException(f"no user {username!r}")
    if actions.reset_two_factor(None, account):
        click.echo(f"two-factor log-in of {username} reset: it enrols again at its next log-in")
    else:
        click.echo(f"{username} has no authenticator or recovery codes: nothing changed")
