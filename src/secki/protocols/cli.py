"""``secki verify-scans``: check every stored scan against the database and the ledger."""

from __future__ import annotations

import sys

import click

from secki.cli import setup_django


@click.command("verify-scans")
def verify_scans_cmd() -> None:
    """Recompute the SHA-256 of every stored protocol scan and compare it with the database
    and the ledger entry that published it; print each mismatch and exit 1 on any.
    (The ledger's own chain is checked by `secki verify-log`.)"""
    setup_django()
    from secki.protocols.scans import verify_scans

    result = verify_scans()
    for problem in result.problems:
        click.echo(f"MISMATCH {problem}", err=True)
    if not result.ok:
        click.echo(
            f"FAILED: {len(result.problems):,} problem(s) in {result.checked:,} scans", err=True
        )
        sys.exit(1)
    click.echo(f"OK: {result.checked:,} scans, {result.bytes:,} bytes, hashes match the ledger")
