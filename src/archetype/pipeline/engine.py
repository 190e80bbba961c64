"""Engines: who computes features, fits k-means and assigns — this process or a Ray cluster.

The CLI (``features``, ``fit``, ``assign``) and the pipeline (``run``, ``backfill``) talk to
an :class:`Engine`, built by :func:`get_engine`.  :class:`LocalEngine` runs in this process;
``get_engine("ray")`` imports ``archetype.distributed.ray_engine.RayEngine`` lazily, so the
pipeline never imports the distributed layer unless asked to.  Both fit with the one loop of
``archetype.cluster.kmeans``: for the same seed they return the same centroids.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from archetype.errors import UserError
from archetype.progress import Tracker
from archetype.vocab import EngineName, choices

log = logging.getLogger(__name__)


@runtime_checkable
class Engine(Protocol):
    """The three steps an engine runs (``LocalEngine``, ``RayEngine``)."""

    name: str
    #: ``features(id_map=...)`` renames customer ids before anything is written.
    supports_id_map: bool

    def features(self, events_path: str | Path, as_of: dt.date, out_dir: str | Path, *,
                 config: Any = None, events_config: Any = None, window_days: int | None = None,
                 transform: Any = None, tracker: Tracker | None = None,
                 id_map: Any = None) -> Any:
        """Build the features dir of ``as_of`` (``archetype.features.FeatureSet``)."""

    def fit(self, embedding: np.ndarray, k: int, *, init: np.ndarray | None = None,
            seed: int = 0, n_init: int = 1, backend: str = "auto", device: str = "auto",
            metric: str = "l2", tracker: Tracker | None = None
            ) -> tuple[np.ndarray, dict[str, Any]]:
        """``(centroids (k, d) float32, info)``; info has ``inertia``, ``n_iter``,
        ``n_steps``, ``sizes``, ``backend``, ``device``, ``engine``, ``seconds``."""

    def assign(self, embedding: np.ndarray, centroids: np.ndarray, *, metric: str = "l2",
               backend: str = "auto", device: str = "auto", tracker: Tracker | None = None
               ) -> Any:
        """``archetype.cluster.Assignment`` (labels, distances, margins) of every row."""


def fit_info(*, inertia: float, n_iter: int, n_steps: int, sizes, backend: str, device: str,
             warm: bool, engine: str, seconds: float) -> dict[str, Any]:
    """The ``info`` dict of :meth:`Engine.fit` (the same keys from every engine)."""
    return {"inertia": float(inertia), "n_iter": int(n_iter), "n_steps": int(n_steps),
            "sizes": [int(round(float(c))) for c in sizes], "backend": str(backend),
            "device": str(device), "warm_start": bool(warm), "engine": engine,
            "seconds": float(seconds)}


class LocalEngine:
    """Run every step in this process.

    Parameters
    ----------
    batch_size : int, default 4096
        Mini-batch size of k-means.
    max_iter : int, default 50
        Maximum full-data passes of k-means.
    chunk_size : int, optional
        Rows per chunk of a pass (default 262144).
    """

    name = EngineName.LOCAL.value
    supports_id_map = True

    def __init__(self, *, batch_size: int = 4096, max_iter: int = 50,
                 chunk_size: int | None = None) -> None:
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.chunk_size = chunk_size

    def features(self, events_path, as_of, out_dir, *, config=None, events_config=None,
                 window_days=None, transform=None, tracker=None, id_map=None):
        """Build the feature dir of ``as_of`` (re-applying ``transform`` when given)."""
        from archetype.features import compute_feature_dir

        return compute_feature_dir(
            events_path, as_of, out_dir, config=config, events_config=events_config,
            window_days=window_days, transform=transform, tracker=tracker, id_map=id_map,
        )

    def fit(self, embedding, k, *, init=None, seed=0, n_init=1, backend="auto", device="auto",
            metric="l2", tracker=None):
        """``MiniBatchKMeans``; warm-started from ``init`` (k, d) when given."""
        from archetype import MiniBatchKMeans

        est = MiniBatchKMeans(
            n_clusters=k, init="k-means++" if init is None else np.asarray(init, np.float32),
            n_init=n_init, batch_size=self.batch_size, max_iter=self.max_iter,
            random_state=seed, backend=backend, device=device, metric=metric,
            chunk_size=self.chunk_size,
        )
        t0 = time.perf_counter()
        est.fit(embedding, tracker=tracker)
        return est.cluster_centers_, fit_info(
            inertia=est.inertia_, n_iter=est.n_iter_, n_steps=est.n_steps_,
            sizes=np.bincount(est.labels_, minlength=k), backend=est.backend_,
            device=est.device_, warm=init is not None, engine=self.name,
            seconds=time.perf_counter() - t0)

    def assign(self, embedding, centroids, *, metric="l2", backend="auto", device="auto",
               tracker=None):
        """Nearest centroid, distance and margin of every row."""
        from archetype.cluster import assign

        return assign(embedding, centroids, metric=metric, backend=backend, device=device,
                      chunk_size=self.chunk_size, tracker=tracker)


def get_engine(name: str, address: str | None = None, **kwargs: Any) -> Engine:
    """The engine called ``name`` (``"local"`` or ``"ray"``).

    Parameters
    ----------
    name : {"local", "ray"}
    address : str, optional
        Ray cluster address (``ray``; default: ``RAY_ADDRESS`` or a local cluster).
    **kwargs
        ``batch_size``/``max_iter`` (both engines), ``chunk_size`` (local),
        ``num_workers``/``num_gpus`` (Ray); settings the other engine has are ignored.
    """
    if name == EngineName.LOCAL:
        keep = ("batch_size", "max_iter", "chunk_size")
        return LocalEngine(**{k: v for k, v in kwargs.items() if k in keep})
    if name == EngineName.RAY:  # by name: the pipeline layer never imports distributed/
        mod = importlib.import_module("archetype.distributed.ray_engine")
        keep = ("num_workers", "num_gpus", "batch_size", "max_iter")
        return mod.RayEngine(address=address, **{k: v for k, v in kwargs.items() if k in keep})
    raise UserError(f"engine={name!r} should be one of {choices(EngineName)}")
