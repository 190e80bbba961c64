"""Seeding: greedy k-means++ on a sample, k-means|| over all rows, or random rows."""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends import Backend
from archetype.cluster.data import Dataset


#: Rows sampled for k-means++ seeding: enough to see every cluster, cheap to scan k times.
def seed_sample_size(n: int, k: int) -> int:
    return int(min(n, max(10_000, 32 * k)))


def _sqdist(X: np.ndarray, xn: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared distances (len(C), n) via the GEMM identity, clipped at 0."""
    cn = np.einsum("ij,ij->i", C, C)
    D = C @ X.T
    D *= -2.0
    D += cn[:, None]
    D += xn[None, :]
    np.maximum(D, 0, out=D)
    return D


def kmeans_plusplus(X: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator,
                    n_local_trials: int | None = None) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii; sklearn's greedy variant) on weighted rows.

    Parameters
    ----------
    X : (n, d) float32, w : (n,) weights, k : number of centers, rng : Generator.

    Returns
    -------
    centers : (k, d) float32
    """
    from threadpoolctl import threadpool_limits

    # k small GEMMs in a row: one BLAS thread avoids a fork/join per call (the seeding
    # sample is small; multi-threaded calls were 5-10x slower on a loaded 2-core box).
    with threadpool_limits(1, user_api="blas"):
        return _kmeans_plusplus(X, w, k, rng, n_local_trials)


def _kmeans_plusplus(X, w, k, rng, n_local_trials):
    n = X.shape[0]
    trials = n_local_trials or (2 + int(np.log(k)))
    w = np.asarray(w, dtype=np.float64)
    xn = np.einsum("ij,ij->i", X, X)
    centers = np.empty((k, X.shape[1]), dtype=np.float32)
    p = w / w.sum() if w.sum() > 0 else None
    first = int(rng.choice(n, p=p))
    centers[0] = X[first]
    closest = _sqdist(X, xn, X[first : first + 1])[0].astype(np.float64)
    pot = float(np.dot(w, closest))
    for c in range(1, k):
        if pot <= 0:  # every row already coincides with a center: take any rows
            centers[c] = X[int(rng.integers(n))]
            continue
        cum = np.cumsum(w * closest)
        cand = np.searchsorted(cum, rng.random(trials) * cum[-1])
        cand = np.minimum(cand, n - 1)
        dc = np.minimum(closest[None, :], _sqdist(X, xn, X[cand]))
        pots = dc @ w
        best = int(np.argmin(pots))
        closest, pot = dc[best], float(pots[best])
        centers[c] = X[cand[best]]
    return centers


def kmeans_parallel(ds: Dataset, k: int, rng: np.random.Generator, backend: Backend, *,
                    rounds: int = 5, oversampling: float = 2.0) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012): ``rounds`` passes sampling ~``oversampling*k`` rows
    each with probability proportional to their distance, then greedy k-means++ on the
    candidates weighted by how many rows each one attracts."""
    n = ds.count()
    ell = oversampling * k
    x0, _ = ds.subset(rng.integers(0, n, 1))
    cands = [x0]
    C = x0
    dist = np.empty(n, np.float32)
    for s, x, _w in ds.chunks():
        dist[s : s + len(x)] = backend.assign(x, backend.prepare(C))[1]
    for _ in range(rounds):
        pot = float(np.dot(ds.w.astype(np.float64), dist))
        if pot <= 0:
            break
        prob = np.minimum(1.0, ell * ds.w * dist / pot)
        picked = np.flatnonzero(rng.random(n) < prob)
        if len(picked) == 0:
            continue
        new, _ = ds.subset(picked)
        cands.append(new)
        prep = backend.prepare(new)
        for s, x, _w in ds.chunks():
            dist[s : s + len(x)] = np.minimum(dist[s : s + len(x)], backend.assign(x, prep)[1])
    C = np.concatenate(cands)
    if len(C) <= k:
        extra, _ = ds.subset(rng.choice(n, size=k - len(C) + 1, replace=n < k))
        C = np.concatenate([C, extra])
    weights = np.zeros(len(C))
    prep = backend.prepare(C)
    for _s, x, w in ds.chunks():
        labels = backend.assign(x, prep)[0]
        weights += np.bincount(labels, weights=w, minlength=len(C))
    return kmeans_plusplus(C, weights + 1e-12, k, rng)


def random_rows(ds: Dataset, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct rows chosen uniformly."""
    x, _ = ds.subset(rng.choice(ds.count(), size=k, replace=False))
    return x.copy()


def seed_centers(ds: Dataset, k: int, method: str, rng: np.random.Generator,
                 backend: Backend) -> np.ndarray:
    """Initial centers by ``method`` in {"k-means++", "k-means||", "random"}."""
    if method == "random":
        C = random_rows(ds, k, rng)
    elif method == "k-means||":
        C = kmeans_parallel(ds, k, rng, backend)
    else:
        m = seed_sample_size(ds.count(), k)
        idx = np.arange(ds.count()) if m == ds.count() else rng.choice(ds.count(), m, replace=False)
        x, w = ds.subset(idx)
        C = kmeans_plusplus(x, w, k, rng)
    if ds.metric == "cosine":
        C = C / np.linalg.norm(C, axis=1, keepdims=True)
    return np.ascontiguousarray(C, dtype=np.float32)
