"""``secki simulate``: write a simulated election bundle (docs/formats.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from secki.simulator.config import (
    DEFAULT_SEED,
    STATIONS_2024,
    FraudSpecError,
    SimulationConfig,
    parse_fraud,
)

FRAUD_HELP = """Fraud to inject, with ground truth in truth.csv. Clauses separated by ';' (or ','):
'stuffing[:fi=F,fe=F,theta=F,alpha=F]' is Klimek et al. (2012) ballot stuffing: incremental with
probability fi (x ~ |N(0,theta)|), extreme with probability fe (x = 1 - |N(0,0.075)|), vote
stealing x^alpha (defaults fi=0.1, fe=0.01, theta=0.15, alpha=2);
'integer[:share=F,what=both|leader|turnout]' rewrites a share of all stations (default 0.05)
so that the leader's share and/or the turnout are integer percentages. Example:
--fraud 'stuffing:fi=0.1,fe=0.02,theta=0.2,alpha=2;integer:share=0.05'. Repeatable."""

STEPS = (
    "territory",
    "votes",
    "turnout",
    "fraud",
    "election.json",
    "units.csv",
    "stations.csv",
    "candidates.csv",
    "turnout.csv",
    "protocols.csv",
    "truth.csv",
)


@click.command(name="simulate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the bundle to (created if missing; files are overwritten).",
)
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Random seed.")
@click.option(
    "--stations",
    default=STATIONS_2024,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Number of polling stations.",
)
@click.option(
    "--constituencies",
    type=click.IntRange(1),
    default=None,
    help="Number of constituencies [default: 125, or about 2,000 stations each above 250,000].",
)
@click.option("--candidates", default=7, show_default=True, type=click.IntRange(2, 100))
@click.option(
    "--list-seats",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Above 0: a second contest on the same protocol, party lists sharing this many seats "
    "(D'Hondt, 5 % threshold), beside the presidential vote.",
)
@click.option("--fraud", "fraud", multiple=True, metavar="SPEC", help=FRAUD_HELP)
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary.")
def simulate(
    out_dir: Path,
    seed: int,
    stations: int,
    constituencies: int | None,
    candidates: int,
    list_seats: int,
    fraud: tuple[str, ...],
    quiet: bool,
) -> None:
    """Simulate a presidential election and write it as a Secki bundle.

    The defaults model the Azerbaijani presidential election of 7 February 2024 (125
    constituencies, 6,537 stations, 6,478,623 voters, turnout 76.4 %) with neutral candidate
    names; the output is labelled simulated. The same seed gives byte-identical files.
    """
    from secki.simulator.model import simulate as run
    from secki.simulator.write import write_bundle

    try:
        spec = parse_fraud(*fraud)
    except FraudSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--fraud") from None
    if constituencies is not None and constituencies > stations:
        raise click.BadParameter("cannot exceed --stations", param_hint="--constituencies")
    config = SimulationConfig(
        seed=seed,
        stations=stations,
        constituencies=constituencies,
        candidates=candidates,
        fraud=spec,
        list_seats=list_seats,
    )
    started = time.perf_counter()
    if quiet:
        election = run(config)
        write_bundle(election, out_dir)
        return
    with click.progressbar(
        length=len(STEPS),
        label=f"Simulating {stations:,} stations",
        file=sys.stderr,
        item_show_func=lambda name: name,
        show_eta=False,
    ) as bar:
        started_steps: list[str] = []

        def progress(name: str) -> None:
            bar.update(1 if started_steps else 0, name)
            started_steps.append(name)

        election = run(config, progress=progress)
        counts = write_bundle(election, out_dir, progress=progress)
        bar.update(1, "done")
    elapsed = time.perf_counter() - started
    summary = election.summary()
    shares = ", ".join(
        f"{c.name} {100 * share:.2f} %"
        for c, share in zip(election.candidates, summary["shares"], strict=True)
    )
    click.echo(f"Wrote a simulated election to {out_dir} in {elapsed:.1f} s (seed {seed})")
    click.echo(
        f"  {summary['stations']:,} stations in {summary['constituencies']:,} constituencies"
        f" ({summary['in_nax']} in NAX); {summary['abroad']:,} abroad,"
        f" {summary['temporary']:,} temporary, {summary['webcam']:,} with webcams"
    )
    click.echo(
        f"  {summary['registered']:,} registered voters, turnout {100 * summary['turnout']:.2f} %,"
        f" {summary['valid']:,} valid votes"
    )
    click.echo(f"  {shares}")
    click.echo(
        f"  {counts['turnout.csv']:,} turnout reports, {counts['protocols.csv']:,} protocols"
    )
    if spec.any:
        click.echo(
            f"  fraud {spec.describe()}: {summary['stuffed_incremental']:,} incremental and"
            f" {summary['stuffed_extreme']:,} extreme stuffing, {summary['integer_rewrites']:,}"
            f" integer rewrites ({counts['truth.csv']:,} stations in truth.csv)"
        )
    else:
        click.echo("  no fraud injected (truth.csv is empty)")
