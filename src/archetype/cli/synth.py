"""CLI command: ``archetype synth`` — a synthetic event log with planted archetypes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archetype.cli._common import Overwrite, check_out, console, parse_date, progress_tracker
from archetype.vocab import Scenario


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("synth")(synth)


def synth(
    customers: Annotated[int, typer.Option(help="Number of customers (ids 1..N).")],
    days: Annotated[int, typer.Option(help="Length of the event window in days.")],
    seed: Annotated[int, typer.Option(help="Random seed; same arguments give identical output.")],
    out: Annotated[Path, typer.Option(help="Output directory (written whole, atomically).")],
    end_date: Annotated[
        str, typer.Option(help="Last day of the window, YYYY-MM-DD.")
    ] = "2026-12-31",
    block_size: Annotated[
        int, typer.Option(help="Customers generated and written per block (bounds memory).")
    ] = 100_000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="base: stationary archetypes. drift: deal hunters lapse over weeks and a "
            "new behavior (social impulse buyers) appears mid-log; ground truth per day in "
            "DIR/truth_history.parquet."
        ),
    ] = Scenario.BASE,
    overwrite: Overwrite = False,
) -> None:
    """Write DIR/events/date=YYYY-MM-DD/*.parquet and DIR/truth.parquet (planted archetypes).

    Example: a year of events for 10,000 customers

      archetype synth --customers 10000 --days 365 --seed 1 --out synth

    A drifting world (ground truth per day) for the live service's continuous learning:

      archetype synth --customers 20000 --days 180 --seed 1 --scenario drift --out w
    """
    from archetype.synth import generate
    from archetype.synth.drift import generate_drift

    make = generate if scenario == Scenario.BASE else generate_drift
    end = parse_date(end_date, option="--end-date")
    check_out(out, "synth", overwrite)
    with progress_tracker(enabled=progress) as tracker:
        summary = make(
            out,
            customers=customers,
            days=days,
            seed=seed,
            end_date=end,
            block_size=block_size,
            tracker=tracker,
            overwrite=overwrite,
        )
    mix = ", ".join(f"{k} {v}" for k, v in summary.archetype_counts.items())
    console.print(
        f"wrote {summary.n_events:,} events for {summary.n_customers:,} customers "
        f"({summary.start_date} .. {summary.end_date}) in {summary.n_files:,} files, "
        f"{summary.seconds:.1f} s ({summary.events_per_second:,.0f} events/s) to {out}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"archetypes: {mix}", highlight=False, soft_wrap=True)
