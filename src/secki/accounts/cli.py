"""The audited setup from the command line: ``secki grant``, ``revoke`` and ``reset-2fa``
(memberships and second factors), ``secki election-status``, ``election-set`` and
``amend-register`` (an election's status, settings and register). Changes are audited as
``cli:<os user>`` through :mod:`secki.accounts.actions`."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

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


def _election(slug: str) -> Any:
    from secki.elections.models import Election

    election = Election.objects.filter(slug=slug).first()
    if election is None:
        raise click.ClickException(f"no election {slug!r}")
    return election


def _refused(exc: Exception) -> NoReturn:
    """An action's refusal on the command line: its message, nothing changed, exit 2."""
    click.echo(f"Refused, nothing changed: {getattr(exc, 'message', exc)}", err=True)
    sys.exit(2)


@click.command("election-status")
@click.argument("slug")
@click.argument("status", type=click.Choice(["setup", "open", "closed"]))
@click.option("--reason", default="", help="Why (recorded in the audit trail and the log).")
def election_status_cmd(slug: str, status: str, reason: str) -> None:
    """Move election SLUG to STATUS (setup → open → closed; closed → open reopens; back to
    setup only while nothing was received). Audited and logged publicly."""
    setup_django()
    from secki.accounts import actions
    from secki.accounts.access import AccessDenied
    from secki.errors import IntakeError

    election = _election(slug)
    old = election.status
    try:
        actions.set_status(None, election, status, reason=reason)
    except (IntakeError, AccessDenied) as exc:
        _refused(exc)
    click.echo(f"{election.slug}: {old} → {election.status}")


@click.command("election-set")
@click.argument("slug")
@click.argument("settings", nargs=-1, required=True, metavar="NAME=VALUE...")
def election_set_cmd(slug: str, settings: tuple[str, ...]) -> None:
    """Change settings of election SLUG, e.g. ``win_rule=plurality runoff_size=3
    turnout_times='["10:00","15:00"]'`` (all or none; audited and logged publicly)."""
    setup_django()
    from secki.accounts import actions
    from secki.accounts.access import AccessDenied
    from secki.errors import IntakeError

    changes: dict[str, Any] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: write NAME=VALUE", param_hint="SETTINGS")
        changes[name.strip()] = value
    election = _election(slug)
    try:
        changed = actions.change_election(None, election, **changes)
    except (IntakeError, AccessDenied) as exc:
        _refused(exc)
    if not changed:
        click.echo(f"{election.slug}: nothing changed (the settings already had these values)")
    for name, value in changed.items():
        click.echo(f"{election.slug}: {name} = {value}")


@click.command("amend-register")
@click.argument("slug")
@click.argument("station")
@click.option("--registered", type=int, help="Registered voters of the station.")
@click.option("--name", help="The station's name.")
@click.option("--address", help="The station's address.")
@click.option("--webcam-url", help="Public address of the station's webcam stream.")
@click.option("--reason", required=True, help="Why (public: it goes into the log).")
def amend_register_cmd(
    slug: str,
    station: str,
    registered: int | None,
    name: str | None,
    address: str | None,
    webcam_url: str | None,
    reason: str,
) -> None:
    """Amend STATION of election SLUG's register (the only change once it is open): audited,
    and logged publicly as register.amended with the reason."""
    setup_django()
    from secki.accounts import actions
    from secki.accounts.access import AccessDenied
    from secki.elections.models import Station
    from secki.errors import IntakeError

    election = _election(slug)
    found = Station.objects.filter(election=election, code=station).first()
    if found is None:
        raise click.ClickException(f"no station {station!r} in {election.slug}")
    given = {"registered": registered, "name": name, "address": address, "webcam_url": webcam_url}
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    try:
        record = actions.amend_register(None, election, found, reason=reason, **changes)
    except (IntakeError, AccessDenied) as exc:
        _refused(exc)
    for field, value in (record.after or {}).items():
        if field != "reason":
            was = (record.before or {}).get(field)
            click.echo(f"{election.slug} {found.code}: {field} {was} → {value}")
