"""Choosing k: blobs with a known best k, metrics equal scikit-learn's, k-range parsing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score

from archetype.errors import UserError
from archetype.segments.sweep import SweepResult, parse_k_range, recommend_k, sweep_k


def sk_fit(x, k, seed):
    est = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
    return est.labels_, float(est.inertia_)


@pytest.fixture
def blobs(seed):
    x, y = make_blobs(n_samples=1200, centers=5, n_features=4, cluster_std=0.6,
                      center_box=(-12, 12), random_state=seed % 2**31)
    return x.astype(np.float32), y


def test_recommends_planted_k(blobs):
    x, _ = blobs
    res = sweep_k(x, range(2, 9), seeds=3, sample=None, silhouette_sample=800, fit=sk_fit)
    assert res.recommended_k == 5
    assert "k=5" in res.reason and "silhouette" in res.reason
    i5 = res.ks.index(5)
    assert res.stability[i5] > 0.95
    # inertia falls with k
    assert all(a >= b for a, b in zip(res.inertia, res.inertia[1:], strict=False))


def test_default_estimator_recommends_planted_k(blobs):
    x, _ = blobs
    res = sweep_k(x, [3, 4, 5, 6, 7], seeds=2, sample=1000, silhouette_sample=600)
    assert res.recommended_k == 5
    assert res.n == 1200 and res.n_sample == 1000


def test_metrics_equal_sklearn(blobs):
    x, _ = blobs
    seen = {}

    def fit(xs, k, seed):
        labels, inertia = sk_fit(xs, k, seed)
        seen[(k, seed)] = (xs, labels, inertia)
        return labels, inertia

    res = sweep_k(x, [4], seeds=2, sample=None, silhouette_sample=500, random_state=3, fit=fit)
    (xs, l3, i3), (_, l4, i4) = seen[(4, 3)], seen[(4, 4)]
    best = l3 if i3 <= i4 else l4
    assert res.inertia[0] == pytest.approx(min(i3, i4))
    assert res.silhouette[0] == pytest.approx(
        silhouette_score(xs, best, sample_size=500, random_state=3)
    )
    assert res.davies_bouldin[0] == pytest.approx(davies_bouldin_score(xs, best))
    assert res.stability[0] == pytest.approx(adjusted_rand_score(l3, l4))


def test_unstable_k_not_recommended():
    k, reason = recommend_k(
        [3, 4, 5], [0.5, 0.7, 0.6], [1.0, 0.8, 0.9], [100, 120, 110], [0.99, 0.5, 0.95]
    )
    assert k == 5
    assert "stability" in reason
    k, reason = recommend_k([3, 4], [0.5, 0.7], [1.0, 0.8], [100, 120], [None, None])
    assert k == 4 and "one seed" in reason


def test_roundtrip_dict(blobs):
    x, _ = blobs
    res = sweep_k(x[:300], [2, 3], seeds=1, sample=None, fit=sk_fit)
    assert res.stability == [None, None]
    again = SweepResult.from_dict(res.to_dict())
    assert again == res


@pytest.mark.parametrize(
    ("spec", "step", "want"),
    [("4:8", None, [4, 5, 6, 7, 8]), ("4:12", 4, [4, 8, 12]), ("4:10:3", None, [4, 7, 10]),
     ("8,4, 6", None, [4, 6, 8])],
)
def test_parse_k_range(spec, step, want):
    assert parse_k_range(spec, step=step) == want


@pytest.mark.parametrize("spec", ["1:5", "a:b", "8:4", "", "4:8:0"])
def test_parse_k_range_bad(spec):
    with pytest.raises(UserError, match="--k"):
        parse_k_range(spec)


def test_bad_inputs(blobs):
    x, _ = blobs
    with pytest.raises(UserError, match="n_samples"):
        sweep_k(x[:10], [2, 12], fit=sk_fit)
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(UserError, match="NaN"):
        sweep_k(bad, [2], fit=sk_fit, sample=None)


def test_sweep_cli(tmp_path, blobs):
    """The CLI on a feature dir whose embedding is blobs: table, JSON and PNG written."""
    import json

    import polars as pl
    from typer.testing import CliRunner

    from archetype.cli.main import app
    from archetype.features import compute_feature_dir
    from archetype.synth import generate

    s = generate(tmp_path / "s", customers=300, days=60, seed=2)
    fdir = tmp_path / "features"
    compute_feature_dir(tmp_path / "s" / "events", s.end_date, fdir)
    out = tmp_path / "sw"
    res = CliRunner().invoke(app, ["sweep", "--features", str(fdir), "--k", "2:4", "--seeds",
                                   "2", "--out", str(out), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads((out / "sweep.json").read_text())
    assert d["ks"] == [2, 3, 4] and d["recommended_k"] in (2, 3, 4)
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "recommended k" in res.output
    assert pl.read_parquet(fdir / "features.parquet").height == d["n"]
    bad = CliRunner().invoke(app, ["sweep", "--features", str(fdir), "--k", "1:3",
                                   "--out", str(tmp_path / "x")])  # fmt: skip
    assert bad.exit_code == 2 and "--k" in bad.output
    assert not (tmp_path / "x").exists()
