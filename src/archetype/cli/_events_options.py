"""The event-log reading flags, declared once and shared by ``features``, ``run``, ``backfill``.

Each flag overrides one key of the ``[events]`` table of a config TOML
(:class:`archetype.events.EventsConfig`); :func:`events_flags` turns the values given into
that table's shape (``None`` = not given, the file's value stands).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from archetype.errors import UserError
from archetype.vocab import BadValuePolicy, DedupeMode, IdDtype, InputFormat, TimestampUnit

_PANEL = "Reading the event log (\\[events] table)"

Column = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        help="Map a canonical column to yours: customer_id=user_id (repeatable); "
        "event_id=order_id,line_no names several columns. \\[events.columns]",
        rich_help_panel=_PANEL,
    ),
]
EventType = Annotated[
    list[str] | None,
    typer.Option(
        "--event-type",
        help="Map your event value to a canonical type: checkout_completed=purchase "
        "(repeatable). \\[events.event_types]",
        rich_help_panel=_PANEL,
    ),
]
TimestampFormat = Annotated[
    str | None,
    typer.Option(
        "--timestamp-format",
        help="strftime format of text (or YYYYMMDD-number) timestamps, e.g. %d/%m/%Y %H:%M "
        "or %Y%m%d; default: ISO-8601 with optional Z/+HH:MM. \\[events] timestamp_format",
        rich_help_panel=_PANEL,
    ),
]
TimestampUnitOpt = Annotated[
    TimestampUnit | None,
    typer.Option(
        "--timestamp-unit",
        help="Timestamps are epoch numbers in this unit (UTC). \\[events] timestamp_unit",
        rich_help_panel=_PANEL,
    ),
]
Timezone = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="IANA zone whose days are used; zoned times are converted to it, naive ones "
        "are taken as already in it (default UTC). \\[events] timezone",
        rich_help_panel=_PANEL,
    ),
]
CsvSeparator = Annotated[
    str | None,
    typer.Option(
        "--csv-separator",
        help="CSV field separator, e.g. ';' or tab (default ','). \\[events] csv_separator",
        rich_help_panel=_PANEL,
    ),
]
OnBadValue = Annotated[
    BadValuePolicy | None,
    typer.Option(
        "--on-bad-value",
        help="A timestamp/amount/quantity/discount that does not parse: error (exit 2, "
        "default), drop-row or null (treated as missing); counted in the report. "
        "\\[events] on_bad_value",
        rich_help_panel=_PANEL,
    ),
]
DecimalComma = Annotated[
    bool | None,
    typer.Option(
        "--decimal-comma/--decimal-point",
        help="Text numbers are written 1.234,56 (default: 1,234.56). \\[events] decimal_comma",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
Dedupe = Annotated[
    DedupeMode | None,
    typer.Option(
        "--dedupe",
        help="auto: one event per (customer_id, event_id) when there is an event id, else "
        "keep every row and warn about identical rows; exact: drop rows identical in every "
        "column; none: keep every row. \\[events] dedupe",
        rich_help_panel=_PANEL,
    ),
]
IdDtypeOpt = Annotated[
    IdDtype | None,
    typer.Option(
        "--id-dtype",
        help="Customer ids: auto (CSV text, keeps leading zeros; Parquet as stored), str "
        "or int. \\[events] id_dtype",
        rich_help_panel=_PANEL,
    ),
]
Format = Annotated[
    InputFormat | None,
    typer.Option(
        "--format",
        help="Input format when a folder holds both, or names do not tell. \\[events] format",
        rich_help_panel=_PANEL,
    ),
]


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["a=b", ...]`` -> ``{"a": "b"}``; a value without ``=`` is a user error."""
    out: dict[str, str] = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise UserError(f"{option} {v!r} should look like KEY=VALUE")
        out[key.strip()] = val.strip()
    return out


def events_flags(
    *,
    column: list[str] | None = None,
    event_type: list[str] | None = None,
    timestamp_format: str | None = None,
    timestamp_unit: TimestampUnit | None = None,
    timezone: str | None = None,
    csv_separator: str | None = None,
    on_bad_value: BadValuePolicy | None = None,
    decimal_comma: bool | None = None,
    dedupe: DedupeMode | None = None,
    id_dtype: IdDtype | None = None,
    format: InputFormat | None = None,  # noqa: A002 - the [events] key's name
) -> dict[str, Any]:
    """The flags given, shaped as an ``[events]`` table (to merge over the file's)."""
    columns: dict[str, Any] = pairs(column, "--column")
    if "event_id" in columns and "," in columns["event_id"]:
        columns["event_id"] = [c.strip() for c in columns["event_id"].split(",") if c.strip()]
    settings = {
        "timestamp_format": timestamp_format,
        "timestamp_unit": timestamp_unit,
        "timezone": timezone,
        "csv_separator": csv_separator,
        "on_bad_value": on_bad_value,
        "decimal_comma": decimal_comma,
        "dedupe": dedupe,
        "id_dtype": id_dtype,
        "format": format,
    }
    out: dict[str, Any] = {k: str(v) if hasattr(v, "value") else v for k, v in settings.items()}
    out = {k: v for k, v in out.items() if v is not None}
    if columns:
        out["columns"] = columns
    event_types = pairs(event_type, "--event-type")
    if event_types:
        out["event_types"] = event_types
    return out
