"""CLI command ``archetype features``: event log in, feature directory out."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from archetype.cli._common import console, parse_date, progress_tracker
from archetype.errors import UserError


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise UserError(f"{option} {v!r} should look like KEY=VALUE")
        out[key.strip()] = val.strip()
    return out


def load_toml(path: Path) -> dict:
    """Read a config TOML; a missing or malformed file is a user error naming it."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError("config file not found", path=path) from None
    except (tomllib.TOMLDecodeError, OSError) as e:
        raise UserError(f"not a valid TOML file ({e})", path=path) from None


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""

    @app.command("features")
    def features(
        events: Annotated[
            str, typer.Option("--events", help="Parquet/CSV file, glob, or (hive) folder.")
        ],
        as_of: Annotated[
            str, typer.Option("--as-of", help="Last day included, YYYY-MM-DD (the whole day).")
        ],
        out: Annotated[Path, typer.Option("--out", help="Feature directory to write.")],
        config: Annotated[
            Path | None,
            typer.Option(
                "--config", help="TOML with [events.columns], [events.event_types], [features]."
            ),
        ] = None,
        window_days: Annotated[
            int | None, typer.Option("--window-days", min=1, help="Lookback window in days.")
        ] = None,
        column: Annotated[
            list[str] | None,
            typer.Option(
                "--column",
                help="Map a canonical column to yours: customer_id=user_id (repeatable).",
            ),
        ] = None,
        event_type: Annotated[
            list[str] | None,
            typer.Option(
                "--event-type",
                help="Map your event value to a canonical type: checkout_completed=purchase.",
            ),
        ] = None,
        timestamp_format: Annotated[
            str | None,
            typer.Option("--timestamp-format", help="strftime format of string timestamps."),
        ] = None,
        progress: Annotated[
            bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
        ] = True,
        engine: Annotated[
            str,
            typer.Option("--engine", help="Who computes: local, or ray ('archetype[ray]')."),
        ] = "local",
        ray_address: Annotated[
            str | None,
            typer.Option(
                "--ray-address", envvar="RAY_ADDRESS", help="Ray cluster for --engine ray."
            ),
        ] = None,
    ) -> None:
        """Build behavioral features and the embedding from an event log."""
        from archetype.events import EventsConfig
        from archetype.features.featureset import split_config
        from archetype.pipeline.engine import get_engine

        day = parse_date(as_of, option="--as-of")
        doc = load_toml(config) if config is not None else {}
        ev_cfg, feat_cfg = split_config(
            {"events": doc.get("events", {}), "features": doc.get("features", {})}
        )
        ev_cfg = ev_cfg.merged(_pairs(column, "--column"), _pairs(event_type, "--event-type"))
        if timestamp_format is not None:
            ev_cfg = EventsConfig(**{**ev_cfg.__dict__, "timestamp_format": timestamp_format})
        ev_cfg.__post_init__()
        eng = get_engine(engine, ray_address)  # an unknown engine fails before any work
        with progress_tracker(progress) as tracker:
            fs = eng.features(events, day, out, config=feat_cfg, events_config=ev_cfg,
                              window_days=window_days, tracker=tracker)
        r = fs.manifest["report"]
        console.print(
            f"wrote {out}: {fs.manifest['n_customers']:,} customers x "
            f"{fs.embedding.shape[1]} dims from {fs.manifest['n_events']:,} events "
            f"(as-of {day.isoformat()}, horizon {fs.manifest['horizon_days']} days)",
            highlight=False,
        )
        console.print(
            f"validation: scanned {r['rows_scanned']:,}; dropped {r['null_customer_ids']:,} "
            f"null customer ids, {r['duplicate_events']:,} duplicates, "
            f"{r['unknown_event_types']:,} unknown event types"
            + (f" ({', '.join(r['unknown_event_values'])})" if r["unknown_event_values"] else "")
            + f"; {r['returns']:,} returns; ignored {r['after_as_of']:,} after as-of, "
            f"{r['before_window']:,} before window"
            + ("; transaction-only log (every row a purchase)" if r["transaction_only"] else ""),
            highlight=False,
        )
