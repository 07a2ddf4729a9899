"""``secki webcams-check``: the webcams' health check (:mod:`secki.observers.health`), once or
every ``--interval`` seconds (for a scheduler or a service of its own)."""

from __future__ import annotations

import sys
import threading

import click

from secki.cli import setup_django


@click.command("webcams-check")
@click.option("--election", "slugs", multiple=True, help="Slug of an election (default: all).")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 120.0),
    help="Seconds a probe waits to connect and for each read.",
)
@click.option(
    "--interval",
    default=0.0,
    type=click.FloatRange(0.0, 86400.0),
    help="Check again every so many seconds (0: once).",
)
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="First add the register's filmed stations with a stream address to the registry.",
)
def webcams_check_cmd(
    slugs: tuple[str, ...], concurrency: int, timeout: float, interval: float, register: bool
) -> None:
    """Probe every registered webcam stream and record status, outages and recoveries."""
    setup_django()
    from secki.observers import actions, health
    from secki.observers.models import Webcam

    elections = health.elections_with_webcams(slugs)
    missing = set(slugs) - {e.slug for e in elections}
    if missing:
        raise click.ClickException(f"no election {sorted(missing)[0]!r}")
    stop = threading.Event()
    while True:
        for election in elections:
            if register:
                actions.register_webcams(election, actor=None)
            total = Webcam.objects.filter(election=election).count()
            if not total:
                continue
            with click.progressbar(
                length=total, label=f"{election.slug}: probing", file=sys.stderr
            ) as bar:
                outcome = health.check(
                    election, concurrency=concurrency, timeout=timeout, progress=bar.update
                )
            click.echo(
                f"{election.slug}: {outcome.checked:,} webcams, {outcome.up:,} up, "
                f"{outcome.down:,} down; went down: {', '.join(outcome.went_down) or '-'}; "
                f"recovered: {', '.join(outcome.recovered) or '-'}"
            )
        if not interval or stop.wait(interval):
            return
