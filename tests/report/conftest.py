"""Fixtures: a small feature table with planted segments, assignments and an embedding."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

BASE = {
    "frequency": 5.0, "recency_days": 20.0, "monetary": 50.0, "total_spend": 250.0,
    "tenure_days": 300.0, "discount_share": 0.1, "cart_abandonment_rate": 0.2,
    "email_open_rate": 0.2, "referrals": 0.2, "weekend_share": 0.28,
}  # fmt: skip
PLANTED = {
    0: {},
    1: {"discount_share": 0.8},
    2: {"cart_abandonment_rate": 0.9},
    3: {"email_open_rate": 0.9, "frequency": 0.5, "total_spend": 10.0, "monetary": 20.0},
}


@pytest.fixture
def segdata(rng):
    per = 60
    rows, seg = [], []
    for sid, diff in PLANTED.items():
        for _ in range(per):
            rows.append({k: v * float(rng.uniform(0.8, 1.2)) for k, v in {**BASE, **diff}.items()})
            seg.append(sid)
    n = len(rows)
    feats = pl.DataFrame(rows).with_columns(pl.Series("customer_id", np.arange(100, 100 + n)))
    feats = feats.select("customer_id", *BASE)
    x = feats.drop("customer_id").to_numpy()
    emb = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    asg = pl.DataFrame({"customer_id": feats["customer_id"], "segment_id": np.array(seg) + 10})
    return feats, asg, emb


@pytest.fixture(scope="module")
def feature_dir(tmp_path_factory):
    """A real feature directory and assignments from a small synthetic log."""
    from archetype.cluster.assign import assign
    from archetype.features import compute_feature_dir
    from archetype.synth import generate

    root = tmp_path_factory.mktemp("fd")
    s = generate(root / "synth", customers=600, days=120, seed=3)
    fs = compute_feature_dir(root / "synth" / "events", s.end_date, root / "features")
    x = np.asarray(fs.embedding)
    a = assign(x, x[:4].copy())
    asg = pl.DataFrame({"customer_id": fs.ids.to_numpy(), "segment_id": a.labels + 1})
    asg.write_parquet(root / "assignments.parquet")
    return root
