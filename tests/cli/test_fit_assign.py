"""``archetype fit`` / ``archetype assign`` through the CLI runner."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.features.transform import FeatureTransform
from archetype.pipeline.model import SegmentModel

runner = CliRunner()


def _feature_dir(path, X, names=("f0", "f1", "f2")):
    """A feature dir written by hand with the documented files."""
    path.mkdir(parents=True)
    ids = np.arange(1000, 1000 + len(X), dtype=np.int64)
    d = len(names)
    t = FeatureTransform(feature_names=list(names), families=["rfm"] * d, log1p=[False] * d,
                         lower=[-1e9] * d, upper=[1e9] * d, center=[0.0] * d, scale=[1.0] * d,
                         weights=[1.0] * d)
    pl.DataFrame({"customer_id": ids, **{n: X[:, i] for i, n in enumerate(names)}}).write_parquet(
        path / "features.parquet")
    pl.DataFrame({"customer_id": ids}).write_parquet(path / "ids.parquet")
    np.save(path / "embedding.npy", np.ascontiguousarray(X, dtype=np.float32))
    (path / "transform.json").write_text(json.dumps(t.to_dict()))
    (path / "manifest.json").write_text(json.dumps({"n_customers": len(X)}))
    return ids


@pytest.fixture
def feat(tmp_path, rng):
    centers = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], np.float32)
    X = np.concatenate([c + rng.normal(0, 0.3, (100, 3)) for c in centers]).astype(np.float32)
    ids = _feature_dir(tmp_path / "feat", X)
    return tmp_path, X, ids


def test_fit_then_assign(feat):
    tmp, X, ids = feat
    r = runner.invoke(app, ["fit", "--features", str(tmp / "feat"), "--k", "3", "--out",
                            str(tmp / "model"), "--device", "cpu", "--seed", "1", "-q"])
    assert r.exit_code == 0, r.output
    model = SegmentModel.load(tmp / "model")
    assert model.k == 3 and model.feature_names == ["f0", "f1", "f2"]
    assert model.transform["feature_names"] == ["f0", "f1", "f2"]
    r = runner.invoke(app, ["assign", "--model", str(tmp / "model"), "--features",
                            str(tmp / "feat"), "--out", str(tmp / "a.parquet"), "-q"])
    assert r.exit_code == 0, r.output
    df = pl.read_parquet(tmp / "a.parquet")
    assert df.columns == ["customer_id", "segment_id", "distance", "margin"]
    assert df["customer_id"].to_list() == ids.tolist()
    # independent check: nearest centroid by brute force, mapped through segment ids
    d = ((X[:, None, :] - model.centroids[None]) ** 2).sum(-1)
    seg = np.asarray(model.segment_ids)[d.argmin(1)]
    np.testing.assert_array_equal(df["segment_id"].to_numpy(), seg)
    np.testing.assert_allclose(df["distance"].to_numpy(), d.min(1), rtol=1e-4, atol=1e-4)
    s = np.sort(d, 1)
    np.testing.assert_allclose(df["margin"].to_numpy(), s[:, 1] - s[:, 0], rtol=1e-4, atol=1e-3)
    # warm start keeps segment ids and converges immediately
    r = runner.invoke(app, ["fit", "--features", str(tmp / "feat"), "--k", "3", "--out",
                            str(tmp / "model2"), "--init-from", str(tmp / "model"), "-q",
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    m2 = SegmentModel.load(tmp / "model2")
    np.testing.assert_allclose(m2.centroids, model.centroids, atol=1e-3)


def test_fit_k_too_large_exit_2_nothing_written(feat):
    tmp, _, _ = feat
    r = runner.invoke(app, ["fit", "--features", str(tmp / "feat"), "--k", "500", "--out",
                            str(tmp / "model"), "--device", "cpu", "-q"])
    assert r.exit_code == 2
    assert "n_samples=300 should be >= n_clusters=500" in r.output
    assert not (tmp / "model").exists()


def test_assign_mismatched_features_exit_2(feat, rng):
    tmp, X, _ = feat
    r = runner.invoke(app, ["fit", "--features", str(tmp / "feat"), "--k", "3", "--out",
                            str(tmp / "model"), "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    _feature_dir(tmp / "other", X[:, :2], names=("f0", "g1"))
    r = runner.invoke(app, ["assign", "--model", str(tmp / "model"), "--features",
                            str(tmp / "other"), "--out", str(tmp / "a.parquet"), "-q"])
    assert r.exit_code == 2
    assert "model features do not match" in r.output
    assert not (tmp / "a.parquet").exists()


def test_fit_missing_feature_dir_exit_2(tmp_path):
    r = runner.invoke(app, ["fit", "--features", str(tmp_path / "nope"), "--k", "3", "--out",
                            str(tmp_path / "model"), "-q"])
    assert r.exit_code == 2
    assert not (tmp_path / "model").exists()
