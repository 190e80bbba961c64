"""Output layout, schema, reproducibility and validation of ``archetype.synth.generate``."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

import archetype.synth.generator as generator_module
from archetype.errors import UserError
from archetype.events.schema import EVENT_TYPES
from archetype.synth import ARCHETYPE_MIX, ARCHETYPES, DEFAULT_END_DATE, EVENT_SCHEMA, generate

SMALL_CUSTOMERS = 3000
SMALL_SEED = 7


def test_default_end_date_and_archetypes():
    assert dt.date(2026, 12, 31) == DEFAULT_END_DATE
    assert len(ARCHETYPES) >= 9 and len(set(ARCHETYPES)) == len(ARCHETYPES)
    assert abs(sum(ARCHETYPE_MIX.values()) - 1.0) < 1e-9
    assert all(0.04 <= v <= 0.2 for v in ARCHETYPE_MIX.values())


def test_schema_and_values(small_log, small_events):
    for f in sorted((small_log / "events").rglob("*.parquet"))[:20]:
        assert dict(pl.read_parquet_schema(f)) == EVENT_SCHEMA
    ev = small_events
    assert set(ev["event_type"].unique()) == set(EVENT_TYPES)
    assert ev["customer_id"].null_count() == 0 and ev["ts"].null_count() == 0
    assert ev["event_id"].null_count() == 0 and ev["event_id"].n_unique() == ev.height
    buy = ev.filter(pl.col("event_type") == "purchase")
    assert buy["amount"].null_count() == 0 and (buy["amount"] != 0).all()
    assert buy["quantity"].min() >= 1
    assert buy["discount"].is_between(0.0, 1.0).all()
    # returns: a small share of purchases carry a negative amount
    share_neg = (buy["amount"] < 0).mean()
    assert 0.01 < share_neg < 0.15
    other = ev.filter(pl.col("event_type") != "purchase")
    assert other["amount"].null_count() == other.height
    assert set(ev["channel"].unique()) == {"web", "app", "store", "social", "email"}
    cats = ev["category"].drop_nulls().unique()
    assert 8 <= len(cats) <= 12
    # product events always have a category
    prod = ev.filter(pl.col("event_type").is_in(["view", "add_to_cart", "purchase"]))
    assert prod["category"].null_count() == 0


def test_partition_layout(small_log):
    parts = sorted((small_log / "events").iterdir())
    assert all(p.name.startswith("date=") for p in parts)
    first, last = parts[0].name[5:], parts[-1].name[5:]
    assert last <= "2026-12-31" and first >= "2026-01-01"
    for part in parts[::7]:
        day = dt.date.fromisoformat(part.name[5:])
        for f in part.glob("*.parquet"):
            assert f.name.startswith("part-") and len(f.stem) == len("part-00000")
            ts = pl.read_parquet(f)["ts"]
            assert ts.dt.date().min() == day and ts.dt.date().max() == day
            ids = pl.read_parquet(f)["customer_id"]
            assert ids.is_sorted()


def test_truth_covers_every_customer_once(small_log, small_truth, small_events):
    assert small_truth.schema == pl.Schema({"customer_id": pl.Int64, "archetype": pl.String})
    ids = small_truth["customer_id"].to_numpy()
    np.testing.assert_array_equal(np.sort(ids), np.arange(1, SMALL_CUSTOMERS + 1))
    assert set(small_truth["archetype"].unique()) == set(ARCHETYPES)
    assert set(small_events["customer_id"].unique()) <= set(ids.tolist())
    manifest = json.loads((small_log / "manifest.json").read_text())
    assert manifest["customers"] == SMALL_CUSTOMERS and manifest["seed"] == SMALL_SEED
    assert manifest["n_events"] == small_events.height


def test_mix_near_configured(small_truth):
    n = small_truth.height
    counts = dict(small_truth["archetype"].value_counts().iter_rows())
    for name, p in ARCHETYPE_MIX.items():
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(counts[name] / n - p) < 4 * sd, name


def test_about_fifty_events_per_customer(small_events):
    per = small_events.height / SMALL_CUSTOMERS
    assert 40 <= per <= 65


def test_summary_matches_files(tmp_path, read_events):
    s = generate(tmp_path / "o", customers=500, days=90, seed=3)
    ev = read_events(tmp_path / "o")
    assert s.n_events == ev.height and s.n_customers == 500
    assert s.n_files == len(list((tmp_path / "o" / "events").rglob("*.parquet")))
    assert sum(s.archetype_counts.values()) == 500
    truth = pl.read_parquet(tmp_path / "o" / "truth.parquet")
    assert s.archetype_counts == {
        a: int((truth["archetype"] == a).sum()) for a in ARCHETYPES
    }
    assert s.start_date == dt.date(2026, 10, 3) and s.end_date == DEFAULT_END_DATE
    assert ev["ts"].min() >= dt.datetime(2026, 10, 3)
    assert ev["ts"].max() < dt.datetime(2027, 1, 1)


def test_same_seed_identical_any_block_size(tmp_path, read_events):
    kw = {"customers": 5000, "days": 40, "seed": 11}
    generate(tmp_path / "a", **kw, block_size=5000)
    generate(tmp_path / "b", **kw, block_size=1300)  # splits RNG chunks across blocks
    generate(tmp_path / "c", **kw, block_size=5000)
    a, b, c = (read_events(tmp_path / x) for x in "abc")
    assert a.height > 0
    assert a.equals(b) and a.equals(c)
    ta, tb = (pl.read_parquet(tmp_path / x / "truth.parquet") for x in "ab")
    assert ta.equals(tb)
    # identical bytes for identical arguments, file by file
    fa = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    fc = sorted(p.relative_to(tmp_path / "c") for p in (tmp_path / "c").rglob("*.parquet"))
    assert fa == fc
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "c" / p).read_bytes() for p in fa)


def test_different_seed_differs(tmp_path, read_events):
    generate(tmp_path / "a", customers=300, days=60, seed=1)
    generate(tmp_path / "b", customers=300, days=60, seed=2)
    a, b = read_events(tmp_path / "a"), read_events(tmp_path / "b")
    assert not a.equals(b)
    ta, tb = (pl.read_parquet(tmp_path / x / "truth.parquet") for x in "ab")
    assert not ta.equals(tb)


def test_end_date_moves_window(tmp_path, read_events):
    generate(tmp_path / "o", customers=200, days=10, seed=1, end_date=dt.date(2025, 3, 5))
    ev = read_events(tmp_path / "o")
    assert ev["ts"].min() >= dt.datetime(2025, 2, 24)
    assert ev["ts"].max() < dt.datetime(2025, 3, 6)
    names = sorted(p.name for p in (tmp_path / "o" / "events").iterdir())
    assert names[0] >= "date=2025-02-24" and names[-1] <= "date=2025-03-05"


def test_one_customer_one_day(tmp_path):
    s = generate(tmp_path / "o", customers=1, days=1, seed=0)
    assert s.n_customers == 1
    assert pl.read_parquet(tmp_path / "o" / "truth.parquet").height == 1


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"customers": 0}, "customers=0 should be >= 1"),
        ({"customers": -5}, "customers=-5"),
        ({"days": 0}, "days=0 should be >= 1"),
        ({"days": 100_000}, "days=100000"),
        ({"seed": -1}, "seed=-1"),
        ({"block_size": 0}, "block_size=0"),
        ({"customers": 2.5}, "should be an integer"),
        ({"customers": True}, "should be an integer"),
        ({"end_date": "2026-01-01"}, "should be a date"),
    ],
)
def test_bad_arguments_raise_user_error_and_write_nothing(tmp_path, kw, msg):
    args = {"customers": 10, "days": 5, "seed": 1, **kw}
    with pytest.raises(UserError, match=msg):
        generate(tmp_path / "o", **args)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_foreign_directory(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "precious.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a synth output"):
        generate(tmp_path / "o", customers=10, days=5, seed=1)
    assert (tmp_path / "o" / "precious.txt").read_text() == "keep me"
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        generate(tmp_path / "f", customers=10, days=5, seed=1)


def test_replaces_previous_output_atomically(tmp_path, read_events, monkeypatch):
    generate(tmp_path / "o", customers=50, days=5, seed=1)
    before = read_events(tmp_path / "o")
    # a crash in the middle leaves the previous output untouched and no temp dir behind
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(generator_module, "write_block", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate(tmp_path / "o", customers=50, days=5, seed=2)
    assert read_events(tmp_path / "o").equals(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    monkeypatch.undo()
    generate(tmp_path / "o", customers=60, days=5, seed=2)
    assert pl.read_parquet(tmp_path / "o" / "truth.parquet").height == 60
