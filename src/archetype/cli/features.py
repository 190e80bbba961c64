"""CLI command ``archetype features``: event log in, feature directory out."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from archetype.cli import _events_options as E
from archetype.cli._common import Overwrite, check_out, console, parse_date, progress_tracker
from archetype.errors import UserError
from archetype.vocab import EngineName

HELP = escape(
    """Build behavioral features and the embedding from an event log.

Reads Parquet or CSV (a file, a glob or a folder), maps your columns onto the canonical
ones, parses every value (a value that does not parse stops the run with one line naming
file, column, value and row), cuts at the as-of day and writes features.parquet,
embedding.npy and a manifest with the validation report.

Example: an order export with its own column names (orders.csv with user_id, created_at
like 2025-03-04T10:15:00+01:00, total like 74,92, order_id), described by events.toml:

  [events]
  timezone = "Europe/Paris"
  decimal_comma = true
  [events.columns]
  customer_id = "user_id"
  ts = "created_at"
  amount = "total"
  event_id = "order_id"

  archetype features --events orders.csv --as-of 2026-03-31 --out feats --config events.toml

The same with flags only:

  archetype features --events orders.csv --as-of 2026-03-31 --out feats \\
    --column customer_id=user_id --column ts=created_at --column amount=total \\
    --column event_id=order_id --timezone Europe/Paris --decimal-comma"""
)


def load_toml(path: Path) -> dict:
    """Read a config TOML; a missing or malformed file is a user error naming it."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError("config file not found", path=path) from None
    except (tomllib.TOMLDecodeError, OSError) as e:
        raise UserError(f"not a valid TOML file ({e})", path=path) from None


def _not_inside(out: Path, events: str) -> None:
    """``--out`` inside the events folder would be read back as events next time."""
    ev = Path(events)
    if ev.is_dir() and Path(os.path.abspath(out)).is_relative_to(os.path.abspath(ev)):
        raise UserError("--out is inside the --events folder; choose another --out", path=out)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""

    @app.command("features", help=HELP)
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
                "--config",
                help="TOML with \\[events], \\[events.columns], \\[events.event_types], "
                "\\[features] (flags win over it).",
            ),
        ] = None,
        window_days: Annotated[
            int | None, typer.Option("--window-days", min=1, help="Lookback window in days.")
        ] = None,
        column: E.Column = None,
        event_type: E.EventType = None,
        timestamp_format: E.TimestampFormat = None,
        timestamp_unit: E.TimestampUnitOpt = None,
        timezone: E.Timezone = None,
        csv_separator: E.CsvSeparator = None,
        on_bad_value: E.OnBadValue = None,
        decimal_comma: E.DecimalComma = None,
        dedupe: E.Dedupe = None,
        id_dtype: E.IdDtypeOpt = None,
        format: E.Format = None,  # noqa: A002 - the flag's name
        progress: Annotated[
            bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
        ] = True,
        engine: Annotated[
            EngineName,
            typer.Option("--engine", help="Who computes: local, or ray ('archetype\\[ray]')."),
        ] = EngineName.LOCAL,
        ray_address: Annotated[
            str | None,
            typer.Option(
                "--ray-address", envvar="RAY_ADDRESS", help="Ray cluster for --engine ray."
            ),
        ] = None,
        overwrite: Overwrite = False,
    ) -> None:
        from archetype.events import EventsConfig
        from archetype.features import FeatureConfig
        from archetype.pipeline.engine import get_engine

        day = parse_date(as_of, option="--as-of")
        check_out(out, "features", overwrite)
        _not_inside(out, events)
        doc = load_toml(config) if config is not None else {}
        flags = E.events_flags(
            column=column,
            event_type=event_type,
            timestamp_format=timestamp_format,
            timestamp_unit=timestamp_unit,
            timezone=timezone,
            csv_separator=csv_separator,
            on_bad_value=on_bad_value,
            decimal_comma=decimal_comma,
            dedupe=dedupe,
            id_dtype=id_dtype,
            format=format,
        )
        ev_cfg = EventsConfig.from_dict(doc.get("events"), path=config)
        ev_cfg = ev_cfg.merged(flags.pop("columns", None), flags.pop("event_types", None), **flags)
        feat_cfg = FeatureConfig.from_dict(doc.get("features"), path=config)
        eng = get_engine(engine, ray_address)  # an unknown engine fails before any work
        with progress_tracker(progress) as tracker:
            # check_out above refused anything but an earlier features output (or --overwrite)
            fs = eng.features(events, day, out, config=feat_cfg, events_config=ev_cfg,
                              window_days=window_days, tracker=tracker)
        r = fs.manifest["report"]
        console.print(
            f"wrote {out}: {fs.manifest['n_customers']:,} customers x "
            f"{fs.embedding.shape[1]} dims from {fs.manifest['n_events']:,} events "
            f"(as-of {day.isoformat()}, horizon {fs.manifest['horizon_days']} days)",
            highlight=False,
            markup=False,
        )
        console.print(validation_line(r), highlight=False, markup=False)


def validation_line(r: dict) -> str:
    """The report of a feature manifest as one line for humans."""
    dup = f"{r['duplicate_events']:,} duplicates"
    if r.get("dedupe"):
        dup += f" (rule: {r['dedupe']})"
    bad = r.get("bad_values") or {}
    parts = [
        f"validation: scanned {r['rows_scanned']:,}; dropped {r['null_customer_ids']:,} "
        f"null customer ids, {dup}, {r['unknown_event_types']:,} unknown event types"
        + (f" ({', '.join(r['unknown_event_values'])})" if r["unknown_event_values"] else "")
    ]
    if bad:
        parts.append(
            f"bad values {', '.join(f'{k} {v:,}' for k, v in bad.items())} "
            f"({r.get('bad_rows_dropped', 0):,} rows dropped, "
            f"{r.get('values_nulled', 0):,} read as missing)"
        )
    if r.get("identical_rows"):
        parts.append(f"{r['identical_rows']:,} identical rows kept")
    parts.append(
        f"{r['returns']:,} returns; ignored {r['after_as_of']:,} after as-of, "
        f"{r['before_window']:,} before window"
    )
    if r["transaction_only"]:
        parts.append("transaction-only log (every row a purchase)")
    if r.get("discount_as_flag"):
        parts.append("discount column read as 'discount used'")
    if r.get("timezone") and r["timezone"] != "UTC":
        parts.append(f"days in {r['timezone']}")
    return "; ".join(parts)
