"""Ray assignment equals the local kernel; partitioned output is committed whole or not at all."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from archetype.cluster import assign
from archetype.distributed.assign import MANIFEST, ray_assign, read_assignments, write_assignments

pytestmark = pytest.mark.ray


@pytest.fixture
def features_dir(tmp_path, rng):
    X = rng.standard_normal((1_003, 6)).astype(np.float32)
    d = tmp_path / "features"
    d.mkdir()
    np.save(d / "embedding.npy", X)
    ids = np.arange(1_003, dtype=np.int64) * 7 + 100
    pl.DataFrame({"customer_id": ids}).write_parquet(d / "ids.parquet")
    C = X[rng.choice(len(X), 5, replace=False)] + 0.01
    return d, X, ids, C


def test_ray_assign_equals_local_for_array_and_memmap(ray_local, features_dir):
    d, X, _, C = features_dir
    local = assign(X, C, backend="numpy", device="cpu")
    for emb in (X, np.load(d / "embedding.npy", mmap_mode="r")):
        got = ray_assign(emb, C, backend="numpy", device="cpu", num_tasks=3)
        np.testing.assert_array_equal(got.labels, local.labels)
        np.testing.assert_allclose(got.distances, local.distances, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got.margin, local.margin, rtol=1e-6, atol=1e-6)


def test_write_assignments_parts_then_manifest(ray_local, features_dir, tmp_path):
    d, X, ids, C = features_dir
    seg_ids = np.array([10, 11, 12, 13, 14])
    out = tmp_path / "assignments"
    manifest = write_assignments(d, C, seg_ids, out, backend="numpy", device="cpu", num_tasks=4)
    local = assign(X, C, backend="numpy", device="cpu")
    frame = read_assignments(out)
    assert frame.columns == ["customer_id", "segment_id", "distance", "margin"]
    np.testing.assert_array_equal(frame["customer_id"].to_numpy(), ids)
    np.testing.assert_array_equal(frame["segment_id"].to_numpy(), seg_ids[local.labels])
    np.testing.assert_allclose(frame["distance"].to_numpy(), local.distances, rtol=1e-6)
    assert len(manifest["parts"]) == 4 and manifest["rows"] == len(X)
    expected = np.bincount(local.labels, minlength=5)
    sizes = {int(s): int(c) for s, c in zip(seg_ids, expected, strict=True)}
    assert manifest["segment_sizes"] == sizes
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST] + [f"part-{i:05d}.parquet" for i in range(4)])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_failed_assign_leaves_no_output(ray_local, features_dir, tmp_path):
    d, X, _, C = features_dir
    out = tmp_path / "assignments"
    bad = C.copy()
    bad[0, 0] = np.nan  # every task raises on NaN centroids
    with pytest.raises(Exception, match="NaN"):
        write_assignments(d, bad, np.arange(5), out, backend="numpy", device="cpu", num_tasks=3)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
