"""The packed state and its kernels against plain-Python references (hand-made edge cases)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import struct

import numpy as np
import pytest

from archetype.features.testing import random_events
from archetype.live.codec import HEADER_BYTES, decode_state
from archetype.live.definition import FeatureDefinition
from archetype.live.incremental.base import is_weekend, month_day
from archetype.live.incremental.fsum import fsum, new_partials
from archetype.live.replay import Replay, events_from_frame
from archetype.live.state import DISCOUNTED, PURCHASE, CustomerState, LiveEvent

T0 = 1_790_000_000_000_000  # 2026-09-21, microseconds


def test_fsum_is_math_fsum_bit_for_bit():
    rng = np.random.default_rng(0)
    p = new_partials()
    cases = [
        np.array([]),
        np.array([1e-16, 1.0, 1e16]),  # the half-even correction across partials
        np.array([1e308, 1.0, -1e308]),
        np.array([0.1] * 10),
        np.array([-0.0, -0.0]),
    ]
    for _ in range(300):
        n = int(rng.integers(1, 200))
        scale = 10.0 ** rng.integers(-20, 20, n)
        x = rng.standard_normal(n) * scale
        x = np.concatenate([x, -x[: int(rng.integers(0, n))]])  # heavy cancellation
        cases.append(rng.permutation(x))
    for x in cases:
        assert struct.pack("<d", fsum(x, p)) == struct.pack("<d", math.fsum(x.tolist()))
    assert math.isnan(fsum(np.array([1.0, math.nan]), p))
    assert fsum(np.array([1.0, math.inf]), p) == math.inf
    assert math.isnan(fsum(np.array([math.inf, -math.inf]), p))
    assert fsum(np.array([1e308, 1e308]), p) == math.inf  # math.fsum raises OverflowError


def test_calendar_kernels_match_datetime():
    epoch = dt.date(1970, 1, 1)
    for d in [*range(-800, 800), *range(20_000, 21_000), -719_162, 2_932_896]:
        x = epoch + dt.timedelta(days=d)
        assert month_day(d) == x.month * 100 + x.day, x
        assert is_weekend(d) == (x.isoweekday() >= 6), x


def _ev(ts, et, amount=0.0, discount=0.0, channel=None, category=None):
    return LiveEvent(1, ts, et, amount, 1, discount, channel, category)


def test_ties_sort_canonically_whatever_the_order():
    """Events at one instant differing only in kind, flags, channel, category, amount."""
    events = [
        _ev(T0, "purchase", 5.0, 0.0, "web", "b"),
        _ev(T0, "purchase", 4.0, 0.0, "web", "b"),
        _ev(T0, "purchase", 4.0, 0.5, "web", "b"),  # discounted: another kind byte
        _ev(T0, "purchase", -1.0, 0.0, "app", "a"),  # a return
        _ev(T0, "purchase", math.nan, 0.0, "app", "a"),
        _ev(T0, "view", 0.0, 0.0, "web", "a"),
        _ev(T0, "view", 0.0, 0.0, "app", "a"),
        _ev(T0, "view", 0.0, 0.0, None, "c"),
        _ev(T0, "email_open", 0.0, 0.0, "web", "zz"),  # its category does not count
    ]
    fd = FeatureDefinition(["web", "app"], window_days=10)
    blobs, feats = set(), []
    for order in itertools.islice(itertools.permutations(range(len(events))), 0, None, 997):
        st = fd.new_state()
        for k in order:
            st.apply(events[k])
            if k % 3 == 0:  # merged part way through, as a store would
                st = fd.decode(st.encode())
        blobs.add(st.encode())
        feats.append(fd.features(st, T0 // 86_400_000_000))
    assert len(blobs) == 1 and len(feats) > 300
    assert all(np.array_equal(feats[0], f) for f in feats)
    ts, kind, ch, cat, amt = fd.decode(blobs.pop()).table()
    assert ts.tolist() == [T0] * 9
    assert kind.tolist() == [0, 0, 0, 2, 2, 3, 4, 5, 2 | DISCOUNTED]  # by kind byte
    assert amt.tolist() == [4.0, 5.0, 4.0]  # purchases only, in row order
    assert st.categories == ["a", "b", "c"] and st.channels == ["app", "web"]
    assert ch.tolist() == [0, 1, 2, 2, 2, 1, 1, 2, 2]  # 1 + index, 0: none
    assert cat.tolist() == [3, 1, 1, 2, 2, 1, 1, 0, 2]  # email_open's category: not kept


@pytest.mark.parametrize("n_values", [3, 300, 70_000])
def test_value_lists_of_any_size_round_trip(n_values):
    """Index columns are stored as uint8, uint16 or int32 by the size of the value lists."""
    fd = FeatureDefinition(["c0", "c7"])
    st = fd.new_state()
    for k in range(n_values):
        st.apply(_ev(T0 + k * 1_000_000, "view", 0.0, 0.0, f"c{k % 11}", f"v{k:06d}"))
    blob = st.encode()
    back = fd.decode(blob)
    assert back.canonical() == st.canonical() and back.encode() == blob
    assert len(back.categories) == n_values
    x = fd.features(back, T0 // 86_400_000_000 + 1, 10)
    f = dict(zip(fd.feature_names, x, strict=True))
    assert f["category_entropy"] == pytest.approx(math.log(n_values))
    assert f["channel_share_c7"] == pytest.approx(
        sum(k % 11 == 7 for k in range(n_values)) / n_values
    )


def test_features_many_equals_features_one_by_one():
    fd = FeatureDefinition(["app", "web", "email"], window_days=45)
    r = Replay(fd)
    r.ingest(events_from_frame(random_events(3000, 120, seed=11, days=120)))
    states = list(r.states.values())
    a = max(s.last_day for s in states) + 3
    many = fd.features_many(states, a)
    for st, row in zip(states, many, strict=True):
        if fd.is_present(st, a):
            assert np.array_equal(fd.features(st, a), row)
        else:
            assert np.isnan(row).all()
    assert np.isnan(many).all(axis=1).any() and not np.isnan(many).any(axis=1).all()


def test_pruning_forgets_values_and_purchases_outside_the_window():
    fd = FeatureDefinition(window_days=2)
    st = fd.new_state()
    day = 86_400_000_000
    st.apply(_ev(T0, "purchase", 7.0, 0.0, "old", "old"))
    st.apply(_ev(T0 + 5 * day, "purchase", 3.0, 0.0, "new", "new"))
    st.apply(_ev(T0 + 5 * day + 1, "view", 0.0, 0.0, "old", None))
    assert st.table()[4].tolist() == [3.0] and st.n_events == 2
    assert st.channels == ["new", "old"] and st.categories == ["new"]
    assert st.first_ts_us == T0  # a fact, kept


def test_old_or_corrupt_bytes_are_refused_with_a_reason():
    st = CustomerState(30)
    st.apply(_ev(T0, "purchase", 1.0))
    blob = st.encode()
    assert blob[1] == 2 and len(blob) == HEADER_BYTES + 8 + 8 + 1
    with pytest.raises(ValueError, match="format 1; this archetype reads format 2: rebuild"):
        decode_state(bytes((0xC1, 1, 0)) + blob[3:])
    with pytest.raises(ValueError, match="corrupt customer state"):
        decode_state(blob[:-1])
    with pytest.raises(ValueError, match="bad header"):
        decode_state(b"\x00" + blob[1:])
    assert decode_state(blob).table()[1].tolist() == [PURCHASE]


def test_every_kernel_cache_is_keyed_on_all_kernel_sources():
    """Numba checks only a cached function's own file; the live kernels call each other
    across files, so each is keyed on all of them (a stale cache cannot survive an edit)."""
    from numba.core.registry import CPUDispatcher

    from archetype.live import incremental

    kernels = [
        v
        for m in (*incremental.LIVE_MODULES, incremental.base, incremental.fsum,
                  incremental.evaluate)
        for v in vars(m).values()
        if isinstance(v, CPUDispatcher)
    ]  # fmt: skip
    assert len(kernels) >= 15
    for k in kernels:
        stamp = k._cache._cache_file._source_stamp
        files = {name for name, *_ in stamp[1]}
        assert {"rfm.py", "fsum.py", "base.py", "evaluate.py", "state.py", "timing.py"} <= files


def test_load_kernels_runs_every_kernel_once():
    from archetype.live.definition import load_kernels

    assert 0 < load_kernels() < 600
