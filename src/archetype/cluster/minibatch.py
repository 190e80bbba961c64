"""Mini-batch updates with per-center learning rates (Sculley 2010), with starved-center
reassignment and early stopping on an exponentially weighted batch inertia."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from archetype.cluster.backends import Backend
from archetype.cluster.data import Dataset
from archetype.progress import Tracker, tracker_or_null


@dataclass
class MiniBatchState:
    """Centers and the cumulative weight each has absorbed (its inverse learning rate)."""

    centers: np.ndarray  # (k, d) float32
    counts: np.ndarray  # (k,) float64


def minibatch_step(state: MiniBatchState, x: np.ndarray, w: np.ndarray, backend: Backend, *,
                   metric: str, rng: np.random.Generator, reassignment_ratio: float,
                   reassign: bool) -> tuple[float, int]:
    """One update on the batch ``x``: returns (mean batch inertia, number reassigned).

    Center ``j`` moves to ``(counts_j c_j + S_j) / (counts_j + W_j)`` where ``S_j, W_j``
    are the batch sums and weights assigned to it: a learning rate ``W_j / counts_j`` that
    shrinks as the center absorbs more rows.
    """
    cs = backend.assign_accumulate(x, backend.prepare(state.centers), w)
    C = state.centers.astype(np.float64)
    hit = cs.counts > 0
    total = state.counts + cs.counts
    C[hit] = (C[hit] * state.counts[hit, None] + cs.sums[hit]) / total[hit, None]
    state.counts = total
    n_re = 0
    if reassign and reassignment_ratio > 0 and len(C) > 1:
        low = state.counts < reassignment_ratio * state.counts.max()
        n_re = int(min(low.sum(), len(x) // 2))
        if n_re:
            # replace starved centers with batch rows, far rows preferred (k-means++ style)
            p = cs.dist.astype(np.float64) * w
            p = p / p.sum() if p.sum() > 0 else None
            picks = rng.choice(len(x), size=n_re, replace=False, p=p)
            low_idx = np.flatnonzero(low)[:n_re]
            C[low_idx] = x[picks]
            state.counts[low_idx] = np.min(state.counts[~low]) if (~low).any() else 1.0
    if metric == "cosine":
        C /= np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-30)
    state.centers = C.astype(np.float32)
    wsum = float(w.sum()) or 1.0
    inertia = cs.inertia / wsum
    return (inertia / 2.0 if metric == "cosine" else inertia), n_re


def minibatch_phase(ds: Dataset, centers: np.ndarray, backend: Backend, rng: np.random.Generator,
                    *, batch_size: int, max_steps: int, max_no_improvement: int | None,
                    reassignment_ratio: float, history: list, tracker: Tracker | None = None,
                    counts: np.ndarray | None = None) -> MiniBatchState:
    """Run up to ``max_steps`` mini-batch updates; stop after ``max_no_improvement`` steps
    without improvement of the smoothed batch inertia."""
    n = ds.count()
    state = MiniBatchState(centers.copy(), np.zeros(len(centers)) if counts is None else counts)
    bs = min(batch_size, n)
    alpha = min(1.0, bs * 2.0 / (n + 1))
    ewa, best, stale = None, np.inf, 0
    reassign_every = max(1, int(10 + state.counts.size / max(bs, 1)))
    with tracker_or_null(tracker).task("k-means mini-batch steps", total=max_steps) as task:
        for step in range(max_steps):
            t0 = time.perf_counter()
            x, w = ds.subset(rng.integers(0, n, bs))
            inertia, n_re = minibatch_step(
                state, x, w, backend, metric=ds.metric, rng=rng,
                reassignment_ratio=reassignment_ratio,
                reassign=(step + 1) % reassign_every == 0,
            )
            ewa = inertia if ewa is None else ewa * (1 - alpha) + inertia * alpha
            history.append({"phase": "minibatch", "step": step, "inertia": inertia,
                            "ewa_inertia": ewa, "reassigned": n_re,
                            "seconds": time.perf_counter() - t0})
            task.advance(1)
            if ewa < best:
                best, stale = ewa, 0
            else:
                stale += 1
                if max_no_improvement is not None and stale >= max_no_improvement:
                    break
    return state
