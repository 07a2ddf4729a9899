"""``secki forensics FILE --map MAPPING``: the forensics suite on any station-level file."""

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
from secki.stats.fingerprint import THETA_GRID
from secki.stats.integer_percentages import CONVENTIONS, Convention


def _theta_grid(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[float, ...]:
    if value is None:
        return THETA_GRID
    try:
        grid = tuple(sorted({float(v) for v in value.split(",") if v.strip()}))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: a comma-separated list of numbers") from exc
    if not grid or any(not 0 < g <= 10 for g in grid):
        raise click.BadParameter(f"{value!r}: give at least one value, each in (0, 10]")
    return grid


@click.command("forensics")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Column mapping (JSON or TOML); see docs/forensics.md and examples/mappings/.",
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
    "--integer-convention",
    type=click.Choice(CONVENTIONS),
    default="exact",
    show_default=True,
    help="Integer percentage at exactly 0.05 from a whole number (541/2000 = 27.05 %): "
    "'exact' counts it (exact arithmetic), 'float' does not (float-based reference code, "
    "to reproduce published figures).",
)
@click.option(
    "--theta-grid",
    callback=_theta_grid,
    metavar="θ1,θ2,…",
    help="Grid of the Klimek fit's incremental-fraud width θ, refined continuously between "
    "grid values [default: " + ",".join(str(t) for t in THETA_GRID) + "].",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave out (and count) rows with invalid values instead of stopping.",
)
@click.option(
    "--unique-ids",
    is_flag=True,
    help='Stop on duplicate or empty station ids (the "id" columns) instead of warning.',
)
def forensics(
    file: Path,
    mapping: Path,
    out: Path | None,
    as_json: bool,
    seed: int,
    replicates: int,
    fit_bootstrap: int,
    integer_convention: Convention,
    theta_grid: tuple[float, ...],
    skip_invalid: bool,
    unique_ids: bool,
) -> None:
    """Run integrity statistics on a station-level results FILE.

    FILE may be CSV (any delimiter), .csv.gz, .csv.zip, .xlsx/.xls/.ods (choose the sheet
    with "sheet" in the mapping) or Parquet. The mapping says which columns hold what;
    every key, with examples and what each test needs, is in docs/forensics.md.

    Prints a readable report (to stderr with --json, whose results go to stdout), shows
    progress on stderr and, with --out, writes PNG plots. Bad input ends with a message
    and exit code 2.
    """
    err = sys.stderr

    def progress(rows: list[list[str]]) -> Iterator[Any]:
        with click.progressbar(rows, label="reading rows", file=err) as bar:
            yield from bar

    try:
        table = load_table(
            file, mapping, skip_invalid=skip_invalid, unique_ids=unique_ids, progress=progress
        )
    except (MappingError, DataError) as exc:
        raise click.UsageError(str(exc)) from exc
    except (ValueError, LookupError, OSError, MemoryError, RecursionError) as exc:
        raise click.UsageError(
            f"{file.name} cannot be read as a results table ({type(exc).__name__}: {exc})"
        ) from exc
    if table.rows.size == 0:
        raise click.UsageError(f"no usable rows in {file}")

    with click.progressbar(length=len(STEPS), label="analysing", file=err) as bar:
        result = run_suite(
            table,
            seed=seed,
            replicates=replicates,
            fit_bootstrap=fit_bootstrap,
            step=lambda _name: bar.update(1),
            integer_convention=integer_convention,
            theta_grid=theta_grid,
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
