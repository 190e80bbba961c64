"""CLI command: ``archetype synth`` — a synthetic event log with planted archetypes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archetype.cli._common import console, parse_date, progress_tracker


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("synth")(synth)


def synth(
    customers: Annotated[int, typer.Option(help="Number of customers (ids 1..N).")],
    days: Annotated[int, typer.Option(help="Length of the event window in days.")],
    seed: Annotated[int, typer.Option(help="Random seed; same arguments give identical output.")],
    out: Annotated[Path, typer.Option(help="Output directory (replaced atomically).")],
    end_date: Annotated[
        str, typer.Option(help="Last day of the window, YYYY-MM-DD.")
    ] = "2026-12-31",
    block_size: Annotated[
        int, typer.Option(help="Customers generated and written per block (bounds memory).")
    ] = 100_000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    scenario: Annotated[
        str,
        typer.Option(
            help="base: stationary archetypes. drift: deal hunters lapse over weeks and a "
            "new behavior (social impulse buyers) appears mid-log; ground truth per day in "
            "DIR/truth_history.parquet."
        ),
    ] = "base",
) -> None:
    """Write DIR/events/date=YYYY-MM-DD/*.parquet and DIR/truth.parquet (planted archetypes).

    Example: archetype synth --customers 20000 --days 180 --seed 1 --scenario drift --out w
    """
    from archetype.errors import UserError
    from archetype.synth import generate
    from archetype.synth.drift import generate_drift

    if scenario not in ("base", "drift"):
        raise UserError(f"--scenario={scenario!r} should be base or drift")
    make = generate if scenario == "base" else generate_drift
    end = parse_date(end_date, option="--end-date")
    with progress_tracker(enabled=progress) as tracker:
        summary = make(
            out,
            customers=customers,
            days=days,
            seed=seed,
            end_date=end,
            block_size=block_size,
            tracker=tracker,
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
