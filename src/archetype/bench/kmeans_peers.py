"""Peers for the k-means benchmarks: each returns ``(seconds, inertia, extra dict)``.

scikit-learn ``KMeans`` (lloyd) and ``MiniBatchKMeans``, ``faiss.Kmeans`` on the full data,
a plain-torch Lloyd loop, the bare GEMM ``X @ C.T`` and scikit-learn ``predict``; and ours.
Inertia is always recomputed by one exact pass (:func:`exact_inertia`) so it is comparable.
"""

from __future__ import annotations

import time

import numpy as np


def exact_inertia(X: np.ndarray, C: np.ndarray) -> float:
    """Sum of squared distances to the nearest center, float64 accumulation, chunked."""
    from archetype.cluster import assign

    a = assign(X, C, backend="torch", device="cpu")
    return float(a.distances.astype(np.float64).sum())


def sklearn_kmeans(X, k, *, seed=0, max_iter=20):
    from sklearn.cluster import KMeans

    t = time.perf_counter()
    m = KMeans(k, n_init=1, algorithm="lloyd", max_iter=max_iter, random_state=seed).fit(X)
    s = time.perf_counter() - t
    return s, exact_inertia(X, m.cluster_centers_), {"n_iter": int(m.n_iter_), "model": m}


def sklearn_minibatch(X, k, *, seed=0):
    from sklearn.cluster import MiniBatchKMeans

    t = time.perf_counter()
    m = MiniBatchKMeans(k, n_init=1, random_state=seed).fit(X)
    s = time.perf_counter() - t
    return s, exact_inertia(X, m.cluster_centers_), {"n_steps": int(m.n_steps_)}


def faiss_kmeans(X, k, *, seed=0, niter=20):
    import faiss

    t = time.perf_counter()
    km = faiss.Kmeans(X.shape[1], k, niter=niter, seed=seed, max_points_per_centroid=10**9,
                      verbose=False)
    km.train(np.ascontiguousarray(X, dtype=np.float32))
    s = time.perf_counter() - t
    return s, exact_inertia(X, km.centroids), {}


def torch_lloyd(X, k, *, seed=0, niter=20, chunk=65536):
    """The naive loop: chunked addmm + min + index_add_, random init."""
    import torch

    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    g = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    C = Xt[torch.randperm(len(Xt), generator=g)[:k]].clone()
    for _ in range(niter):
        cn = (C * C).sum(1)
        sums = torch.zeros_like(C)
        counts = torch.zeros(k)
        for s in range(0, len(Xt), chunk):
            x = Xt[s : s + chunk]
            lab = torch.addmm(cn, x, C.T, alpha=-2).argmin(1)
            sums.index_add_(0, lab, x)
            counts.index_add_(0, lab, torch.ones(len(x)))
        ok = counts > 0
        C[ok] = sums[ok] / counts[ok, None]
    s = time.perf_counter() - t
    return s, exact_inertia(X, C.numpy()), {}


def best_of(fn, repeat=3):
    """``(best seconds of repeat calls of fn(), nan, {})``."""
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best, float("nan"), {}


def bare_gemm(X, C, *, repeat=3):
    """Best-of-``repeat`` time of NumPy ``X @ C.T`` (the floor for assignment)."""
    return best_of(lambda: X @ C.T, repeat)


def sklearn_predict(X, model, *, repeat=3):
    """Best-of-``repeat`` time of scikit-learn's ``predict``."""
    return best_of(lambda: model.predict(X), repeat)


def ours_fit(X, k, *, seed=0, backend="auto", device="auto", **kw):
    from archetype import MiniBatchKMeans

    t = time.perf_counter()
    m = MiniBatchKMeans(k, random_state=seed, backend=backend, device=device, **kw).fit(X)
    s = time.perf_counter() - t
    return s, exact_inertia(X, m.cluster_centers_), {"n_iter": m.n_iter_,
                                                      "n_steps": m.n_steps_, "model": m}


def ours_predict(X, model, *, repeat=3):
    """Best-of-``repeat`` time of ``model.predict`` (labels only, like sklearn's)."""
    return best_of(lambda: model.predict(X), repeat)


def ours_assign(X, model, *, repeat=3):
    """Best-of-``repeat`` time of ``model.assign`` (labels, distances and margins)."""
    return best_of(lambda: model.assign(X), repeat)
