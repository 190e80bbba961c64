"""Mini-batch updates with per-center learning rates (Sculley 2010), with starved-center
reassignment and early stopping on an exponentially weighted batch inertia."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from archetype.cluster.backends import Backend
from archetype.cluster.data import ArrayDataset, Dataset
from archetype.cluster.metric import MetricAdapter
from archetype.cluster.step import StepStats, centers_from_stats
from archetype.progress import Tracker, tracker_or_null


@dataclass
class MiniBatchState:
    """Centers and the cumulative weight each has absorbed (its inverse learning rate)."""

    centers: np.ndarray  # (k, d) float32
    counts: np.ndarray  # (k,) float64


def minibatch_step(state: MiniBatchState, x: np.ndarray, w: np.ndarray | None,
                   backend: Backend, *, metric: MetricAdapter, rng: np.random.Generator,
                   reassignment_ratio: float, reassign: bool) -> tuple[float, int]:
    """One update on the clean batch ``x``: returns (mean batch inertia, number reassigned).

    The running centers enter as statistics (``sums = c_j n_j``, ``counts = n_j``) and the
    batch's are added, so :func:`centers_from_stats` gives ``(n_j c_j + S_j) / (n_j + W_j)``:
    a learning rate ``W_j / (n_j + W_j)`` that shrinks as center ``j`` absorbs rows.
    """
    batch = ArrayDataset(x, w, metric=metric, backend=backend, clean=True).accumulate(
        state.centers, keep_labels=reassign)
    running = StepStats(state.centers.astype(np.float64) * state.counts[:, None],
                        state.counts, 0.0, 0)
    merged = running + batch
    C = centers_from_stats(merged, state.centers, metric=metric.metric)
    counts = merged.counts
    n_re = 0
    if reassign and reassignment_ratio > 0 and len(C) > 1:
        low = counts < reassignment_ratio * counts.max()
        n_re = int(min(low.sum(), len(x) // 2))
        if n_re:
            # replace starved centers with batch rows, far rows preferred (k-means++ style)
            p = batch.dist.astype(np.float64) * (1.0 if w is None else w)
            p = p / p.sum() if p.sum() > 0 else None
            picks = rng.choice(len(x), size=n_re, replace=False, p=p)
            low_idx = np.flatnonzero(low)[:n_re]
            C[low_idx] = x[picks]
            counts[low_idx] = np.min(counts[~low]) if (~low).any() else 1.0
    state.centers, state.counts = C, counts
    wsum = float(len(x) if w is None else w.sum()) or 1.0
    return batch.inertia / wsum, n_re


def minibatch_phase(ds: Dataset, centers: np.ndarray, backend: Backend, rng: np.random.Generator,
                    params, *, max_steps: int, history: list, tracker: Tracker | None = None,
                    t0: float | None = None) -> np.ndarray:
    """Up to ``max_steps`` mini-batch updates on batches drawn from ``ds`` (a sample in
    memory, or any dataset for a warm start); stop after ``params.max_no_improvement`` steps
    without improvement of the smoothed batch inertia.  ``params`` (``KMeansParams``) gives
    ``batch_size``, ``max_no_improvement`` and ``reassignment_ratio``.  Returns the centers."""
    batch_size, max_no_improvement = params.batch_size, params.max_no_improvement
    n = ds.count()
    idx_type = np.int32 if n < 2**31 else np.int64  # int32 sorts 2x faster in subset()
    t0 = time.perf_counter() if t0 is None else t0
    state = MiniBatchState(centers.copy(), np.zeros(len(centers)))
    bs = min(batch_size, n)
    alpha = min(1.0, bs * 2.0 / (n + 1))
    ewa, best, stale = None, np.inf, 0
    reassign_every = max(1, int(10 + state.counts.size / max(bs, 1)))
    with tracker_or_null(tracker).task("k-means mini-batch steps", total=max_steps) as task:
        for step in range(max_steps):
            t = time.perf_counter()
            x, w = ds.subset(rng.integers(0, n, bs, dtype=idx_type))
            inertia, n_re = minibatch_step(
                state, x, w, backend, metric=ds.metric, rng=rng,
                reassignment_ratio=params.reassignment_ratio,
                reassign=(step + 1) % reassign_every == 0,
            )
            ewa = inertia if ewa is None else ewa * (1 - alpha) + inertia * alpha
            now = time.perf_counter()
            history.append({"phase": "minibatch", "step": step, "inertia": inertia,
                            "ewa_inertia": ewa, "reassigned": n_re, "seconds": now - t,
                            "t": now - t0})
            task.advance(1)
            if ewa < best:
                best, stale = ewa, 0
            else:
                stale += 1
                if max_no_improvement is not None and stale >= max_no_improvement:
                    break
    return state.centers
