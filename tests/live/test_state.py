"""CustomerState / FeatureDefinition: API, encoding, order independence, hand-worked values."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest

from archetype.features import FeatureConfig, compute_feature_dir, feature_specs
from archetype.features.context import FeatureContext, day_number
from archetype.features.testing import random_events
from archetype.live.definition import FeatureDefinition, NotInWindow, live_feature_names
from archetype.live.replay import Replay, events_from_frame
from archetype.live.state import CustomerState, LiveEvent

AS_OF = dt.date(2026, 1, 10)
A = day_number(AS_OF)


def us(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    t = dt.datetime(2026, 1, day, hour, minute, second)
    return int((t - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def ev(day, hour, et, amount=0.0, discount=0.0, channel=None, category=None, minute=0):
    return LiveEvent(7, us(day, hour, minute), et, amount, 1, discount, channel, category)


# The tiny log of tests/features/conftest.py (customer 1), as live events.
TINY = [
    ev(1, 10, "view", channel="web", category="a"),
    ev(1, 12, "purchase", 10.0, 0.1, "web", "a"),
    ev(3, 10, "session_start"),
    ev(3, 10, "email_open"),
    ev(3, 10, "email_click", minute=5),
    ev(4, 15, "referral"),
    ev(5, 9, "add_to_cart", channel="app", category="b"),
    ev(5, 9, "purchase", 20.0, channel="app", category="b", minute=30),
    ev(5, 18, "purchase", 30.0, channel="app", category="b"),
    ev(9, 8, "purchase", -5.0),
]


def test_live_event_is_frozen_with_defaults():
    e = LiveEvent("c1", 5, "view")
    assert (e.amount, e.quantity, e.discount, e.channel, e.category, e.event_id) == (
        0.0,
        0,
        0.0,
        None,
        None,
        None,
    )
    with pytest.raises(AttributeError):  # a named tuple: immutable
        e.amount = 1.0


def test_unknown_event_type_is_refused():
    st = FeatureDefinition().new_state()
    with pytest.raises(ValueError, match="not a canonical event type"):
        st.apply(LiveEvent(1, 0, "click"))


def test_hand_worked_values():
    fd = FeatureDefinition(["app", "web"])
    st = fd.new_state()
    for e in TINY:
        st.apply(e)
    f = dict(zip(fd.feature_names, fd.features(st, A, horizon_days=10), strict=True))
    assert f["frequency"] == 2  # Jan 1 and Jan 5
    assert f["purchases"] == 3
    assert f["total_spend"] == 60.0
    assert f["monetary"] == 30.0
    assert f["recency_days"] == 5
    assert f["tenure_days"] == 9
    assert f["return_rate"] == pytest.approx(1 / 4)
    assert f["discount_share"] == pytest.approx(1 / 3)
    assert f["cart_abandonment_rate"] == 0.0
    assert f["view_to_purchase"] == 1.0
    assert f["interpurchase_mean_days"] == 4.0
    assert f["interpurchase_cv"] == 0.0
    assert f["lead_time_hours"] == 2.0  # view 10:00 -> purchase 12:00; Jan 5 has no view
    assert f["channel_share_app"] == pytest.approx(3 / 5)
    assert f["channel_share_web"] == pytest.approx(2 / 5)
    assert f["email_click_rate"] == 1.0
    assert f["referrals"] == 1.0
    assert f["repeat_purchase_rate"] == 0.5
    assert f["days_since_last_event"] == 1
    assert f["active_days_per_week"] == pytest.approx(5 / (10 / 7))
    p = [2 / 5, 3 / 5]  # categories a (2 events) and b (3)
    assert f["category_entropy"] == pytest.approx(-sum(x * math.log(x) for x in p))
    assert f["top_category_share"] == pytest.approx(0.6)
    assert f["weekend_share"] == pytest.approx(0.0)  # Jan 1 (Thu), Jan 5 (Mon)


def test_same_events_any_order_same_bytes_and_features():
    fd = FeatureDefinition(["app", "web"], window_days=30)
    rng = np.random.default_rng(0)
    blobs, bytes_, feats = set(), set(), []
    for _ in range(5):
        st = fd.new_state()
        order = rng.permutation(len(TINY))
        for k in order:
            st.apply(TINY[k])
        blobs.add(st.canonical())
        bytes_.add(st.encode())
        assert st.canonical() == fd.decode(st.encode()).canonical()
        feats.append(fd.features(st, A))
    assert len(blobs) == 1 and len(bytes_) == 1
    assert all(np.array_equal(feats[0], f) for f in feats)


def test_encode_decode_round_trip_on_random_log():
    fd = FeatureDefinition(["app", "web", "email", "store"], window_days=90)
    r = Replay(fd)
    log = list(events_from_frame(random_events(4000, 150, seed=3)))
    t0 = log[-1].ts_us
    heavy = [  # one heavy customer: its state is compressed
        LiveEvent(-1, t0 - k * 600_000_000, "view" if k % 3 else "purchase", k / 7, 1, 0.0,
                  "web", f"c{k % 5}")
        for k in range(400)
    ]  # fmt: skip
    r.ingest(log + heavy)
    as_of = max(s.last_day for s in r.states.values())
    kinds = set()
    for st in r.states.values():
        blob = st.encode()
        kinds.add(blob[2])  # 0: raw, 1: zlib (large states)
        back = fd.decode(blob)
        assert back.encode() == blob
        assert back == st and back.canonical() == st.canonical()
        np.testing.assert_array_equal(
            fd.features_many([back], as_of), fd.features_many([st], as_of)
        )
    assert kinds == {0, 1}


def test_decode_refuses_foreign_bytes_and_a_shorter_window():
    fd = FeatureDefinition(window_days=30)
    with pytest.raises(ValueError):
        fd.decode(b"xyz")
    st = fd.new_state()
    st.apply(TINY[0])
    with pytest.raises(ValueError, match="30-day window"):
        FeatureDefinition(window_days=60).decode(st.encode())
    shorter = FeatureDefinition(window_days=7).decode(st.encode())
    assert shorter.window_days == 7


def test_window_prunes_old_material_and_old_as_of_is_refused():
    fd = FeatureDefinition(window_days=3)
    st = fd.new_state()
    for e in TINY:
        st.apply(e)
    st.prune()
    assert sorted(st.days) == [day_number(dt.date(2026, 1, 9))]  # Jan 7..9 window
    assert st.first_ts_us == TINY[0].ts_us  # the first event seen is kept as a fact
    late = fd.new_state()
    for e in reversed(TINY):  # the old ones arrive after the last one: never stored
        late.apply(e)
    assert late == st and late.encode() == st.encode()
    assert st.channels == [] and st.categories == []  # values of dropped days forgotten
    with pytest.raises(ValueError, match="before the customer's last event day"):
        fd.features(st, day_number(dt.date(2026, 1, 8)))
    with pytest.raises(NotInWindow):
        fd.features(st, day_number(dt.date(2026, 1, 20)))
    assert fd.is_present(st, day_number(dt.date(2026, 1, 11)))
    assert not fd.is_present(st, day_number(dt.date(2026, 1, 12)))
    rows = fd.features_many([st, st], day_number(dt.date(2026, 1, 20)))
    assert rows.shape == (2, len(fd.feature_names)) and np.isnan(rows).all()


def test_all_history_answers_earlier_as_of():
    fd = FeatureDefinition()
    st = fd.new_state()
    for e in TINY:
        st.apply(e)
    x = fd.features(st, day_number(dt.date(2026, 1, 4)), 4)
    f = dict(zip(fd.feature_names, x, strict=True))
    assert f["purchases"] == 1 and f["recency_days"] == 3


@pytest.mark.parametrize(
    "channels,occasions",
    [
        ((), None),
        (("web", "Paid Search", "app"), None),
        (("x",), {"summer": ("06-01", "08-31"), "new_year": ("12-28", "01-03")}),
        ((), {}),
    ],
)
def test_every_batch_feature_has_a_live_form(channels, occasions):
    fd = FeatureDefinition(channels, occasions)
    cfg = FeatureConfig(**({} if occasions is None else {"occasions": occasions}))
    ctx = FeatureContext.make(AS_OF, 1, cfg, list(channels))
    batch = [s.name for s in feature_specs(ctx)]
    assert list(fd.feature_names) == batch
    assert sorted(live_feature_names(fd)) == sorted(batch)


def test_a_feature_added_to_the_batch_only_is_caught(monkeypatch):
    from archetype.features import build, spec

    class NewFamily:
        FAMILY = "rfm"

        @staticmethod
        def specs(ctx):
            return [spec.FeatureSpec("brand_new", "rfm", "x", "a new batch feature")]

    monkeypatch.setattr(build, "FAMILY_MODULES", (*build.FAMILY_MODULES, NewFamily))
    with pytest.raises(NotImplementedError, match="batch only \\['brand_new'\\]"):
        FeatureDefinition()
    NewFamily.FAMILY = "brand_new_family"
    with pytest.raises(NotImplementedError, match="without a live form: \\('brand_new_family',"):
        FeatureDefinition()


def test_definition_from_a_feature_dir(tmp_path):
    log = random_events(3000, 100, seed=5)
    events = tmp_path / "ev.parquet"
    log.write_parquet(events)
    cfg = FeatureConfig(occasions={"spring": ("03-01", "05-31")}, window_days=120)
    fs = compute_feature_dir(events, dt.date(2026, 12, 31), tmp_path / "feat", config=cfg)
    fd = FeatureDefinition.from_feature_dir(tmp_path / "feat")
    assert fd.window_days == 120
    # every raw feature (features.parquet), not only the embedding's inputs
    assert fd.feature_names == tuple(c for c in fs.features.columns if c != "customer_id")
    assert set(fs.feature_names) <= set(fd.feature_names)
    assert fd.channels == tuple(fs.manifest["channels"])
    manifest = json.loads((tmp_path / "feat" / "manifest.json").read_text())
    manifest["features"] = manifest["features"][:-1]
    with pytest.raises(ValueError, match="raw features differ"):
        FeatureDefinition.from_feature_manifest(manifest)


def test_features_frame_matches_feature_dir(tmp_path):
    log = random_events(3000, 100, seed=9)
    events = tmp_path / "ev.parquet"
    log.write_parquet(events)
    as_of = dt.date(2026, 12, 31)
    fs = compute_feature_dir(events, as_of, tmp_path / "feat", window_days=200)
    fd = FeatureDefinition.from_feature_dir(tmp_path / "feat")
    r = Replay(fd)
    r.ingest(events_from_frame(log))
    live = r.features_frame(as_of)
    assert live.columns == fs.features.columns
    assert live["customer_id"].to_list() == fs.features["customer_id"].to_list()
    for n in fd.feature_names:
        np.testing.assert_allclose(live[n].to_numpy(), fs.features[n].to_numpy(), 1e-9, 1e-12)
    assert isinstance(live, pl.DataFrame)


def test_state_is_small():
    from archetype.live.codec import HEADER_BYTES

    st = CustomerState()
    assert len(st.encode()) == HEADER_BYTES == 40
    st.apply(TINY[0])
    assert len(st.encode()) < 70  # 40 + 8 + 1 + 1 + 1 + the value lists (MessagePack)


H = 3_600_000_000  # microseconds per hour
D14 = 14 * 24 * H


def _lead_case(events, as_of=AS_OF, window=None):
    """Live lead_time_hours and the batch's, for (ts_us, type) events of one customer."""
    from tests.live.conftest import batch_features

    rows = [
        (1, dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=t), et, 1.0, 1, 0.0, None, None)
        for t, et in events
    ]
    log = pl.DataFrame(
        rows,
        schema={"customer_id": pl.Int64, "ts": pl.Datetime("us"), "event_type": pl.String,
                "amount": pl.Float64, "quantity": pl.Int32, "discount": pl.Float64,
                "channel": pl.String, "category": pl.String},
        orient="row",
    )  # fmt: skip
    batch, horizon = batch_features(log, as_of, [], window)
    fd = FeatureDefinition([], window_days=window)
    st = fd.new_state()
    for t, et in reversed(events):
        st.apply(LiveEvent(1, t, et, 1.0))
    live = fd.features(st, as_of, None if window else horizon)
    j = fd.feature_names.index("lead_time_hours")
    return live[j], batch["lead_time_hours"][0]


P0 = us(9, 12)  # a purchase at noon on Jan 9


@pytest.mark.parametrize(
    "events,expected",
    [
        ([(P0 - D14, "view"), (P0, "purchase")], 14 * 24.0),  # exactly 14 days: counts
        ([(P0 - D14 - 1, "view"), (P0, "purchase")], 0.0),  # 1 us more: does not
        ([(P0, "view"), (P0, "purchase")], 0.0),  # same instant: the view comes first
        ([(P0 - H, "view"), (P0, "purchase"), (P0, "purchase")], 1.0),  # one cycle, one lead
        # a view at the instant of the previous purchase belongs to that purchase
        ([(P0 - 2 * H, "view"), (P0 - H, "view"), (P0 - H, "purchase"), (P0, "purchase")], 1.0),
        ([(P0 - H, "view"), (P0 - H, "purchase"), (P0 + H, "view"), (P0 + 3 * H, "purchase")],
         1.0),  # leads 0 and 2 hours: median 1
        # previous purchase exactly 14 days before, with a view at its instant
        ([(P0 - D14, "view"), (P0 - D14, "purchase"), (P0 - H, "view"), (P0, "purchase")],
         (0.0 + 1.0) / 2),
        ([(P0 - 3 * H, "purchase"), (P0 - 2 * H, "view"), (P0, "purchase")], 2.0),
    ],
)  # fmt: skip
def test_lead_time_edge_cases(events, expected):
    live, batch = _lead_case(events)
    assert batch == pytest.approx(expected)
    assert live == batch


def test_window_start_cuts_the_look_back():
    day_start = us(5)  # window of 5 days ending Jan 9 starts Jan 5, 00:00
    events = [(day_start - 1, "view"), (day_start, "view"), (us(9, 12), "purchase")]
    live, batch = _lead_case(events, dt.date(2026, 1, 9), window=5)
    assert batch == pytest.approx((us(9, 12) - day_start) / H)
    assert live == batch
    events = [(day_start - 1, "view"), (us(9, 23, 59, 59) + 999_999, "purchase")]
    live, batch = _lead_case(events, dt.date(2026, 1, 9), window=5)
    assert live == batch == 0.0


@pytest.mark.parametrize("window", [None, 20])
def test_any_arrival_order_gives_the_same_bytes(window):
    fd = FeatureDefinition(window_days=window)
    events = list(events_from_frame(random_events(3000, 40, seed=2, days=60)))
    rng = np.random.default_rng(1)
    orders = [events, events[::-1], [events[k] for k in rng.permutation(len(events))]]
    encoded = []
    for order in orders:
        r = Replay(fd)
        for k in range(0, len(order), 500):  # encoded and decoded between batches
            r.ingest(order[k : k + 500])
            r.states = {c: fd.decode(s.encode()) for c, s in r.states.items()}
        encoded.append({c: s.encode() for c, s in r.states.items()})
    assert encoded[0] == encoded[1] == encoded[2]
