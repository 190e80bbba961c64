"""Lloyd passes over any :class:`~archetype.cluster.data.Dataset`, with empty clusters moved
to the farthest rows (found by one more pass, only when a cluster is empty)."""

from __future__ import annotations

import time

import numpy as np

from archetype.cluster.data import Dataset
from archetype.cluster.step import StepStats, centers_from_stats
from archetype.progress import Tracker, tracker_or_null


def relocate_empty(ds: Dataset, stats: StepStats, new_centers: np.ndarray) -> int:
    """Move centers with zero weight onto the farthest rows of the pass (in place, farthest
    row to the lowest empty center); returns how many moved."""
    empty = np.flatnonzero(stats.counts <= 0)
    far = stats.farthest(len(empty))
    m = len(far)
    if m:
        x, _ = ds.subset(far)  # rows in sorted index order
        new_centers[empty[:m]] = x[np.searchsorted(np.sort(far), far)]
    return m


def lloyd_phase(ds: Dataset, centers: np.ndarray, *, max_iter: int, tol: float, history: list,
                tracker: Tracker | None = None, phase: str = "lloyd", keep_labels: bool = False,
                t0: float | None = None):
    """Lloyd passes until the relative inertia gain is at most ``tol`` (with no empty
    cluster) or ``max_iter`` updates were made.

    ``phase`` names the history entries ("lloyd" for full data, "sample"/"repair" for the
    in-memory sample).  The returned centers are the ones the returned stats (inertia,
    counts, labels) were computed against: the last pass does not move them.

    Returns
    -------
    centers (k, d) float32, stats StepStats of the last pass, n_passes int
    """
    C = centers
    prev = np.inf
    n_pass = 0
    t0 = time.perf_counter() if t0 is None else t0
    name = "k-means full passes" if phase == "lloyd" else f"k-means {phase} passes"
    with tracker_or_null(tracker).task(name, total=max_iter + 1) as task:
        while True:
            t = time.perf_counter()
            stats = ds.accumulate(C, keep_labels=keep_labels)
            n_pass += 1
            task.advance(1)
            n_empty = int((stats.counts <= 0).sum())
            now = time.perf_counter()
            history.append({"phase": phase, "step": n_pass - 1, "inertia": stats.inertia,
                            "empty": n_empty, "seconds": now - t, "t": now - t0})
            gain = (prev - stats.inertia) / max(abs(prev), 1e-30) if np.isfinite(prev) else np.inf
            if n_pass > max_iter or (n_empty == 0 and gain <= tol):
                return C, stats, n_pass
            prev = stats.inertia
            C_new = centers_from_stats(stats, C, metric=ds.metric.metric)
            if n_empty:  # rare: one more pass finds the farthest rows
                relocate_empty(ds, ds.accumulate(C, n_far=n_empty), C_new)
            C = C_new
