"""``MiniBatchKMeans``: the scikit-learn compatible face of the k-means core.

Validates and converts input once (:meth:`MiniBatchKMeans._dataset`), chooses the backend
once, then runs the one loop of :mod:`archetype.cluster.kmeans` (sample → seeding →
mini-batch → sample Lloyd + repair → full-data Lloyd; docs/kmeans.md) over an
:class:`~archetype.cluster.data.ArrayDataset`.  ``fit`` accepts an array, a memory-mapped
``.npy`` (or its path) or an iterator of chunks; memory is bounded by ``chunk_size`` (and the
sample), never ``n x k``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from archetype.cluster._validation import check_finite, check_rows, check_weights, check_width
from archetype.cluster.assign import assign_small, is_small
from archetype.cluster.backends import LABELS, MARGIN, get_backend
from archetype.cluster.data import DEFAULT_CHUNK_ROWS, ArrayDataset, as_rows
from archetype.cluster.init import seed_centers
from archetype.cluster.kmeans import KMeansParams, kmeans
from archetype.cluster.metric import adapter
from archetype.cluster.minibatch import MiniBatchState, minibatch_step
from archetype.errors import UserError
from archetype.vocab import Backend, Device, Metric, Precision

_INITS = {"k-means++", "k-means||", "random"}


class MiniBatchKMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """Mini-batch k-means with full-data refinement, on CPU (numba/faiss/torch) or CUDA.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "k-means||", "random"}, ndarray (k, d) or fitted MiniBatchKMeans
        Seeding on the in-memory sample: greedy k-means++ (on ``max(10000, 32k)`` of its
        rows), k-means||, random rows; or given centers (warm start).
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
        Kept for scikit-learn compatibility; per-run summaries go to the ``logging`` module.

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
        "init": [StrOptions(_INITS), "array-like", BaseEstimator],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_steps": [Interval(Integral, 0, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 1, None, closed="left"), None],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "metric": [StrOptions({m.value for m in Metric})],
        "backend": [StrOptions({b.value for b in Backend})],
        "device": [StrOptions({d.value for d in Device})],
        "precision": [StrOptions({p.value for p in Precision})],
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
    def _backend(self):
        return get_backend(self.backend, self.device, precision=self.precision)

    def _dataset(self, X, sample_weight, *, reset: bool, backend=None,
                 check: bool = True) -> ArrayDataset:
        """The one validation of ``X`` (and weights) on the way in: shape, dtype, width at
        predict, NaN/inf, zero rows for cosine (``check=False``: the caller's pass checks
        NaN/inf itself).  Private code assumes it passed here."""
        chunk = self.chunk_size or DEFAULT_CHUNK_ROWS
        tmp = None
        if (isinstance(X, np.ndarray | list | tuple) and not isinstance(X, np.memmap)) or (
                hasattr(X, "__array__") and not isinstance(X, np.ndarray)
                and not hasattr(X, "tocsr")):
            X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64],
                              ensure_all_finite=False, ensure_min_samples=1)
            X = np.ascontiguousarray(X, dtype=np.float32)
        else:
            X, tmp = as_rows(X)
            if reset:
                self.n_features_in_ = X.shape[1]
            else:
                check_width(X, self.n_features_in_)
        try:
            if check:
                check_rows(X, self.metric, chunk)
            w = check_weights(sample_weight, X.shape[0])
        except BaseException:
            if tmp is not None:
                ArrayDataset(X, metric=self.metric, backend=backend, _tmpfile=tmp).close()
            raise
        return ArrayDataset(X, w, metric=self.metric, backend=backend or self._backend(),
                            chunk_rows=chunk, _tmpfile=tmp)

    def _params(self) -> KMeansParams:
        return KMeansParams(
            n_clusters=self.n_clusters, init=self._init_value(), n_init=self.n_init,
            max_iter=self.max_iter, batch_size=self.batch_size, max_steps=self.max_steps,
            tol=self.tol, max_no_improvement=self.max_no_improvement,
            reassignment_ratio=self.reassignment_ratio)

    def _init_value(self):
        """``init`` as a method name, or validated clean (k, d) float32 centers."""
        init = self.init
        if isinstance(init, BaseEstimator):
            check_is_fitted(init, "cluster_centers_")
            init = init.cluster_centers_
        if isinstance(init, str):
            return init
        k, d = self.n_clusters, self.n_features_in_
        C = np.ascontiguousarray(np.asarray(init, dtype=np.float32))
        if C.shape != (k, d):
            raise UserError(f"init.shape={C.shape} should be (n_clusters={k}, n_features={d})")
        check_finite(C, name="init")
        return adapter(self.metric).centers(C, name="init")

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, tracker=None):
        """Fit on an array, a memory-mapped ``.npy`` (or its path) or an iterator of chunks.

        ``tracker`` (``archetype.progress``) shows the mini-batch steps and full passes.
        """
        self._validate_params()
        backend = self._backend()
        ds = self._dataset(X, sample_weight, reset=True, backend=backend)
        try:
            self.backend_, self.device_ = backend.name, backend.device
            rs = check_random_state(self.random_state)
            res = kmeans(ds, self._params(), backend=backend, random_state=rs, tracker=tracker)
        finally:
            ds.close()
        self.cluster_centers_, self.labels_, self.inertia_ = res.centers, res.labels, res.inertia
        self.n_iter_, self.n_steps_, self.history_ = res.n_iter, res.n_steps, res.history
        self._counts = np.bincount(self.labels_, minlength=self.n_clusters).astype(np.float64)
        self._rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """One mini-batch update with the rows of ``X`` (seeds from them on the first call)."""
        first = not hasattr(self, "cluster_centers_")
        if first:
            self._validate_params()
        backend = self._backend()
        ds = self._dataset(X, sample_weight, reset=first, backend=backend)
        try:  # the batch, clean and in memory
            x, w = ds.subset(np.arange(ds.count()))
        finally:
            ds.close()
        ds = ArrayDataset(x, w, metric=self.metric, backend=backend, clean=True)
        if first:
            if ds.count() < self.n_clusters:
                raise UserError(f"n_samples={ds.count()} should be >= "
                                f"n_clusters={self.n_clusters}")
            self._rng = np.random.default_rng(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            self.backend_, self.device_ = backend.name, backend.device
            init = self._init_value()
            if isinstance(init, str):
                init = seed_centers(ds, self.n_clusters, init, self._rng)
            self.cluster_centers_ = init
            self._counts = np.zeros(self.n_clusters)
            self.n_steps_ = 0
            self.n_iter_ = 0
            self.history_ = []
        state = MiniBatchState(self.cluster_centers_, self._counts)
        inertia, n_re = minibatch_step(state, x, w, backend, metric=ds.metric, rng=self._rng,
                                       reassignment_ratio=self.reassignment_ratio,
                                       reassign=(self.n_steps_ + 1) % 10 == 0)
        self.cluster_centers_, self._counts = state.centers, state.counts
        self.history_.append({"phase": "partial_fit", "step": self.n_steps_,
                              "inertia": inertia, "reassigned": n_re})
        self.n_steps_ += 1
        a = ds.assign(self.cluster_centers_)
        self.labels_ = a.labels
        self.inertia_ = float(np.dot(np.ones(len(x)) if w is None else w.astype(np.float64),
                                     a.distances))
        return self

    # -- predict --------------------------------------------------------------------------
    def _assign(self, X, *, mode: int = MARGIN):
        check_is_fitted(self, "cluster_centers_")
        backend = self._backend()
        ds = self._dataset(X, None, reset=False, backend=backend, check=False)
        try:
            if (self.backend == Backend.AUTO and ds.in_memory
                    and is_small(ds.X, self.cluster_centers_)):
                check_finite(ds.X)
                return assign_small(ds.X, self.cluster_centers_, ds.metric, mode)
            if not backend.checks_finite:  # (else the pass itself checks, as check_rows)
                check_rows(ds.X, self.metric, ds.chunk_rows)
            return ds.assign(self.cluster_centers_, mode=mode)
        finally:
            ds.close()

    def predict(self, X):
        """Index of the nearest center of each row, (n,) int64."""
        return self._assign(X, mode=LABELS).labels

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def assign(self, X):
        """:class:`~archetype.cluster.assign.Assignment` (labels, distances, margin) of ``X``."""
        return self._assign(X)

    def transform(self, X):
        """Distances to every center, (n, k) float32: Euclidean, or ``1 - cos`` for cosine."""
        check_is_fitted(self, "cluster_centers_")
        ds = self._dataset(X, None, reset=False)
        C = self.cluster_centers_.astype(np.float64)
        out = np.empty((ds.count(), len(C)), np.float32)
        try:
            for s, x, _w in ds.chunks():
                x64 = x.astype(np.float64)
                if ds.metric.cosine:
                    out[s : s + len(x)] = 1.0 - x64 @ C.T
                else:
                    d2 = (x64**2).sum(1)[:, None] - 2 * x64 @ C.T + (C**2).sum(1)[None, :]
                    out[s : s + len(x)] = np.sqrt(np.maximum(d2, 0))
        finally:
            ds.close()
        return out

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of ``X``."""
        a = self._assign(X)
        w = np.ones(len(a)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        return -float(np.dot(w, a.distances.astype(np.float64)))
