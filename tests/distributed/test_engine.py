"""RayEngine and LocalEngine: the Engine protocol, reached through get_engine."""

from __future__ import annotations

import numpy as np
import pytest

from archetype.cluster import assign
from archetype.errors import UserError
from archetype.pipeline.engine import Engine, LocalEngine, get_engine


def test_get_engine_builds_both_engines_without_connecting():
    from archetype.distributed.ray_engine import RayEngine

    engine = get_engine("ray", "ray://head:10001", num_workers=3, num_gpus=1, chunk_size=7)
    assert isinstance(engine, RayEngine) and isinstance(engine, Engine)
    assert (engine.address, engine.num_workers, engine.num_gpus) == ("ray://head:10001", 3, 1)
    local = get_engine("local", batch_size=512, max_iter=3, num_workers=9)
    assert isinstance(local, LocalEngine) and isinstance(local, Engine)
    assert (local.batch_size, local.max_iter) == (512, 3)
    with pytest.raises(UserError, match="engine='spark' should be one of local or ray"):
        get_engine("spark")


def test_local_engine_fit_passes_the_tracker_and_reports_sizes():
    from archetype.progress import NullTracker

    seen: list[str] = []

    class Recorder(NullTracker):
        def task(self, description, total=None):
            seen.append(description)
            return super().task(description, total)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3_000, 4)).astype(np.float32)
    C, info = LocalEngine().fit(X, 5, seed=1, n_init=2, tracker=Recorder())
    assert "k-means full passes" in seen and "k-means mini-batch steps" in seen
    assert sum(info["sizes"]) == len(X) and info["engine"] == "local"
    np.testing.assert_array_equal(np.bincount(assign(X, C).labels, minlength=5), info["sizes"])


@pytest.mark.ray
@pytest.mark.slow
def test_get_engine_ray_fit_and_assign_match_local(ray_local):
    from archetype.distributed.ray_engine import RayEngine

    engine = get_engine("ray", num_workers=2)
    assert isinstance(engine, RayEngine) and engine.num_workers == 2
    rng = np.random.default_rng(2)
    centers = rng.normal(0, 5, size=(4, 5))
    X = (centers[rng.integers(0, 4, 4_000)] + rng.normal(size=(4_000, 5))).astype(np.float32)
    kw = {"backend": "numpy", "device": "cpu", "metric": "l2"}
    C_ray, info = engine.fit(X, 4, seed=1, n_init=2, **kw)
    C_loc, info_loc = LocalEngine().fit(X, 4, seed=1, n_init=2, **kw)
    np.testing.assert_array_equal(C_ray, C_loc)
    assert info["engine"] == "ray" and info["workers"] == 2
    for key in ("backend", "device", "n_iter", "n_steps", "sizes"):
        assert info[key] == info_loc[key], key
    assert info["inertia"] == pytest.approx(info_loc["inertia"], rel=1e-12)
    # assignments for a fixed model are identical to the local kernel's
    got = engine.assign(X, C_loc, **kw)
    ref = assign(X, C_loc, **kw)
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_allclose(got.distances, ref.distances, rtol=1e-6, atol=1e-6)
