"""``secki audit-sample``: redo an audit's sample from the published seed and manifest."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click


@click.command("audit-sample")
@click.option("--seed", required=True, help="the seed of the audit's public ceremony")
@click.option(
    "--manifest",
    "manifest_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the audit's published manifest (CSV)",
)
@click.option("--draws", type=click.IntRange(min=1), required=True, help="how many draws")
@click.option(
    "--first",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="number of the first draw (round 2 goes on where round 1 stopped)",
)
def audit_sample(seed: str, manifest_path: Path, draws: int, first: int) -> None:
    """Print draws FIRST … FIRST+DRAWS−1 as CSV: draw, ticket, station, ballot (ballot
    polling). Uses nothing but the seed, the manifest and SHA-256 (the rule is printed by the
    audit's page and logged with its set-up)."""
    from secki.audits.published import read_manifest
    from secki.audits.sampling import draw

    try:
        manifest = read_manifest(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise click.BadParameter(f"{manifest_path}: {error}", param_hint="--manifest") from None
    picks = []
    chunk = 10_000
    with click.progressbar(length=draws, label="Drawing", file=sys.stderr) as bar:
        for start in range(first, first + draws, chunk):
            n = min(chunk, first + draws - start)
            picks.extend(
                draw(
                    seed.strip(),
                    n=n,
                    first=start,
                    bounds=manifest.bounds,
                    ballots=None if manifest.bounds is not None else manifest.ballots,
                )
            )
            bar.update(n)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["draw", "ticket", "station", "ballot"])
    for p in picks:
        writer.writerow([p.number, p.ticket, manifest.codes[p.position], p.ballot or ""])
