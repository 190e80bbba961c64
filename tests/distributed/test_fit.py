"""The Ray fit is the local loop over shard actors: the same centers as ``MiniBatchKMeans``
for the same seed, deterministic, and unchanged by a lost worker.

Starting a worker process costs seconds on a busy 2-core machine, so the tests share one pool
of two shard workers (``pool``) wherever the fit's own start-up is not what is tested.
"""

from __future__ import annotations

import numpy as np
import pytest

from archetype.cluster import MiniBatchKMeans, partial_stats
from archetype.distributed.dataset import WorkerLostError, start_workers
from archetype.distributed.fit import ray_fit
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


def _local(X, seed, **kw):
    return MiniBatchKMeans(n_clusters=K, batch_size=1024, random_state=seed, **{**KW, **kw}
                           ).fit(X)


def test_ray_fit_gives_the_local_centers(ray_local, blobs, pool):
    local = _local(blobs, 3)
    res = ray_fit(blobs, K, seed=3, batch_size=1024, pool=pool, **KW)
    np.testing.assert_array_equal(res.centers, local.cluster_centers_)
    assert (res.n_iter, res.n_steps) == (local.n_iter_, local.n_steps_)
    assert res.inertia == pytest.approx(local.inertia_, rel=1e-12)
    # the reported inertia is that of the returned centers over every row (NumPy reference)
    d2 = ((blobs[:, None, :].astype(np.float64) - res.centers[None].astype(np.float64)) ** 2)
    assert res.inertia == pytest.approx(d2.sum(-1).min(1).sum(), rel=1e-5)
    np.testing.assert_array_equal(res.sizes, np.bincount(local.labels_, minlength=K))
    assert [w["rows"] for w in res.workers] == [6_000, 6_000]
    # the loop ran every phase, on the sample and over the shards
    phases = {h["phase"] for h in res.history}
    assert {"init", "minibatch", "sample", "lloyd"} <= phases


def test_n_init_and_warm_start_as_local(ray_local, blobs, pool):
    local = _local(blobs, 5, n_init=3)
    res = ray_fit(blobs, K, seed=5, batch_size=1024, n_init=3, pool=pool, **KW)
    np.testing.assert_array_equal(res.centers, local.cluster_centers_)
    other = ray_fit(blobs, K, seed=6, batch_size=1024, max_steps=3, max_iter=0, pool=pool, **KW)
    assert not np.array_equal(res.centers, other.centers)  # the seed matters
    # warm start from converged centers: no mini-batch step, the Lloyd pass keeps them
    w = ray_fit(blobs, K, init=res.centers, seed=9, max_steps=0, pool=pool, **KW)
    assert w.n_steps == 0
    assert w.inertia == pytest.approx(partial_stats(blobs, w.centers, **KW).inertia, rel=1e-6)
    assert w.inertia <= res.inertia * (1 + 1e-6)


def test_empty_cluster_is_moved_to_the_farthest_row_as_locally(ray_local, blobs, pool):
    """Same init, no mini-batch steps: one initial center sits far from every row, so its
    cluster is empty on the first pass, and both move it onto the farthest row (over all
    shards for Ray)."""
    init = np.vstack([blobs[[0, 1, 2, 3, 4]], np.full((1, 8), 1e3, np.float32)])
    local = MiniBatchKMeans(n_clusters=K, init=init, max_steps=0, **KW).fit(blobs)
    res = ray_fit(blobs, K, init=init, seed=0, max_steps=0, pool=pool, **KW)
    assert any(h.get("empty") for h in res.history)  # the relocation path ran
    assert res.n_iter == local.n_iter_
    np.testing.assert_array_equal(res.centers, local.cluster_centers_)


def test_killed_worker_is_restarted_and_result_unchanged(ray_local, blobs, pool):
    # a poor warm start: several full passes, so a worker dies in the middle of the fit
    kw = {"init": blobs[:K], "max_steps": 0, "tol": 0.0, "max_iter": 8, "pool": pool, **KW}
    ref = ray_fit(blobs, K, **kw)
    assert ref.n_iter >= 4
    seen = {}

    def kill_worker_1(i, workers):
        if i == 1:
            seen["before"] = ray_local.get(workers[1].info.remote())
            ray_local.kill(workers[1], no_restart=False)  # the process dies mid-fit
        if i == 3:
            seen["after"] = ray_local.get(workers[1].info.remote())

    got = ray_fit(blobs, K, on_pass=kill_worker_1, **kw)
    assert seen["after"]["restarted"] and seen["after"]["pid"] != seen["before"]["pid"]
    assert seen["after"]["rows"] == seen["before"]["rows"]  # the shard was reloaded
    np.testing.assert_array_equal(got.centers, ref.centers)
    assert got.inertia == ref.inertia


def test_worker_lost_without_restarts_fails_clearly(ray_local, blobs):
    def kill_worker_0(i, workers):
        if i == 0:
            ray_local.kill(workers[0], no_restart=True)

    with pytest.raises(WorkerLostError, match="during pass 1"):
        ray_fit(blobs, K, seed=7, num_workers=1, on_pass=kill_worker_0, max_restarts=0,
                tol=0.0, max_iter=5, **KW)


def test_cosine_fit_gives_the_local_centers(ray_local, blobs):
    kw = {**KW, "metric": "cosine"}
    local = _local(blobs, 4, metric="cosine")
    res = ray_fit(blobs, K, seed=4, batch_size=1024, num_workers=1, **kw)
    np.testing.assert_array_equal(res.centers, local.cluster_centers_)
    np.testing.assert_allclose(np.linalg.norm(res.centers, axis=1), 1.0, rtol=1e-5)
    Xn = blobs / np.linalg.norm(blobs, axis=1, keepdims=True)
    cos = Xn.astype(np.float64) @ res.centers.T.astype(np.float64)
    assert res.inertia == pytest.approx((1 - cos.max(1)).sum(), rel=1e-4)


def test_bad_input_fails_before_starting_workers(ray_local, blobs):
    with pytest.raises(UserError, match="n_samples=5 should be >= n_clusters=6"):
        ray_fit(blobs[:5], K, seed=1, **KW)
    with pytest.raises(UserError, match="metric="):
        ray_fit(blobs, K, seed=1, backend="numpy", metric="manhattan")
    with pytest.raises(UserError, match=r"init.shape=\(2, 8\) should be"):
        ray_fit(blobs, K, init=blobs[:2], **KW)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_clusters_typo'"):
        ray_fit(blobs, K, n_clusters_typo=3, **KW)


@pytest.fixture(scope="module")
def synth_embedding(tmp_path_factory):
    """The embedding of a synthetic event log (not blobs): 38 skewed, correlated features."""
    import datetime as dt

    from archetype.features import compute_feature_dir
    from archetype.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root / "log", customers=40_000, days=90, seed=5)
    compute_feature_dir(root / "log" / "events", dt.date(2026, 12, 31), root / "features")
    return root / "features" / "embedding.npy"


@pytest.mark.slow
def test_hard_case_real_embedding_k32(ray_local, synth_embedding):
    """More rows than the loop's sample, so the full passes run over the shards; the Ray fit
    reaches the local fit's inertia within 0.1% (it makes the same moves)."""
    X = np.load(synth_embedding)
    assert X.shape[0] > 32_768
    local = MiniBatchKMeans(32, random_state=0, device="cpu").fit(X)
    # half a CPU each: the module's pool of the other tests holds the rest of the test Ray
    pool = start_workers(ray_local, synth_embedding, 2, metric="l2", backend="auto",
                         device="cpu", num_cpus=0.5)
    try:
        res = ray_fit(synth_embedding, 32, seed=0, device="cpu", pool=pool)
    finally:
        pool.close(ray_local)
    assert res.inertia == pytest.approx(local.inertia_, rel=1e-3)
    assert any(h["phase"] == "lloyd" and h["step"] >= 1 for h in res.history)
    np.testing.assert_allclose(res.centers, local.cluster_centers_, rtol=1e-4, atol=1e-4)
