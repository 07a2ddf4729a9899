"""``secki verify-log``: check the public log's hash chain."""

from __future__ import annotations

import sys

import click

from secki.cli import setup_django


@click.command("verify-log")
def verify_log() -> None:
    """Verify the append-only hash-chained log; name the first entry that was altered."""
    setup_django()
    from secki.ledger.chain import verify

    result = verify()
    if result.ok:
        click.echo(f"OK: {result.checked:,} entries, chain head {result.head}")
        return
    click.echo(f"FAILED after {result.checked:,} good entries: {result.problem}", err=True)
    sys.exit(1)
