"""The fitted transform: numbers checked with NumPy, exact round trip through JSON."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.features import (
    FeatureConfig,
    FeatureTransform,
    build_features,
    compute_feature_dir,
    load_feature_dir,
)
from archetype.features.testing import random_events

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def raw():
    return build_features(random_events(5000, 400, seed=3, days=180).lazy(), AS_OF)


@pytest.mark.parametrize("scaling", ["max", "std", "robust"])
def test_scaling_matches_numpy(raw, scaling):
    cfg = FeatureConfig(winsorize=(0.05, 0.95), scaling=scaling, max_correlation=None)
    t = FeatureTransform.fit(raw, cfg)
    emb = t.transform(raw)
    assert emb.dtype == np.float32 and emb.flags["C_CONTIGUOUS"]
    j = t.feature_names.index("total_spend")
    x = np.log1p(raw["total_spend"].to_numpy())
    lo, hi = np.quantile(x, [0.05, 0.95])
    xc = np.clip(x, lo, hi)
    q25, q75 = np.quantile(xc, [0.25, 0.75])
    scale = {"max": max(q75 - q25, xc.std()), "std": xc.std(), "robust": q75 - q25}[scaling]
    expect = (xc - np.median(xc)) / scale
    np.testing.assert_allclose(emb[:, j], expect.astype(np.float32), rtol=1e-6)
    k = t.feature_names.index("weekend_share")  # a share: no log1p
    assert not t.log1p[k] and t.log1p[j]


def test_robust_zero_iqr_falls_back_to_std():
    df = pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "referrals": [0.0, 0, 0, 0, 4],
            "frequency": [1.0, 2, 3, 4, 5],
        }
    )
    t = FeatureTransform.fit(df, FeatureConfig(winsorize=None, log1p=False, scaling="robust"))
    assert t.scale[0] == pytest.approx(np.std([0, 0, 0, 0, 4]))
    assert t.scale[1] == pytest.approx(2.0)  # IQR of 1..5


def test_round_trip_bit_for_bit(raw):
    cfg = FeatureConfig(pca_components=5, family_weights={"rfm": 2.0})
    t = FeatureTransform.fit(raw, cfg)
    t2 = FeatureTransform.from_dict(json.loads(json.dumps(t.to_dict())))
    a, b = t.transform(raw), t2.transform(raw)
    assert a.shape == (raw.height, 5)
    assert a.tobytes() == b.tobytes()
    assert t2.output_names == [f"pc{i}" for i in range(1, 6)]


def test_pca_matches_sklearn(raw):
    from sklearn.decomposition import PCA

    t0 = FeatureTransform.fit(raw, FeatureConfig())
    t = FeatureTransform.fit(raw, FeatureConfig(pca_components=3))
    z = t0.transform(raw).astype(np.float64)
    ref = PCA(n_components=3, svd_solver="full").fit_transform(z)
    got = t.transform(raw)
    for i in range(3):  # equal up to the sign of each component
        s = np.sign(ref[:, i] @ got[:, i])
        np.testing.assert_allclose(got[:, i], s * ref[:, i], rtol=1e-4, atol=1e-4)


def test_family_weights_scale_columns(raw):
    a = FeatureTransform.fit(raw, FeatureConfig()).transform(raw)
    t = FeatureTransform.fit(raw, FeatureConfig(family_weights={"content": 3.0}))
    b = t.transform(raw)
    cols = [i for i, f in enumerate(t.families) if f == "content"]
    np.testing.assert_allclose(b[:, cols], 3.0 * a[:, cols], rtol=1e-6)


def test_feature_dir_round_trip(tmp_path):
    random_events(4000, 200, seed=5, days=180).write_parquet(tmp_path / "ev.parquet")
    fs = compute_feature_dir(tmp_path / "ev.parquet", AS_OF, tmp_path / "f1")
    assert sorted(p.name for p in (tmp_path / "f1").iterdir()) == sorted(
        ["features.parquet", "ids.parquet", "embedding.npy", "transform.json", "manifest.json"]
    )
    loaded = load_feature_dir(tmp_path / "f1")
    assert np.array_equal(np.asarray(loaded.embedding), fs.embedding)
    assert loaded.ids.to_list() == fs.features["customer_id"].to_list()
    assert loaded.manifest["n_customers"] == fs.embedding.shape[0]
    assert loaded.manifest["as_of"] == "2026-06-30"
    # the saved transform re-applied to the saved features: bit for bit
    assert loaded.transform.transform(loaded.features).tobytes() == fs.embedding.tobytes()
    # re-applied on a fresh build from the events: same transform, same embedding
    again = compute_feature_dir(
        tmp_path / "ev.parquet", AS_OF, tmp_path / "f2", transform=loaded.transform
    )
    assert again.transform.to_dict() == loaded.transform.to_dict()
    np.testing.assert_allclose(again.embedding, fs.embedding, rtol=1e-6, atol=1e-6)


def test_missing_feature_dir_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not a feature directory"):
        load_feature_dir(tmp_path / "nope")


def test_id_map_renames_ids_before_writing(tmp_path):
    random_events(2000, 100, seed=7, days=120).write_parquet(tmp_path / "ev.parquet")
    plain = compute_feature_dir(tmp_path / "ev.parquet", AS_OF, tmp_path / "plain")

    def pseudo(s: pl.Series) -> pl.Series:
        return ("c" + (s * 7 + 3).cast(pl.String)).alias("whatever")

    mapped = compute_feature_dir(tmp_path / "ev.parquet", AS_OF, tmp_path / "m", id_map=pseudo)
    want = ["c" + str(7 * i + 3) for i in plain.ids.to_list()]
    assert mapped.ids.to_list() == want
    assert pl.read_parquet(tmp_path / "m" / "ids.parquet")["customer_id"].to_list() == want
    written = pl.read_parquet(tmp_path / "m" / "features.parquet")
    assert written["customer_id"].to_list() == want
    # same features and embedding (two builds: float sums may differ in the last bits)
    from polars.testing import assert_frame_equal

    assert_frame_equal(
        written.drop("customer_id"), plain.features.drop("customer_id"), rel_tol=1e-12
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "m" / "embedding.npy"), plain.embedding, rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError, match="id_map"):
        compute_feature_dir(
            tmp_path / "ev.parquet", AS_OF, tmp_path / "bad", id_map=lambda s: s.head(3)
        )
    assert not (tmp_path / "bad").exists()
