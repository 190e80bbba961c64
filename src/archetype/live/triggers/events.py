"""The event record the engines consume, and conversion from a canonical event frame.

The engines read events by attribute (``customer_id, ts_us, event_type, amount, quantity,
discount, channel, category, event_id``): the service's :class:`archetype.live.state.LiveEvent`
is used when that module is present; until then an identical local record stands in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

try:  # the service's record (issue 13)
    from archetype.live.state import LiveEvent
except ImportError:  # pragma: no cover - depends on which branches are merged

    @dataclass(frozen=True, slots=True)
    class LiveEvent:  # type: ignore[no-redef]
        """One canonical, validated, mapped event (times in microseconds, naive)."""

        customer_id: str | int
        ts_us: int
        event_type: str
        amount: float = 0.0
        quantity: int = 0
        discount: float = 0.0
        channel: str | None = None
        category: str | None = None
        event_id: str | None = None


__all__ = ["LiveEvent", "events_from_frame", "iter_events"]


def iter_events(df: pl.DataFrame) -> Iterator[LiveEvent]:
    """Rows of a canonical event frame (``archetype.events`` columns) as :class:`LiveEvent`.

    ``ts`` may be a ``Datetime`` (any unit) or integer microseconds; absent optional
    columns take the canonical defaults.
    """
    if df.height == 0:
        return
    ts = df["ts"]
    if ts.dtype == pl.Datetime or isinstance(ts.dtype, pl.Datetime):
        ts = ts.dt.cast_time_unit("us").dt.replace_time_zone(None).cast(pl.Int64)
    cols = {
        "ts_us": ts.to_list(),
        "customer_id": df["customer_id"].to_list(),
        "event_type": df["event_type"].to_list(),
    }
    n = df.height
    for name, default in (
        ("amount", 0.0),
        ("quantity", 0),
        ("discount", 0.0),
        ("channel", None),
        ("category", None),
        ("event_id", None),
    ):
        if name in df.columns:
            vals = df[name].to_list()
            if default is not None:
                vals = [default if v is None else v for v in vals]
            cols[name] = vals
        else:
            cols[name] = [default] * n
    eid = cols["event_id"]
    for i in range(n):
        yield LiveEvent(
            customer_id=cols["customer_id"][i],
            ts_us=cols["ts_us"][i],
            event_type=cols["event_type"][i],
            amount=cols["amount"][i],
            quantity=cols["quantity"][i],
            discount=cols["discount"][i],
            channel=cols["channel"][i],
            category=cols["category"][i],
            event_id=None if eid[i] is None else str(eid[i]),
        )


def events_from_frame(df: pl.DataFrame) -> list[LiveEvent]:
    return list(iter_events(df))
