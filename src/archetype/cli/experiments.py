"""CLI: ``archetype triggers replay`` and ``archetype experiments report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from archetype.cli._common import Overwrite, check_out, console, parse_date, progress_tracker
from archetype.errors import UserError

triggers_app = typer.Typer(
    help="Behavioral triggers evaluated in event time (see docs/triggers.md).",
    no_args_is_help=True,
)
experiments_app = typer.Typer(
    help="Experiments attached to triggers: exposures, conversions, uplift vs holdout.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.add_typer(triggers_app, name="triggers")
    app.add_typer(experiments_app, name="experiments")


@triggers_app.command("replay")
def replay_cmd(
    events: Annotated[Path, typer.Option(help="Event log: file, folder (hive) or glob.")],
    config: Annotated[
        Path, typer.Option(help="TOML with [triggers] (and [experiments], [events]) tables.")
    ],
    as_of: Annotated[str, typer.Option(help="Last day replayed, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Output folder (a new one, or an earlier replay's "
                                              "with --overwrite).")],
    root: Annotated[
        Path | None,
        typer.Option(help="Pipeline root: nightly segments for transitions and filters."),
    ] = None,
    window_days: Annotated[
        int | None, typer.Option(help="Only the last N days up to --as-of.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    overwrite: Overwrite = False,
) -> None:
    """Compute what the triggers would have fired on a log (delivery off).

    Example:

        archetype triggers replay --events data/events --config live.toml \\
            --as-of 2026-11-30 --root seg --out replay/

    Writes OUT/firings.parquet, exposures.parquet, uplift.parquet and summary.json.
    """
    from archetype.events import EventsConfig, read_events
    from archetype.live.automation import AutomationConfig, read_toml
    from archetype.live.backfill import backfill_triggers

    day = parse_date(as_of, option="--as-of")
    check_out(out, "replay", overwrite)
    doc = read_toml(config)
    cfg = AutomationConfig.from_dict(doc, source=str(config))
    ev_cfg = EventsConfig.from_dict(doc.get("events", {}))
    scan = read_events(events, ev_cfg, as_of=day, window_days=window_days)
    frame = scan.lazy.sort("ts").collect()
    with progress_tracker(enabled=progress) as tracker:
        s = backfill_triggers(
            frame, cfg, out, root=root, as_of=day, tracker=tracker, overwrite=overwrite
        )
    console.print(
        f"replayed {s.events:,} events: {s.firings:,} firings, {s.exposures:,} exposures"
        f"{f', {s.late:,} late events ignored' if s.late else ''} -> {out}",
        highlight=False,
        soft_wrap=True,
    )
    if cfg.triggers.rules:  # every rule, those that never fired too (a 0 is a finding)
        t = Table("rule", "firings", title="firings per rule")
        for rule in cfg.triggers.rules:
            t.add_row(rule.name, f"{s.per_rule.get(rule.name, 0):,}")
        console.print(t)
    if s.uplift is not None:
        _print_uplift(s.uplift)


@experiments_app.command("report")
def report_cmd(
    exposures: Annotated[
        Path,
        typer.Option(help="exposures.parquet (from `triggers replay`), or the folder holding it."),
    ],
    by_segment: Annotated[
        bool, typer.Option("--by-segment", help="One block per segment at exposure time.")
    ] = False,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the table as JSON here.")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Per variant (and segment): exposures, conversions, uplift vs holdout with a CI.

    Example: archetype experiments report --exposures replay/ --by-segment
    """
    from archetype._atomic import write_json_atomic
    from archetype.live.experiments.uplift import read_uplift

    if not 0.0 < confidence < 1.0:
        raise UserError(f"--confidence={confidence} should be between 0 and 1")
    if json_out is not None:
        check_out(json_out, "uplift", overwrite)
    table = read_uplift(
        exposures, by_segment=by_segment, confidence=confidence, experiment=experiment
    )
    _print_uplift(table, confidence=confidence)
    if json_out is not None:
        write_json_atomic(
            json_out,
            {"confidence": confidence, "rows": table.to_dicts()},
            kind="uplift",
            overwrite=overwrite,
        )
        console.print(f"wrote {json_out}", highlight=False)


def _pp(v) -> str:
    return "-" if v is None else f"{100 * v:+.1f}"


def _print_uplift(table, confidence: float = 0.95) -> None:
    """One table per experiment; uplift in percentage points, relative uplift in %."""
    from rich import box

    by_seg = "segment_id" in table.columns
    ci = f"{round(confidence * 100):g}% CI"
    for (name,), part in table.group_by(["experiment"], maintain_order=True):
        cols = [
            *(["segment"] if by_seg else []),
            "variant",
            "exposed",
            "conv/matured",
            "rate",
            f"uplift pp [{ci}]",
            "relative [CI]",
            "p",
        ]
        t = Table(
            *cols, title=f"{name}: uplift vs holdout", box=box.SIMPLE_HEAD, title_justify="left"
        )
        for r in part.iter_rows(named=True):
            rate = "-" if r["rate"] is None else f"{100 * r['rate']:.1f}%"
            up = (
                "-"
                if r["uplift"] is None
                else (f"{_pp(r['uplift'])} [{_pp(r['ci_low'])}, {_pp(r['ci_high'])}]")
            )
            rel = (
                "-"
                if r["rel_uplift"] is None
                else (
                    f"{100 * r['rel_uplift']:+.0f}% [{100 * r['rel_ci_low']:+.0f}, "
                    f"{100 * r['rel_ci_high']:+.0f}]"
                )
            )
            seg = [("none" if r["segment_id"] is None else str(r["segment_id"]))] if by_seg else []
            p = "-" if r["p_value"] is None else f"{r['p_value']:.2g}"
            t.add_row(
                *seg,
                r["variant"],
                f"{r['exposures']:,}",
                f"{r['conversions']:,}/{r['matured']:,}",
                rate,
                up,
                rel,
                p,
            )
        console.print(t)
