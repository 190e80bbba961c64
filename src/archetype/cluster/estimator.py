"""``MiniBatchKMeans``: the scikit-learn compatible face of the k-means core.

Validates and converts input once, chooses the backend once, then runs the private phases
(docs/kmeans.md): on an in-memory sample of ``max(32768, 128 k)`` rows, seeding
(:mod:`.init`), mini-batch updates (:mod:`.minibatch`), Lloyd passes and split/merge repair
(:mod:`.refine`); then full-data Lloyd passes (:mod:`.lloyd`).  A warm start (``init`` array
or model) skips the sample phases except the mini-batch steps, over all rows.  ``fit``
accepts an array, a memory-mapped ``.npy`` (or its path) or an iterator of chunks; memory is
bounded by ``chunk_size`` (and the sample), never ``n x k``.
"""

from __future__ import annotations

import logging
import math
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from archetype.cluster._validation import check_finite, check_width, normalize_rows
from archetype.cluster.assign import assign
from archetype.cluster.backends import get_backend
from archetype.cluster.data import Dataset, as_dataset
from archetype.cluster.init import seed_centers
from archetype.cluster.lloyd import lloyd_phase
from archetype.cluster.minibatch import MiniBatchState, minibatch_phase, minibatch_step
from archetype.cluster.refine import refine_sample_size, repair
from archetype.cluster.step import DEFAULT_CHUNK_ROWS
from archetype.errors import UserError

log = logging.getLogger(__name__)


class MiniBatchKMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """Mini-batch k-means with full-data refinement, on CPU (torch/numba/faiss) or CUDA.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "k-means||", "random"}, ndarray (k, d) or fitted MiniBatchKMeans
        Seeding: greedy k-means++ on a sample of ``max(10000, 32k)`` rows, k-means|| over
        all rows, random rows, or given centers (warm start).
    n_init : int, default 1
        Independent runs; the one with the lowest inertia is kept.
    max_iter : int, default 50
        Maximum full-data Lloyd passes after the mini-batch phase (0 = none, only the final
        assignment pass).
    batch_size : int, default 4096
    max_steps : int, optional
        Mini-batch steps (default: one epoch of the in-memory sample, at most 300).
    tol : float, default 1e-4
        Stop Lloyd passes when the relative inertia gain is at most ``tol``.
    max_no_improvement : int or None, default 10
        Stop the mini-batch phase after this many steps without gain of the smoothed inertia.
    reassignment_ratio : float, default 0.01
        Centers with less than this fraction of the largest center's weight are moved.
    random_state : int, RandomState or None
    metric : {"l2", "cosine"}, default "l2"
        ``cosine``: rows and centers normalized (spherical k-means); distances are ``1 - cos``.
    backend : {"auto", "torch", "faiss", "numba", "numpy"}, default "auto"
    device : {"auto", "cpu", "cuda"}, default "auto"
    precision : {"fp32", "tf32", "bf16"}, default "fp32"
        Distance GEMM input type on CUDA (fp32 accumulation).
    chunk_size : int, optional
        Rows per chunk of a full pass (default 262144).
    verbose : int, default 0
        Log per-phase summaries.

    Attributes
    ----------
    cluster_centers_ : ndarray (k, d) float32
    labels_ : ndarray (n,) int64
    inertia_ : float
    n_iter_ : int — full passes run in the kept init (including the final assignment).
    n_steps_ : int — mini-batch steps run in the kept init.
    history_ : list of dict — per-step stats (phase, step, inertia, seconds, reassigned/empty).
    backend_ : str, device_ : str
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "k-means||", "random"}), "array-like", BaseEstimator],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_steps": [Interval(Integral, 0, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 1, None, closed="left"), None],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "metric": [StrOptions({"l2", "cosine"})],
        "backend": [StrOptions({"auto", "torch", "faiss", "numba", "numpy"})],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "precision": [StrOptions({"fp32", "tf32", "bf16"})],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=1, max_iter=50,
                 batch_size=4096, max_steps=None, tol=1e-4, max_no_improvement=10,
                 reassignment_ratio=0.01, random_state=None, metric="l2", backend="auto",
                 device="auto", precision="fp32", chunk_size=None, verbose=0):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.reassignment_ratio = reassignment_ratio
        self.random_state = random_state
        self.metric = metric
        self.backend = backend
        self.device = device
        self.precision = precision
        self.chunk_size = chunk_size
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- input ----------------------------------------------------------------------------
    def _dataset(self, X, sample_weight, *, reset: bool) -> Dataset:
        chunk = self.chunk_size or DEFAULT_CHUNK_ROWS
        if hasattr(X, "tocsr") or hasattr(X, "tocoo"):  # scipy.sparse
            return as_dataset(X)  # raises the "dense data is required" error
        if isinstance(X, np.ndarray | list | tuple) and not isinstance(X, np.memmap) or (
            hasattr(X, "__array__") and not isinstance(X, np.ndarray)
        ):
            X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64],
                              ensure_all_finite=False, ensure_min_samples=1)
            ds = Dataset(np.ascontiguousarray(X, dtype=np.float32), sample_weight,
                         metric=self.metric, chunk_rows=chunk)
        else:
            ds = as_dataset(X, sample_weight, metric=self.metric, chunk_rows=chunk)
            if reset:
                self.n_features_in_ = ds.dim()
        ds.validate()
        return ds

    def _init_centers(self, ds: Dataset, rng: np.random.Generator, backend) -> np.ndarray:
        k = self.n_clusters
        init = self.init
        if isinstance(init, BaseEstimator):
            check_is_fitted(init, "cluster_centers_")
            init = init.cluster_centers_
        if isinstance(init, str):
            return seed_centers(ds, k, init, rng, backend)
        C = np.ascontiguousarray(np.asarray(init, dtype=np.float32))
        if C.shape != (k, ds.dim()):
            raise UserError(f"init.shape={C.shape} should be (n_clusters={k}, "
                            f"n_features={ds.dim()})")
        check_finite(C, name="init")
        return normalize_rows(C, name="init") if self.metric == "cosine" else C

    def _check_k(self, n: int) -> None:
        if n < self.n_clusters:
            raise UserError(f"n_samples={n} should be >= n_clusters={self.n_clusters}")

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, tracker=None):
        """Fit on an array, a memory-mapped ``.npy`` (or its path) or an iterator of chunks."""
        self._validate_params()
        ds = self._dataset(X, sample_weight, reset=True)
        try:
            self._check_k(ds.count())
            backend = get_backend(self.backend, self.device, precision=self.precision)
            self.backend_, self.device_ = backend.name, backend.device
            rs = check_random_state(self.random_state)
            n_init = 1 if not isinstance(self.init, str) else self.n_init
            best = None
            for run in range(n_init):
                rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
                result = self._fit_once(ds, rng, backend, tracker)
                log.info("init %d: inertia %.6g", run, result[2])
                if best is None or result[2] < best[2]:
                    best = result
        finally:
            ds.close()
        (self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_, self.n_steps_,
         self.history_) = best
        self._counts = np.bincount(self.labels_, minlength=self.n_clusters).astype(np.float64)
        self._rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        return self

    def _fit_once(self, ds: Dataset, rng, backend, tracker):
        t0 = time.perf_counter()
        history: list = []
        n, k = ds.count(), self.n_clusters
        sample = isinstance(self.init, str)  # seeding, not a warm start: work on a sample first
        work = ds
        if sample:
            m = refine_sample_size(n, k)  # clean float32 rows in memory (repair reads .X)
            idx = np.arange(n) if m >= n else rng.choice(n, m, replace=False)
            xs, ws = ds.subset(idx)
            work = Dataset(xs, ws, metric=ds.metric, chunk_rows=ds.chunk_rows)
        C = self._init_centers(work, rng, backend)
        history.append({"phase": "init", "step": 0, "seconds": time.perf_counter() - t0})
        steps = self.max_steps
        if steps is None:
            steps = min(300, math.ceil(work.count() / self.batch_size))
        state = minibatch_phase(work, C, backend, rng, batch_size=self.batch_size,
                                max_steps=steps, max_no_improvement=self.max_no_improvement,
                                reassignment_ratio=self.reassignment_ratio, history=history,
                                tracker=tracker)
        C = state.centers
        n_steps = sum(1 for h in history if h["phase"] == "minibatch")
        if sample and self.max_iter > 0:
            C, _lab, s_inertia, _np = lloyd_phase(work, C, backend, max_iter=max(self.max_iter, 30),
                                                  tol=self.tol, history=history,
                                                  phase="sample")
            C, _s, _moves = repair(work, C, s_inertia, backend, rng, tol=self.tol,
                                   max_iter=max(self.max_iter, 30), history=history)
        C, labels, inertia, n_pass = lloyd_phase(ds, C, backend, max_iter=self.max_iter,
                                                 tol=self.tol, history=history, tracker=tracker)
        if self.verbose:
            log.info("k-means: %d mini-batch steps, %d full passes, inertia %.6g",
                     n_steps, n_pass, inertia)
        return C, labels, float(inertia), n_pass, n_steps, history

    def partial_fit(self, X, y=None, sample_weight=None):
        """One mini-batch update with the rows of ``X`` (seeds from them on the first call)."""
        first = not hasattr(self, "cluster_centers_")
        if first:
            self._validate_params()
        ds = self._dataset(X, sample_weight, reset=first)
        backend = get_backend(self.backend, self.device, precision=self.precision)
        if first:
            self._check_k(ds.count())
            self._rng = np.random.default_rng(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            self.backend_, self.device_ = backend.name, backend.device
            self.cluster_centers_ = self._init_centers(ds, self._rng, backend)
            self._counts = np.zeros(self.n_clusters)
            self.n_steps_ = 0
            self.n_iter_ = 0
            self.history_ = []
        else:
            check_width(np.empty((0, ds.dim())), self.n_features_in_)
        state = MiniBatchState(self.cluster_centers_, self._counts)
        x, w = ds.subset(np.arange(ds.count()))
        inertia, n_re = minibatch_step(state, x, w, backend, metric=self.metric, rng=self._rng,
                                       reassignment_ratio=self.reassignment_ratio,
                                       reassign=(self.n_steps_ + 1) % 10 == 0)
        self.cluster_centers_, self._counts = state.centers, state.counts
        self.history_.append({"phase": "partial_fit", "step": self.n_steps_,
                              "inertia": inertia, "reassigned": n_re})
        self.n_steps_ += 1
        a = self._assign(x, already_clean=True)
        self.labels_ = a.labels
        self.inertia_ = float(np.dot(w.astype(np.float64), a.distances))
        return self

    # -- predict --------------------------------------------------------------------------
    def _assign(self, X, *, already_clean: bool = False, labels_only: bool = False):
        check_is_fitted(self, "cluster_centers_")
        if already_clean:
            x = X
            metric = "l2" if self.metric == "l2" else "cosine"
        else:
            ds = self._dataset(X, None, reset=False)
            check_width(np.empty((0, ds.dim())), self.n_features_in_)
            x, metric = ds.X, self.metric
        return assign(x, self.cluster_centers_, metric=metric, backend=self.backend,
                      device=self.device, chunk_size=self.chunk_size, precision=self.precision,
                      validate=False, labels_only=labels_only)

    def predict(self, X):
        """Index of the nearest center of each row, (n,) int64."""
        return self._assign(X, labels_only=True).labels

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def assign(self, X):
        """:class:`~archetype.cluster.assign.Assignment` (labels, distances, margin) of ``X``."""
        return self._assign(X)

    def transform(self, X):
        """Distances to every center, (n, k) float32: Euclidean, or ``1 - cos`` for cosine."""
        check_is_fitted(self, "cluster_centers_")
        ds = self._dataset(X, None, reset=False)
        check_width(np.empty((0, ds.dim())), self.n_features_in_)
        C = self.cluster_centers_.astype(np.float64)
        out = np.empty((ds.count(), len(C)), np.float32)
        for s, x, _w in ds.chunks():
            x64 = x.astype(np.float64)
            if self.metric == "cosine":
                out[s : s + len(x)] = 1.0 - x64 @ C.T
            else:
                d2 = (x64**2).sum(1)[:, None] - 2 * x64 @ C.T + (C**2).sum(1)[None, :]
                out[s : s + len(x)] = np.sqrt(np.maximum(d2, 0))
        return out

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of ``X``."""
        a = self._assign(X)
        w = np.ones(len(a)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        return -float(np.dot(w, a.distances.astype(np.float64)))
