"""Canonicalize an in-memory frame of events with the batch reader's rules.

The live service receives events per HTTP request or per followed file, not as a log on
disk; :func:`canonicalize_frame` maps and validates such a frame with the SAME column /
event-type maps and conversions as :func:`archetype.events.read_events` (it calls the
reader's own mapping, ``read._canonical``), and reports what it dropped the same way.

Differences from the batch reader, because a frame is one request and must be accepted
or refused whole: a bad value is an error naming its row and column (the batch reader
names the first bad value of a file), and there is no as-of cut (the live service keeps
every event and cuts when it answers).  A value that does not parse as a number in
``amount``, ``quantity`` or ``discount`` is an error here instead of becoming 0.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from archetype.errors import DataError
from archetype.events.config import EventsConfig
from archetype.events.read import _TS_RAW, _TYPE_RAW, _canonical
from archetype.events.readers import Source
from archetype.events.report import ValidationReport
from archetype.events.schema import OPTIONAL_COLUMNS

ROW = "__row"
EVENT_ID = "event_id"
_NUMERIC = ("amount", "quantity", "discount")
FRAME_COLUMNS = ("customer_id", "ts", *OPTIONAL_COLUMNS, EVENT_ID, ROW)


def _default_label(i: int) -> str:
    return f"row {i + 1}"


def canonicalize_frame(
    df: pl.DataFrame,
    config: EventsConfig | None = None,
    *,
    source: str = "<events>",
    row_label: Callable[[int], str] = _default_label,
) -> tuple[pl.DataFrame, ValidationReport]:
    """Map and validate ``df`` (the user's columns) onto the canonical schema.

    Parameters
    ----------
    df : pl.DataFrame
        Events with the user's column names (mapped by ``config.columns``).
    config : EventsConfig, optional
        Column and event-type maps, timestamp format (as for the batch reader).
    source : str
        Named in error messages (a file path, ``"POST /v1/events"``).
    row_label : callable
        Row index (0-based) -> how errors name it (default ``"row N"``, 1-based).

    Returns
    -------
    (pl.DataFrame, ValidationReport)
        Columns :data:`FRAME_COLUMNS`: the canonical columns, ``event_id`` (String, null
        when the frame has none) and ``__row`` (the input row index).  Rows without a
        customer id or with an unknown event type are dropped and counted, as in batch.

    Raises
    ------
    DataError
        Missing ``customer_id``/``ts`` column, a timestamp or number that does not parse
        (naming the row, column and value), a customer id of another type.
    """
    cfg = config or EventsConfig()
    src = Source(source, (source,), "frame", False)
    _check_numbers(df, cfg, source, row_label)
    lf, transaction_only = _canonical(df.lazy(), df.schema, cfg, src, compact=False)
    eid_col = cfg.columns.get(EVENT_ID, EVENT_ID)
    if eid_col in df.columns:
        eid = df.get_column(eid_col).cast(pl.String).alias(EVENT_ID)
    else:
        eid = pl.Series(EVENT_ID, [None] * df.height, dtype=pl.String)
    try:
        out = lf.collect().with_columns(eid, pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW))
    except pl.exceptions.PolarsError as e:
        msg = str(e).strip().splitlines()[0]
        raise DataError(f"cannot convert a column ({msg})", path=source) from None
    bad_ts = out.filter(pl.col("ts").is_null())
    if bad_ts.height:
        i = int(bad_ts[ROW][0])
        raw = bad_ts[_TS_RAW][0]
        what = "missing timestamp" if raw is None else f"unparseable timestamp {raw!r}"
        hint = "" if raw is None else "; set [events] timestamp_format"
        raise DataError(f"{row_label(i)}: {what}{hint}", path=source, column="ts")
    null_ids = out["customer_id"].null_count()
    unknown = out.filter(pl.col("event_type").is_null() & pl.col("customer_id").is_not_null())
    kept = out.filter(pl.col("customer_id").is_not_null() & pl.col("event_type").is_not_null())
    report = ValidationReport(
        rows_scanned=df.height,
        null_customer_ids=int(null_ids),
        unknown_event_types=unknown.height,
        returns=int(
            kept.select(
                ((pl.col("event_type") == "purchase") & (pl.col("amount") < 0)).sum()
            ).item()
        ),
        rows_used=kept.height,
        first_day=None if kept.height == 0 else kept["ts"].min().date().isoformat(),
        last_day=None if kept.height == 0 else kept["ts"].max().date().isoformat(),
    )
    report.transaction_only = transaction_only
    if unknown.height:
        vals = unknown[_TYPE_RAW].drop_nulls().unique(maintain_order=True).head(5)
        report.unknown_event_values = [str(v) for v in vals.to_list()]
    return kept.select(FRAME_COLUMNS), report


def _check_numbers(
    df: pl.DataFrame, cfg: EventsConfig, source: str, row_label: Callable[[int], str]
) -> None:
    """A mapped numeric column whose non-null value does not parse is an error."""
    for canon in _NUMERIC:
        user = cfg.columns.get(canon, canon)
        if user not in df.columns:
            continue
        col = df.get_column(user)
        if col.dtype.is_float():
            bad = (~col.is_finite()).fill_null(False)
        elif col.dtype.is_numeric() or col.dtype == pl.Null:
            bad = None
        else:
            target = pl.Int64 if canon == "quantity" else pl.Float64
            conv = col.cast(pl.String).str.strip_chars().cast(target, strict=False)
            bad = conv.is_null() & col.is_not_null()
        if bad is None or not bad.any():
            continue
        i = int(bad.arg_max())
        raise DataError(
            f"{row_label(i)}: {col[i]!r} is not a finite number", path=source, column=user
        )
