"""``secki forensics FILE --map MAPPING``: the forensics suite on any station-level CSV."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from secki.forensics.loading import DataError, load_table
from secki.forensics.mapping import MappingError
from secki.forensics.report import render
from secki.forensics.suite import STEPS, run_suite


@click.command("forensics")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Column mapping (JSON or TOML); see examples/mappings/.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write PNG plots (fingerprint, integer percentages, digits) into this directory.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON results to stdout.")
@click.option("--seed", default=1, show_default=True, help="Seed of every random step.")
@click.option(
    "--replicates",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Monte-Carlo replicates of the integer-percentage null.",
)
@click.option(
    "--fit-bootstrap",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Bootstrap replicates of the Klimek fit's interval.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave out (and count) rows with invalid values instead of stopping.",
)
def forensics(
    file: Path,
    mapping: Path,
    out: Path | None,
    as_json: bool,
    seed: int,
    replicates: int,
    fit_bootstrap: int,
    skip_invalid: bool,
) -> None:
    """Run integrity statistics on a station-level results FILE (CSV, zipped or not).

    Prints a readable report (to stderr with --json, whose results go to stdout), shows
    progress on stderr and, with --out, writes PNG plots.
    """
    err = sys.stderr

    def progress(rows: list[list[str]]) -> Iterator[Any]:
        with click.progressbar(rows, label="reading rows", file=err) as bar:
            yield from bar

    try:
        table = load_table(file, mapping, skip_invalid=skip_invalid, progress=progress)
    except (MappingError, DataError) as exc:
        raise click.UsageError(str(exc)) from exc
    if table.rows.size == 0:
        raise click.UsageError(f"no usable rows in {file}")

    with click.progressbar(length=len(STEPS), label="analysing", file=err) as bar:
        result = run_suite(
            table,
            seed=seed,
            replicates=replicates,
            fit_bootstrap=fit_bootstrap,
            step=lambda _name: bar.update(1),
        )
    payload = result.to_json()
    payload["file"] = str(file)
    if out is not None:
        from secki.forensics.plots import write_plots

        payload["plots"] = [str(p) for p in write_plots(result, out)]
    text = render(result, source=file.name)
    if out is not None:
        text += "\n\nPlots: " + ", ".join(payload["plots"])
    if as_json:
        click.echo(text, err=True)
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(text)
