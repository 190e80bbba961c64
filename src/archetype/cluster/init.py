"""Seeding on the in-memory sample: greedy k-means++ (on a sub-sample), k-means||, or
random rows."""

from __future__ import annotations

import numpy as np

from archetype.cluster.backends import DISTANCES
from archetype.cluster.data import ArrayDataset


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


def kmeans_parallel(ds: ArrayDataset, k: int, rng: np.random.Generator, *, rounds: int = 5,
                    oversampling: float = 2.0) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012): ``rounds`` passes sampling ~``oversampling*k`` rows
    each with probability proportional to their distance, then greedy k-means++ on the
    candidates weighted by how many rows each one attracts."""
    x = ds.X
    n = len(x)
    w = np.ones(n) if ds.w is None else ds.w.astype(np.float64)
    be = ds.backend
    ell = oversampling * k
    cands = [x[rng.integers(0, n, 1)]]
    dist = be.assign(x, be.prepare(cands[0]), mode=DISTANCES)[1].astype(np.float64)
    for _ in range(rounds):
        pot = float(np.dot(w, dist))
        if pot <= 0:
            break
        picked = np.flatnonzero(rng.random(n) < np.minimum(1.0, ell * w * dist / pot))
        if len(picked) == 0:
            continue
        cands.append(x[picked])
        dist = np.minimum(dist, be.assign(x, be.prepare(x[picked]), mode=DISTANCES)[1])
    C = np.concatenate(cands)
    if len(C) <= k:
        C = np.concatenate([C, x[rng.choice(n, size=k - len(C) + 1, replace=n < k)]])
    labels = be.assign(x, be.prepare(C), mode=DISTANCES)[0]
    weights = np.bincount(labels, weights=w, minlength=len(C))
    return kmeans_plusplus(C, weights + 1e-12, k, rng)


def seed_centers(ds: ArrayDataset, k: int, method: str, rng: np.random.Generator) -> np.ndarray:
    """Initial centers by ``method`` in {"k-means++", "k-means||", "random"} from the clean
    in-memory rows of ``ds`` (the loop's sample)."""
    n = ds.count()
    if method == "random":
        C = ds.X[np.sort(rng.choice(n, size=k, replace=False))]
    elif method == "k-means||":
        C = kmeans_parallel(ds, k, rng)
    else:
        m = seed_sample_size(n, k)
        idx = np.arange(n) if m == n else np.sort(rng.choice(n, m, replace=False))
        w = np.ones(len(idx)) if ds.w is None else ds.w[idx]
        C = kmeans_plusplus(ds.X[idx], w, k, rng)
    return ds.metric.centers(C)
