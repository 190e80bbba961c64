"""Write one block of generated events as day-partitioned Parquet files.

Layout: ``events/date=YYYY-MM-DD/part-BBBBB.parquet``, one file per (day, block), rows
sorted by ``customer_id`` then ``ts``.  Columns and dtypes are those of
:data:`EVENT_SCHEMA` (docs/CONTRACTS.md); codes become strings, sentinel values nulls.
``event_id`` is ``"<customer_id>-<n>"``, ``n`` the event's position in its customer's
history (time order, ties in generation order): unique, and the same for a seed whatever
the block size.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from archetype.events import schema
from archetype.synth import archetypes as A
from archetype.synth.behavior import ChunkEvents

DAY_US = 86_400_000_000

#: Column names and dtypes of the event files.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "ts": pl.Datetime("us"),
    **schema.DTYPES,
}

_EVENT_TYPES = pl.Series(A.EVENT_TYPES, dtype=pl.String)
_CHANNELS = pl.Series(A.CHANNELS, dtype=pl.String)
_CATEGORIES = pl.Series([*A.CATEGORIES, None], dtype=pl.String)  # code -1 → last → null


def epoch_us(day: dt.date) -> int:
    """Microseconds since 1970-01-01 of midnight at the start of ``day``."""
    return (day - dt.date(1970, 1, 1)).days * DAY_US


def events_frame(ev: ChunkEvents, start: dt.date) -> tuple[pl.DataFrame, np.ndarray]:
    """Sorted event frame of a block and the day offset of each row.

    Rows are ordered by (day, customer_id, ts); ties keep generation order, which is the
    same whatever the block size.
    """
    offset_us = np.floor(ev.t * DAY_US).astype(np.int64)
    day = offset_us // DAY_US
    order = np.lexsort((offset_us, ev.customer, day))
    cat = ev.category[order].astype(np.int64)
    cat[cat < 0] = len(A.CATEGORIES)
    qty = ev.quantity[order]
    frame = pl.DataFrame(
        {
            "customer_id": pl.Series(ev.customer[order], dtype=pl.Int64),
            "ts": pl.Series(offset_us[order] + epoch_us(start), dtype=pl.Int64).cast(
                pl.Datetime("us")
            ),
            "event_type": _EVENT_TYPES.gather(ev.event_type[order]),
            "amount": pl.Series(ev.amount[order], dtype=pl.Float64, nan_to_null=True),
            "quantity": pl.Series(qty, dtype=pl.Int32),
            "discount": pl.Series(ev.discount[order], dtype=pl.Float64, nan_to_null=True),
            "channel": _CHANNELS.gather(ev.channel[order]),
            "category": _CATEGORIES.gather(cat),
        }
    ).with_columns(
        pl.when(pl.col("quantity") >= 0).then(pl.col("quantity")).alias("quantity"),
        pl.format(
            "{}-{}", pl.col("customer_id"), pl.int_range(pl.len()).over("customer_id")
        ).alias("event_id"),
    )
    return frame, day[order]


def write_block(ev: ChunkEvents, events_dir: Path, block: int, start: dt.date) -> int:
    """Write a block's events, one file per day it touches; returns the number of files."""
    frame, day = events_frame(ev, start)
    if frame.height == 0:
        return 0
    days, first = np.unique(day, return_index=True)
    ends = np.append(first[1:], len(day))
    for d, lo, hi in zip(days.tolist(), first.tolist(), ends.tolist(), strict=True):
        part = events_dir / f"date={start + dt.timedelta(days=d):%Y-%m-%d}"
        part.mkdir(exist_ok=True)
        frame.slice(lo, hi - lo).write_parquet(part / f"part-{block:05d}.parquet")
    return len(days)
