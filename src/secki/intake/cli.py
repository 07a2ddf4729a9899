"""``secki import``, ``secki export``, ``secki import-nist``, ``secki upload-protocols`` and
``secki schema``: an election in or out whole, and protocols in bulk.

The command line acts as the machine's operator: its changes are audited as
``cli:<os user>`` (:mod:`secki.accounts.actions`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secki.cli import setup_django


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Replace an election with the same slug (refused once it holds protocols or "
    "turnout reports, or while it is not in setup).",
)
@click.option(
    "--status",
    type=click.Choice(["setup", "open"]),
    default="open",
    show_default=True,
    help="Status of the new election: setup keeps its register open to changes.",
)
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Bring the database schema up to date first.",
)
def import_cmd(directory: Path, replace: bool, status: str, migrate: bool) -> None:
    """Load an election bundle DIRECTORY (docs/formats.md) in one transaction (audited)."""
    setup_django()
    from secki.bundle.read import BundleError, read_bundle
    from secki.intake.bundle_io import import_bundle, import_work

    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    click.echo(f"Reading {directory} …", err=True)
    try:
        bundle = read_bundle(
            directory,
            progress=lambda label, n: click.echo(f"  {label}: {n:,} rows valid", err=True),
        )
        with click.progressbar(length=import_work(bundle), label="Storing", file=sys.stderr) as bar:
            election = import_bundle(bundle, replace=replace, status=status, advance=bar.update)
    except BundleError as exc:
        click.echo("Nothing was imported. Problems found:", err=True)
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(
        f"Imported {election.slug}: {len(bundle.units)} units, {len(bundle.stations):,} stations, "
        f"{len(bundle.candidates)} candidates, {len(bundle.turnout):,} turnout reports, "
        f"{len(bundle.protocols):,} protocols."
    )


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--election", "slug", help="Election slug (default: the only election).")
def export_cmd(directory: Path, slug: str | None) -> None:
    """Write an election back out as a bundle DIRECTORY."""
    setup_django()
    from secki.intake.bundle_io import export_bundle

    election = _election(slug)
    for name, rows in export_bundle(election, directory).items():
        click.echo(f"{name}: {rows:,} rows", err=True)
    click.echo(f"Exported {election.slug} to {directory}")


@click.command("import-nist")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--slug", required=True, help="Slug of the new election.")
@click.option(
    "--schema",
    "schema_name",
    default="az-presidential",
    show_default=True,
    help="Built-in protocol schema name, or a .toml/.json schema file.",
)
def import_nist_cmd(file: Path, slug: str, schema_name: str) -> None:
    """Create an election's hierarchy and candidates from a NIST SP 1500-100 v2 JSON file."""
    setup_django()
    from django.db import transaction

    from secki.accounts import actions
    from secki.elections.nist import NistImportError, import_nist

    try:
        with transaction.atomic():
            actions.check_create(None)
            election = import_nist(file, slug=slug, schema=_schema(schema_name))
            actions.record_import(
                None,
                election,
                replaced=None,
                counts={
                    "units": election.units.count(),
                    "stations": election.stations.count(),
                    "candidates": election.candidates.count(),
                },
                source=f"nist:{file.name}",
            )
    except NistImportError as exc:
        click.echo(f"Nothing was imported: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"Imported {election.slug}: {election.units.count()} units, "
        f"{election.stations.count():,} stations, {election.candidates.count()} candidates."
    )


@click.command("schema")
@click.argument("source")
def schema_cmd(source: str) -> None:
    """Validate a protocol schema (built-in name or file) and print its lines, checks and roles.

    The roles are what the tabulation reads from the schema's own lines (docs/formats.md).
    """
    schema = _schema(source)
    click.echo(f"{schema.name}: {len(schema.lines)} lines, {len(schema.checks)} checks")
    for ln in schema.lines:
        click.echo(
            f"  {ln.code:6} {ln.kind:8} {'required' if ln.required else 'optional':8} {ln.label}"
        )
    for c in schema.checks:
        click.echo(f"  {c.code:6} {c.severity:4} {c.scope:9} {c.source}")
    click.echo("roles (what the tabulation reads):")
    for role, expr in schema.roles.items():
        click.echo(f"  {role:12} = {expr.source}")
    for k in schema.contests:
        rule = ", ".join(f"{key} {value}" for key, value in k.rule.items())
        click.echo(
            f"  contest {k.code}: {k.name}; valid {k.valid.source}, "
            f"invalid {k.invalid.source}; {rule}"
        )


def _schema(source: str):  # type: ignore[no-untyped-def]
    from secki.protocol_schema import ProtocolSchema, SchemaError

    try:
        if Path(source).suffix in (".toml", ".json"):
            return ProtocolSchema.from_file(source)
        return ProtocolSchema.builtin(source)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None


def _election(slug: str | None):  # type: ignore[no-untyped-def]
    from secki.elections.models import Election

    if slug:
        election = Election.objects.filter(slug=slug).first()
        if election is None:
            raise click.ClickException(f"no election {slug!r}")
        return election
    elections = list(Election.objects.all()[:2])
    if len(elections) != 1:
        raise click.ClickException("give --election SLUG (there is not exactly one election)")
    return elections[0]


@click.command("upload-protocols")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--election", "slug", help="Election slug (default: the only election).")
@click.option("--user", "username", required=True, help="The official who uploads (role checked).")
def upload_protocols_cmd(file: Path, slug: str | None, username: str) -> None:
    """Accept a protocols.csv for an election already loaded: all rows or none."""
    setup_django()
    from django.contrib.auth import get_user_model

    from secki.accounts.access import AccessDenied
    from secki.errors import IntakeError
    from secki.protocols.bulk import accept_rows, parse_csv
    from secki.protocols.models import ProtocolSource

    election = _election(slug)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    try:
        rows = parse_csv(election, file.read_bytes())
        click.echo(f"Checked {len(rows):,} protocols; storing …", err=True)
        accepted = accept_rows(election, rows, actor=user, source=ProtocolSource.IMPORT)
    except (IntakeError, AccessDenied) as exc:
        click.echo(f"Nothing was accepted: {exc}", err=True)
        for detail in getattr(exc, "details", [])[:20]:
            click.echo(f"  {detail}", err=True)
        sys.exit(2)
    click.echo(f"Accepted {accepted:,} protocols into {election.slug}.")


# -- audited setup changes -------------------------------------------------------------------
