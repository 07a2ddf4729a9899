"""``secki verify-log``: check the log's rows in the database."""

from __future__ import annotations

import sys

import click

from secki.cli import setup_django


@click.command("verify-log")
def verify_log() -> None:
    """Check the log's entries in the database: every row's leaf hash is LH of its body, each
    election's leaf indexes have no gap and its entries are valid (spec §5.3); names the first
    entry that is not. This is the operator's check of its own database: the public check is
    `secki verify` of the published files."""
    setup_django()
    from secki.ledger.chain import verify

    result = verify()
    if result.ok:
        click.echo(f"OK: {result.checked:,} entries in {result.elections:,} election logs")
        return
    click.echo(f"FAILED after {result.checked:,} good entries: {result.problem}", err=True)
    sys.exit(1)
