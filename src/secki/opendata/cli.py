"""``secki snapshot`` and ``secki bundle-from-bulk`` (until registered in ``secki.cli``, run
them as ``python -m secki.opendata.cli snapshot …``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from secki.cli import setup_django


@click.command("snapshot")
@click.option("--election", "slug", help="Election slug (default: every election).")
@click.option("--release", is_flag=True, help="Also write a permanent release now.")
@click.option("--watch", is_flag=True, help="Keep the snapshots current until interrupted.")
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    type=float,
    help="Seconds between checks of the ledger head (--watch).",
)
@click.option(
    "--release-every",
    default=None,
    type=float,
    help="Seconds between releases while results change (default SECKI_RELEASE_EVERY, 600).",
)
def snapshot(
    slug: str | None, release: bool, watch: bool, interval: float, release_every: float | None
) -> None:
    """Write the static snapshot files (JSON per unit, bulk CSV) into $SECKI_VAR_DIR/opendata."""
    setup_django()
    from secki.elections.models import Election
    from secki.ledger.chain import ledger_head
    from secki.opendata import snapshots

    def elections() -> list[Election]:
        found = list(Election.objects.filter(slug=slug) if slug else Election.objects.all())
        if slug and not found:
            raise click.ClickException(f"no election {slug!r}")
        return found

    for election in elections():
        done = snapshots.refresh(election, every=release_every, keep=True)
        if release:
            path = snapshots.make_release(election)
            click.echo(f"{election.slug}: release {path.name}")
        click.echo(
            f"{election.slug}: live snapshot at ledger entry {done.seq} "
            f"({'rewritten' if done.live else 'current'}, {done.seconds:.2f} s) in "
            f"{snapshots.election_dir(election)}"
        )
    if not watch:
        return
    click.echo("watching the ledger; Ctrl-C stops", err=True)
    seen = ledger_head()
    checked = time.monotonic()
    try:
        while True:
            time.sleep(interval)
            head = ledger_head()
            # a due release is cut even when nothing changes any more (every 30 s check)
            if head == seen and time.monotonic() - checked < 30:
                continue
            seen, checked = head, time.monotonic()
            for election in elections():
                done = snapshots.refresh(election, every=release_every, keep=True)
                if done.live or done.release:
                    click.echo(
                        f"{election.slug}: entry {done.seq} in {done.seconds:.2f} s"
                        + (f", release {done.release}" if done.release else ""),
                        err=True,
                    )
    except KeyboardInterrupt:
        return


@click.command("bundle-from-bulk")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--slug", help="Give the election another slug (to import beside the original).")
def bundle_from_bulk_cmd(source: Path, target: Path, slug: str | None) -> None:
    """Turn a downloaded release SOURCE into a bundle TARGET for `secki import`."""
    from secki.opendata.roundtrip import RoundTripError, bundle_from_bulk

    try:
        written = bundle_from_bulk(source, target, slug=slug)
    except RoundTripError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(", ".join(f"{name}: {rows:,} rows" for name, rows in written.items()))


@click.group()
def main() -> None:
    """Open-data commands."""


main.add_command(snapshot)
main.add_command(bundle_from_bulk_cmd)

if __name__ == "__main__":
    main()
