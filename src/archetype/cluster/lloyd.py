"""Full-data Lloyd passes, chunk by chunk, with empty clusters moved to the farthest rows."""

from __future__ import annotations

import time

import numpy as np

from archetype.cluster.backends import Backend
from archetype.cluster.data import Dataset
from archetype.cluster.step import StepStats, centers_from_stats
from archetype.progress import Tracker, tracker_or_null


def full_pass(ds: Dataset, centers: np.ndarray, backend: Backend, *, keep_labels: bool = False,
              n_far: int = 0):
    """Assign every row to ``centers`` and sum per center.

    Returns
    -------
    stats : StepStats
    labels : ndarray (n,) int64 or None
    far : ndarray of row indices of the ``n_far`` largest distances (farthest first)
    """
    prep = backend.prepare(centers)
    k, d = centers.shape
    total = StepStats.zeros(k, d)
    labels = np.empty(ds.count(), np.int64) if keep_labels else None
    far_d = np.empty(0, np.float32)
    far_i = np.empty(0, np.int64)
    for s, x, w in ds.chunks():
        cs = backend.assign_accumulate(x, prep, w)
        inertia = cs.inertia / 2.0 if ds.metric == "cosine" else cs.inertia
        total = total + StepStats(cs.sums, cs.counts, inertia, len(x))
        if keep_labels:
            labels[s : s + len(x)] = cs.labels
        if n_far:
            m = min(n_far, len(x))
            top = np.argpartition(cs.dist * (w > 0), len(x) - m)[len(x) - m :]
            far_d = np.concatenate([far_d, cs.dist[top]])
            far_i = np.concatenate([far_i, top + s])
            keep = np.argsort(-far_d, kind="stable")[:n_far]
            far_d, far_i = far_d[keep], far_i[keep]
    return total, labels, far_i


def relocate_empty(ds: Dataset, stats: StepStats, new_centers: np.ndarray,
                   far: np.ndarray) -> int:
    """Move centers with zero weight onto the farthest rows (in place); returns how many."""
    empty = np.flatnonzero(stats.counts <= 0)
    m = min(len(empty), len(far))
    if m:
        x, _ = ds.subset(far[:m])
        order = np.argsort(far[:m])  # subset() sorts indices; map back to farthest-first
        new_centers[empty[:m]] = x[np.argsort(order)]
    return m


def lloyd_phase(ds: Dataset, centers: np.ndarray, backend: Backend, *, max_iter: int,
                tol: float, history: list, tracker: Tracker | None = None,
                phase: str = "lloyd"):
    """Lloyd passes until the relative inertia gain is below ``tol`` or ``max_iter`` passes.

    ``phase`` names the history entries ("lloyd" for full data, "sample"/"repair" for the
    in-memory sample passes).  The returned centers are the ones the returned labels and
    inertia were computed against (the last pass does not move them), so ``labels_`` and
    ``inertia_`` agree.

    Returns
    -------
    centers (k, d) float32, labels (n,) int64, inertia float, n_passes int
    """
    C = centers
    prev = np.inf
    k = len(C)
    n_pass = 0
    name = "k-means full passes" if phase == "lloyd" else f"k-means {phase} passes"
    with tracker_or_null(tracker).task(name, total=max_iter + 1) as task:
        while True:
            t0 = time.perf_counter()
            stats, labels, far = full_pass(ds, C, backend, keep_labels=True, n_far=k)
            n_pass += 1
            task.advance(1)
            n_empty = int((stats.counts <= 0).sum())
            history.append({"phase": phase, "step": n_pass - 1, "inertia": stats.inertia,
                            "empty": n_empty, "seconds": time.perf_counter() - t0})
            gain = (prev - stats.inertia) / max(abs(prev), 1e-30) if np.isfinite(prev) else np.inf
            if n_pass > max_iter or (n_empty == 0 and gain <= tol):
                return C, labels, stats.inertia, n_pass
            prev = stats.inertia
            C_new = centers_from_stats(stats, C, metric=ds.metric)
            if n_empty:
                relocate_empty(ds, stats, C_new, far)
            C = C_new
