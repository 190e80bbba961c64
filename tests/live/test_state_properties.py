"""Property tests: small random logs built to hit the edge cases, live == batch.

Timestamps come from a coarse grid (a few seconds-of-day, whole days), so ties are
frequent: views and purchases at the same instant, several purchases at one instant,
views exactly 14 days before a purchase, events at midnight on the window's first day
and on the as-of day.  Events arrive in a random order, some delivered twice with the same
event id; the as-of and the window are drawn too.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.live.conftest import batch_features, mismatches

from archetype.events.schema import CONTENT_COLUMNS
from archetype.features.context import day_number
from archetype.live.definition import FeatureDefinition
from archetype.live.replay import Replay, events_from_frame
from archetype.synth import EVENT_SCHEMA

START = dt.datetime(2026, 3, 1)
SECONDS = [0, 1, 3600, 86_399]
TYPES = ["view", "view", "purchase", "purchase", "add_to_cart", "email_open", "email_click",
         "session_start", "ad_click", "referral"]  # fmt: skip

event = st.tuples(
    st.integers(1, 2),  # customer
    st.integers(0, 18),  # day: 14-day look-backs and 1..30-day windows overlap often
    st.sampled_from(SECONDS),
    st.sampled_from(TYPES),
    st.sampled_from([0.0, 5.5, 12.25, -3.0]),  # negative purchase amount: a return
    st.sampled_from([0.0, 0.2]),
    st.sampled_from([None, "web", "app"]),
    st.sampled_from([None, "a", "b"]),
)


def _frame(rows) -> pl.DataFrame:
    df = pl.DataFrame(
        [
            (c, START + dt.timedelta(days=d, seconds=s), t, a, 1, disc, ch, cat)
            for c, d, s, t, a, disc, ch, cat in rows
        ],
        schema={c: EVENT_SCHEMA[c] for c in CONTENT_COLUMNS},  # as the synth files
        orient="row",
    )
    # Distinct events only: the batch drops exact duplicate rows (ids make them distinct
    # for the live side, which de-duplicates by id instead).
    return df.unique(maintain_order=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(event, min_size=1, max_size=50),
    window=st.one_of(st.none(), st.integers(1, 30)),
    as_of_extra=st.integers(0, 20),
    order_seed=st.integers(0, 2**32 - 1),
    dup_share=st.sampled_from([0.0, 0.3]),
)
def test_live_equals_batch_on_edge_case_logs(rows, window, as_of_extra, order_seed, dup_share):
    log = _frame(rows)
    last = log["ts"].max().date()
    as_of = last + dt.timedelta(days=as_of_extra)
    channels = ["app", "web"]
    batch, horizon = (None, None)
    cut_rows = log.filter(pl.col("ts") >= _start(as_of, window)) if window else log
    if cut_rows.height:
        batch, horizon = batch_features(log, as_of, channels, window)
    rng = np.random.default_rng(order_seed)
    ids = log.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("event_id"))
    dups = ids.sample(fraction=dup_share, seed=order_seed % 1000)
    arrived = pl.concat([ids, dups])
    arrived = arrived[rng.permutation(arrived.height).tolist()]
    fd = FeatureDefinition(channels, window_days=window)
    r = Replay(fd)
    r.ingest(events_from_frame(arrived))
    assert r.duplicates == dups.height
    # the same state, and the same bytes, whatever the order
    r2 = Replay(fd)
    r2.ingest(events_from_frame(ids.sort("ts")))
    assert {c: s.canonical() for c, s in r.states.items()} == {
        c: s.canonical() for c, s in r2.states.items()
    }
    assert {c: s.encode() for c, s in r.states.items()} == {
        c: s.encode() for c, s in r2.states.items()
    }
    live = r.features_frame(as_of, horizon if window is None else None)
    if batch is None:
        assert live.height == 0
        return
    assert mismatches(batch, live, fd.feature_names) == {}


def _start(as_of: dt.date, window: int) -> dt.datetime:
    return dt.datetime.combine(as_of - dt.timedelta(days=window - 1), dt.time())


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(event, min_size=1, max_size=30), window=st.integers(1, 20))
def test_window_sliding_over_a_kept_state(rows, window):
    """One state answers every as-of from its last event day on, as the window slides."""
    log = _frame(rows)
    fd = FeatureDefinition(["web"], window_days=window)
    r = Replay(fd)
    r.ingest(events_from_frame(log))
    r.states = {c: fd.decode(s.encode()) for c, s in r.states.items()}
    last = log["ts"].max().date()
    for extra in (0, 1, window - 1, window, window + 3):
        as_of = last + dt.timedelta(days=extra)
        live = r.features_frame(day_number(as_of))
        batch_rows = log.filter(pl.col("ts") >= _start(as_of, window))
        if batch_rows.height == 0:
            assert live.height == 0
            continue
        # customers whose last event is after as-of cannot happen: as-of >= every event
        batch, _ = batch_features(log, as_of, ["web"], window)
        assert mismatches(batch, live, fd.feature_names) == {}
