"""The writer's batch path (columns, one screening kernel, ``apply_rows``) equals the
event-by-event path it replaces: same duplicates / too-old / accepted counts, same kept
keys and events, same states (bytes), same watermark, whatever the mix."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from archetype.events.config import EventsConfig
from archetype.live.apply import IngestJob, _apply_columns, _apply_each, _Entry
from archetype.live.ingest import Group, prepare
from archetype.live.records import CustomerRecord
from archetype.live.screen import screen
from archetype.live.state import US_PER_DAY, CustomerState

T0 = dt.datetime(2026, 1, 1)


def _frame(rng: np.random.Generator, n: int, n_customers: int, days: int, ids: int) -> pl.DataFrame:
    """Events with repeated and missing ids, old and new times, odd amounts, many values."""
    types = ["view", "add_to_cart", "purchase", "email_open", "ad_click", "session_start"]
    eid = rng.integers(0, ids, n)
    return pl.DataFrame(
        {
            "customer_id": rng.integers(0, n_customers, n),
            "ts": [T0 + dt.timedelta(seconds=int(x)) for x in rng.integers(0, days * 86_400, n)],
            "event_type": [str(x) for x in rng.choice(types, n)],
            "amount": rng.choice([0.0, -0.0, 2.5, -3.25, 1e300, 17.0], n),
            "quantity": rng.integers(0, 4, n).astype(np.int32),
            "discount": rng.choice([0.0, 0.2, -0.1], n),
            "channel": [None if x < 0 else f"c{x}" for x in rng.integers(-1, 20, n)],
            "category": [None if x < 0 else f"g{x}" for x in rng.integers(-2, 25, n)],
            "event_id": [None if x < ids // 5 else f"e{x}" for x in eid],
        }
    )


def _entries(batch, history, window, rng) -> dict:
    """Per customer of the batch: a record with some of the batch's keys already applied,
    and a state holding a few earlier events (or a new customer)."""
    out = {}
    for k, g in batch.groups.items():
        evs = list(g)
        if rng.random() < 0.2:
            out[k] = _Entry(CustomerRecord(np.empty(0, "<u8"), np.empty(0, "<i4"), b""), True)
            out[k].state = CustomerState(window)
            continue
        pick = [ek for ek, _, _ in evs if ek and rng.random() < 0.2]
        extra = rng.integers(1, 2**63, int(rng.integers(0, 700)), dtype=np.uint64)
        keys = np.concatenate([np.array(pick, "<u8"), extra.astype("<u8")])
        rec = CustomerRecord(keys, np.zeros(len(keys), "<i4"), b"")
        e = _Entry(rec, False)
        st = CustomerState(window)
        for ev in history[: int(rng.integers(1, len(history)))]:
            st.apply(ev._replace(customer_id=evs[0][2].customer_id))
        e.state = st
        out[k] = e
    return out


def _same(a: _Entry, b: _Entry) -> None:
    assert a.new_keys == b.new_keys
    assert a.new_days == b.new_days
    assert a.events == b.events
    assert (a.touched, a.assign_now, a.job is None) == (b.touched, b.assign_now, b.job is None)
    assert a.state.canonical() == b.state.canonical()
    assert a.state.encode() == b.state.encode()


@pytest.mark.parametrize(("window", "seed"), [(30, 0), (30, 1), (None, 2), (5, 3)])
def test_batch_path_equals_event_by_event(window, seed):
    rng = np.random.default_rng(seed)
    cfg = EventsConfig()
    history = list(prepare(_frame(rng, 60, 1, 120, 10**6), events_config=cfg, id_dtype="int",
                           pseudonymize_key=None, source="h").columns.events)  # fmt: skip
    batches = [
        prepare(
            _frame(rng, n, 40, 120, ids),
            events_config=cfg,
            id_dtype="int",
            pseudonymize_key=None,
            source="t",
        )  # fmt: skip
        for n, ids in ((3000, 400), (1500, 400))
    ]
    # the same customers' entries, twice: one side per path
    seeds = [int(x) for x in rng.integers(0, 2**31, 2)]
    old = _entries(batches[0], history, window, np.random.default_rng(seeds[0]))
    new = _entries(batches[0], history, window, np.random.default_rng(seeds[0]))
    wm_o = first_o = wm_n = first_n = None
    totals = np.zeros(3, int)
    for batch in batches:  # two batches of one commit: the second sees the first's keys
        for k in batch.groups:
            if k not in old:
                old[k] = _Entry(CustomerRecord(np.empty(0, "<u8"), np.empty(0, "<i4"), b""), True)
                new[k] = _Entry(CustomerRecord(np.empty(0, "<u8"), np.empty(0, "<i4"), b""), True)
                old[k].state, new[k].state = CustomerState(window), CustomerState(window)
        jo, jn = IngestJob(batch, "t", None), IngestJob(batch, "t", None)
        for k, g in batch.groups.items():
            wm_o, first_o = _apply_each(jo, old[k], g, window, wm_o, first_o)
        items = list(batch.groups.items())
        assert all(isinstance(g, Group) for _, g in items)
        wm_n, first_n = _apply_columns(jn, items, new, batch.columns, window, wm_n, first_n)
        ro, rn = jo.result, jn.result
        assert (ro.accepted, ro.duplicates, ro.too_old) == (rn.accepted, rn.duplicates, rn.too_old)
        totals += (ro.accepted, ro.duplicates, ro.too_old)
    assert (wm_o, first_o) == (wm_n, first_n)
    for k in old:
        _same(old[k], new[k])
    # the cases all happened
    assert totals[0] > 0 and totals[1] > 0
    if window is not None:
        assert totals[2] > 0


def test_screen_scans_and_sets_agree():
    """A customer with few stored keys is scanned, one with many uses a set: the same."""
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 6, 400).astype(np.uint64)  # many repeats, some 0
    days = np.sort(rng.integers(0, 50, 400))
    for n_stored in (0, 3, 2000):
        stored = rng.integers(1, 6, n_stored).astype(np.uint64)
        spans = [(0, 10), (10, 400)]
        status, n_dup, n_old = screen(keys, days, spans, [stored, stored], [None, 40], 7)
        for (a, b), nd, no, last in zip(spans, n_dup, n_old, [None, 40], strict=True):
            have, ld, want = set(stored.tolist()), last, []
            for k, d in zip(keys[a:b].tolist(), days[a:b].tolist(), strict=True):
                if k and k in have:
                    want.append(1)
                elif ld is not None and d <= ld - 7:
                    want.append(2)
                else:
                    want.append(0)
                    if k:
                        have.add(k)
                    ld = d if ld is None else max(ld, d)
            assert status[a:b].tolist() == want
            assert (nd, no) == (want.count(1), want.count(2))


def test_apply_rows_equals_apply_one_by_one():
    rng = np.random.default_rng(7)
    cfg = EventsConfig()
    batch = prepare(_frame(rng, 2000, 3, 200, 10**6), events_config=cfg, id_dtype="int",
                    pseudonymize_key=None, source="t")  # fmt: skip
    c = batch.columns
    for window in (None, 10, 60):
        for g in batch.groups.values():
            a, b = g.a, g.b
            one, rows = CustomerState(window), CustomerState(window)
            for ev in c.events[a:b]:
                one.apply(ev)
            # in two calls: a later call's running last event drops older rows
            m = (a + b) // 2
            for x, y in ((a, m), (m, b)):
                rows.apply_rows(c.ts[x:y], c.kinds[x:y], c.amounts[x:y], c.channels[x:y],
                                c.categories[x:y])  # fmt: skip
            assert (one.first_ts_us, one.last_ts_us) == (rows.first_ts_us, rows.last_ts_us)
            assert one.canonical() == rows.canonical()
            assert one.encode() == rows.encode()
    assert max(c.ts) - min(c.ts) > 60 * US_PER_DAY
