"""The k-means loop: the one sequence of phases every fit runs, local or on Ray.

Over any :class:`~archetype.cluster.data.Dataset` (rows here, or shards on Ray actors):

1. draw an in-memory **sample** of ``max(32768, 128 k)`` rows with ``ds.subset`` (all rows
   if fewer);
2. **seed** on it (:mod:`.init`);
3. **mini-batch** steps on the sample (:mod:`.minibatch`; default one epoch, <= 300 steps);
4. **Lloyd on the sample** until the gain is <= ``tol``, then **split/merge repair**
   (:mod:`.refine`);
5. **full-data Lloyd** passes with ``ds.accumulate`` until the gain is <= ``tol``
   (``max_iter``); the last pass only measures.

A warm start (``init`` an array) skips 2 and 4.  Phases 1-4 run in this process on the
sample; only the sample's draw and phase 5 touch the dataset, so a sharded dataset runs the
same loop and, for the same seed, reaches the same centers.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype.cluster.backends import Backend
from archetype.cluster.backends.blocked import one_blas_thread
from archetype.cluster.data import ArrayDataset, Dataset
from archetype.cluster.init import seed_centers
from archetype.cluster.lloyd import lloyd_phase
from archetype.cluster.minibatch import minibatch_phase
from archetype.cluster.refine import refine_sample_size, repair
from archetype.errors import UserError
from archetype.progress import Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KMeansParams:
    """The loop's settings (the estimator's parameters of the same names).

    ``init`` is a method name or clean (k, d) float32 centers (a warm start); ``keep_labels``
    asks the last full pass for every row's label.
    """

    n_clusters: int
    init: Any = "k-means++"
    n_init: int = 1
    max_iter: int = 50
    batch_size: int = 4096
    max_steps: int | None = None
    tol: float = 1e-4
    max_no_improvement: int | None = 10
    reassignment_ratio: float = 0.01
    keep_labels: bool = True


@dataclass
class KMeansResult:
    """What one run of the loop found (:func:`kmeans` keeps the best of ``n_init``)."""

    centers: np.ndarray  # (k, d) float32
    labels: np.ndarray | None  # (n,) int64 when params.keep_labels
    inertia: float  # of ``centers`` over every row
    sizes: np.ndarray  # (k,) float64: weight of each center's rows
    n_iter: int  # full-data passes, the final measuring one included
    n_steps: int  # mini-batch steps
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _run(ds: Dataset, p: KMeansParams, rng, backend: Backend, tracker) -> KMeansResult:
    t0 = time.perf_counter()
    trace: dict[str, Any] = {"history": [], "t0": t0}
    n, k = ds.count(), p.n_clusters
    warm = not isinstance(p.init, str)
    m = refine_sample_size(n, k)
    xs, ws = ds.subset(np.arange(n) if m >= n else rng.choice(n, m, replace=False))
    work = ArrayDataset(xs, ws, metric=ds.metric, backend=backend, clean=True)
    C = p.init if warm else seed_centers(work, k, p.init, rng)
    t = time.perf_counter() - t0
    trace["history"].append({"phase": "init", "step": 0, "seconds": t, "t": t})
    epoch = min(300, math.ceil(work.count() / p.batch_size))
    steps = epoch if p.max_steps is None else p.max_steps
    C = minibatch_phase(work, C, backend, rng, p, max_steps=steps, tracker=tracker, **trace)
    if not warm and p.max_iter > 0:
        its = max(p.max_iter, 30)
        C, st, _ = lloyd_phase(work, C, max_iter=its, tol=p.tol, phase="sample", **trace)
        C, _, _ = repair(work, C, st.inertia, rng, tol=p.tol, max_iter=its, **trace)
    full = {"tracker": tracker, "keep_labels": p.keep_labels}
    C, st, passes = lloyd_phase(ds, C, max_iter=p.max_iter, tol=p.tol, **full, **trace)
    h, s = trace["history"], time.perf_counter() - t0
    steps = sum(1 for e in h if e["phase"] == "minibatch")
    return KMeansResult(C, st.labels, float(st.inertia), st.counts, passes, steps, h, s)


def _random_state(seed) -> np.random.RandomState:
    """``sklearn.utils.check_random_state`` without importing scikit-learn."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, int | np.integer):
        return np.random.RandomState(seed)
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def kmeans(
    ds: Dataset,
    params: KMeansParams,
    *,
    backend: Backend,
    random_state=None,
    tracker: Tracker | None = None,
) -> KMeansResult:
    """Run the loop ``params.n_init`` times (once for a warm start); keep the lowest inertia.

    Parameters
    ----------
    ds : Dataset
        Clean rows: validated at the public face (estimator, engine).
    params : KMeansParams
    backend : Backend
        For the work on the in-memory sample (the dataset computes its own passes).
    random_state : int, RandomState or None
        Run ``i`` draws from ``np.random.default_rng(rs.randint(2**31 - 1))``: the same seed
        gives the same runs whatever the dataset is.
    tracker : Tracker, optional
        Progress of the mini-batch steps and the full passes.
    """
    n, k = ds.count(), params.n_clusters
    if n < k:
        raise UserError(f"n_samples={n} should be >= n_clusters={k}")
    rs = _random_state(random_state)
    n_init = params.n_init if isinstance(params.init, str) else 1
    best: KMeansResult | None = None
    for run in range(n_init):
        rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        # the loop's own NumPy GEMMs (seeding, repair) are small: a multi-threaded BLAS
        # would leave threads spinning on the cores the passes' workers need
        with one_blas_thread():
            res = _run(ds, params, rng, backend, tracker)
        log.info(
            "run %d: %d steps, %d passes, inertia %.6g", run, res.n_steps, res.n_iter, res.inertia
        )
        if best is None or res.inertia < best.inertia:
            best = res
    return best
