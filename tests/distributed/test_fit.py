"""The Ray fit: same math as the local estimator, deterministic per seed, survives a lost worker.

Starting a worker process costs seconds on a busy 2-core machine, so the tests share one pool
of two shard workers (``pool``) wherever the fit's own start-up is not what is tested.
"""

from __future__ import annotations

import numpy as np
import pytest

from archetype.cluster import MiniBatchKMeans, partial_stats
from archetype.distributed.fit import RayFitConfig, WorkerLostError, ray_fit, start_workers
from archetype.errors import UserError

pytestmark = pytest.mark.ray

K = 6
KW = {"backend": "numpy", "device": "cpu", "metric": "l2"}


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(11)
    centers = rng.normal(0, 6, size=(K, 8))
    labels = rng.integers(0, K, 12_000)
    X = centers[labels] + rng.normal(0, 1.0, size=(len(labels), 8))
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def pool(ray_local, blobs):
    # half a CPU each: the 2-CPU test Ray keeps room for the other tests' workers and tasks
    p = start_workers(ray_local, blobs, 2, max_restarts=2, num_cpus=0.5, **KW)
    yield p
    p.close(ray_local)


def _cfg(**kw):
    return RayFitConfig(batch_size=1024, **kw)


def test_ray_fit_matches_local_inertia(ray_local, blobs, pool):
    local = MiniBatchKMeans(n_clusters=K, batch_size=1024, random_state=3, backend="numpy",
                            device="cpu").fit(blobs)
    res = ray_fit(blobs, K, seed=3, config=_cfg(), pool=pool, **KW)
    assert abs(res.inertia - local.inertia_) / local.inertia_ < 0.005
    # the reported inertia is that of the returned centers over every row (NumPy reference)
    d2 = ((blobs[:, None, :].astype(np.float64) - res.centers[None].astype(np.float64)) ** 2)
    assert res.inertia == pytest.approx(d2.sum(-1).min(1).sum(), rel=1e-5)
    assert res.n_steps >= 1 and res.n_iter >= 1
    assert [w["rows"] for w in res.workers] == [6_000, 6_000]


def test_same_seed_same_centers_and_warm_start(ray_local, blobs, pool):
    a = ray_fit(blobs, K, seed=5, config=_cfg(), pool=pool, **KW)
    b = ray_fit(blobs, K, seed=5, config=_cfg(), pool=pool, **KW)
    np.testing.assert_array_equal(a.centers, b.centers)
    c = ray_fit(blobs, K, seed=6, config=_cfg(max_steps=3, max_iter=0), pool=pool, **KW)
    assert not np.array_equal(a.centers, c.centers)  # the seed matters
    # warm start from converged centers: no mini-batch step, the Lloyd pass keeps them
    w = ray_fit(blobs, K, init=a.centers, seed=9, config=_cfg(max_steps=0), pool=pool, **KW)
    assert w.n_steps == 0
    assert w.inertia == pytest.approx(partial_stats(blobs, w.centers, **KW).inertia, rel=1e-6)
    assert w.inertia <= a.inertia * (1 + 1e-6)


def test_lloyd_phase_equals_local_including_empty_cluster(ray_local, blobs, pool):
    """Same init, no mini-batch steps: the Ray Lloyd phase is the local one, pass for pass.

    One initial center sits far from every row, so its cluster is empty on the first pass and
    both move it onto the farthest row (over all shards for Ray).
    """
    init = np.ascontiguousarray(blobs[[0, 1, 2, 3, 4]].copy())
    init = np.vstack([init, np.full((1, 8), 1e3, np.float32)])
    local = MiniBatchKMeans(n_clusters=K, init=init, max_steps=0, backend="numpy",
                            device="cpu").fit(blobs)
    res = ray_fit(blobs, K, init=init, seed=0, config=_cfg(max_steps=0), pool=pool, **KW)
    assert any(h.get("empty") for h in res.history)  # the relocation path ran
    assert res.n_iter == local.n_iter_
    np.testing.assert_allclose(res.centers, local.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert res.inertia == pytest.approx(local.inertia_, rel=1e-9)


def test_killed_worker_is_restarted_and_result_unchanged(ray_local, blobs, pool):
    cfg = _cfg(max_steps=6, max_no_improvement=None)
    ref = ray_fit(blobs, K, seed=7, config=cfg, pool=pool, **KW)
    seen = {}

    def kill_worker_1(step, workers):
        if step == 2:
            seen["before"] = ray_local.get(workers[1].info.remote())
            ray_local.kill(workers[1], no_restart=False)  # the process dies mid-fit
        if step == 4:
            seen["after"] = ray_local.get(workers[1].info.remote())

    got = ray_fit(blobs, K, seed=7, config=cfg, pool=pool, on_step=kill_worker_1, **KW)
    assert seen["after"]["restarted"] and seen["after"]["pid"] != seen["before"]["pid"]
    assert seen["after"]["rows"] == seen["before"]["rows"]  # the shard was reloaded
    np.testing.assert_array_equal(got.centers, ref.centers)
    assert got.inertia == ref.inertia


def test_worker_lost_without_restarts_fails_clearly(ray_local, blobs):
    def kill_worker_0(step, workers):
        if step == 1:
            ray_local.kill(workers[0], no_restart=True)

    with pytest.raises(WorkerLostError, match="mini-batch step 2"):
        ray_fit(blobs, K, seed=7, num_workers=1, on_step=kill_worker_0,
                config=_cfg(max_steps=5, max_no_improvement=None, max_restarts=0), **KW)


def test_cosine_fit_matches_local(ray_local, blobs):
    local = MiniBatchKMeans(n_clusters=K, batch_size=1024, random_state=4, backend="numpy",
                            device="cpu", metric="cosine").fit(blobs)
    res = ray_fit(blobs, K, seed=4, backend="numpy", device="cpu", metric="cosine",
                  num_workers=1, config=_cfg())
    assert abs(res.inertia - local.inertia_) / local.inertia_ < 0.005
    np.testing.assert_allclose(np.linalg.norm(res.centers, axis=1), 1.0, rtol=1e-5)
    Xn = blobs / np.linalg.norm(blobs, axis=1, keepdims=True)
    cos = Xn.astype(np.float64) @ res.centers.T.astype(np.float64)
    assert res.inertia == pytest.approx((1 - cos.max(1)).sum(), rel=1e-4)


def test_bad_input_fails_before_starting_workers(ray_local, blobs):
    with pytest.raises(UserError, match="n_samples=5 should be >= n_clusters=6"):
        ray_fit(blobs[:5], K, seed=1, **KW)
    with pytest.raises(UserError, match="metric="):
        ray_fit(blobs, K, seed=1, backend="numpy", metric="manhattan")
