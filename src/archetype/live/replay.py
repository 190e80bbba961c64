"""An in-memory reference ingest: dedupe by event id, apply, features for everyone.

What the equality tests drive (and a simple way to bootstrap states from a log):

>>> r = Replay(FeatureDefinition(channels=["app", "web"], window_days=365))
>>> r.ingest(events_from_frame(df))                      # doctest: +SKIP
>>> r.features_frame(date(2026, 12, 31))                  # shaped like features.parquet
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from archetype.features.context import day_number
from archetype.live.definition import FeatureDefinition
from archetype.live.state import US_PER_DAY, CustomerState, LiveEvent

_FIELDS = ("amount", "quantity", "discount", "channel", "category", "event_id")


def events_from_frame(df: pl.DataFrame) -> Iterator[LiveEvent]:
    """Canonical events (the batch reader's columns, optional ``event_id``) as LiveEvents.

    ``ts`` is a naive ``Datetime`` (any unit) or integer microseconds since the epoch.

    Absent or null ``amount``/``discount`` are 0 and ``quantity`` 1, as the batch reader
    fills them.  ``event_type`` must already be canonical.
    """
    ts = df["ts"]
    cols = {
        "customer_id": df["customer_id"],
        "ts_us": ts if ts.dtype.is_integer() else ts.dt.epoch("us"),
        "event_type": df["event_type"].cast(pl.String),
    }
    fills = {"amount": 0.0, "quantity": 1, "discount": 0.0}
    for f in _FIELDS:
        if f in df.columns:
            s = df[f]
            if s.dtype in (pl.Categorical,) or isinstance(s.dtype, pl.Enum):
                s = s.cast(pl.String)
            cols[f] = s.fill_null(fills[f]) if f in fills else s
    names = list(cols)
    for row in zip(*(c.to_list() for c in cols.values()), strict=True):
        yield LiveEvent(**dict(zip(names, row, strict=True)))


class Replay:
    """States of every customer of a replayed log (a reference for the service).

    Attributes
    ----------
    states : dict
        customer_id -> :class:`CustomerState`.
    applied, duplicates : int
        Events applied, and events skipped because their ``event_id`` was seen.
    """

    def __init__(self, definition: FeatureDefinition) -> None:
        self.definition = definition
        self.states: dict[object, CustomerState] = {}
        self.seen: set[str] = set()
        self.applied = 0
        self.duplicates = 0
        self.first_ts_us: int | None = None

    def ingest(self, events: Iterable[LiveEvent]) -> None:
        """Apply events in the order given; one with a seen ``event_id`` is skipped."""
        states, seen, new = self.states, self.seen, self.definition.new_state
        first = self.first_ts_us
        for ev in events:
            eid = ev.event_id
            if eid is not None:
                if eid in seen:
                    self.duplicates += 1
                    continue
                seen.add(eid)
            st = states.get(ev.customer_id)
            if st is None:
                st = states[ev.customer_id] = new()
            st.apply(ev)
            self.applied += 1
            if first is None or ev.ts_us < first:
                first = ev.ts_us
        self.first_ts_us = first

    def horizon_days(self, as_of: dt.date | int) -> int:
        """The batch horizon: the window, or days from the log's first event to as-of."""
        w = self.definition.window_days
        if w is not None:
            return w
        a = day_number(as_of) if isinstance(as_of, dt.date) else int(as_of)
        return 1 if self.first_ts_us is None else a - self.first_ts_us // US_PER_DAY + 1

    def features_frame(self, as_of: dt.date | int, horizon_days: int | None = None) -> pl.DataFrame:
        """``customer_id`` + features (Float64) of customers with events in the window,
        sorted by customer_id: the layout of ``features.parquet``."""
        h = self.horizon_days(as_of) if horizon_days is None else horizon_days
        ids = sorted(self.states)
        x = self.definition.features_many((self.states[i] for i in ids), as_of, h)
        keep = ~np.isnan(x[:, 0]) if x.shape[1] else np.ones(len(ids), bool)
        names = self.definition.feature_names
        data = {"customer_id": [i for i, k in zip(ids, keep, strict=True) if k]}
        data.update({n: x[keep, j] for j, n in enumerate(names)})
        schema = {n: pl.Float64 for n in names}
        return pl.DataFrame(data, schema_overrides=schema)
