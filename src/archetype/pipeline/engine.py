"""Engines: who computes features, fits k-means and assigns — this process or a Ray cluster.

``run`` and ``backfill`` talk to an engine object with three methods (docs/CONTRACTS.md)::

    features(events_path, as_of, out_dir, *, config, window_days, transform=None, tracker=None)
        -> FeatureSet
    fit(embedding, k, *, init=None, seed, backend, device, metric, tracker=None)
        -> (centroids, info)
    assign(embedding, centroids, *, metric, backend, device) -> Assignment

:class:`LocalEngine` runs them in-process; ``get_engine("ray")`` imports
``archetype.distributed.ray_engine.RayEngine`` lazily, so the pipeline never imports the
distributed layer unless asked to.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import logging
from pathlib import Path
from typing import Any

import numpy as np

from archetype.errors import UserError
from archetype.progress import Tracker

log = logging.getLogger(__name__)


class LocalEngine:
    """Run every step in this process.

    Parameters
    ----------
    batch_size : int, default 4096
        Mini-batch size of k-means.
    max_iter : int, default 50
        Maximum number of passes of k-means.
    """

    name = "local"

    def __init__(self, *, batch_size: int = 4096, max_iter: int = 50) -> None:
        self.batch_size = batch_size
        self.max_iter = max_iter

    @property
    def supports_id_map(self) -> bool:
        """Whether ``features(id_map=...)`` can rename ids before anything is written."""
        from archetype.features import compute_feature_dir

        try:
            return "id_map" in inspect.signature(compute_feature_dir).parameters
        except (TypeError, ValueError):  # pragma: no cover
            return False

    def features(
        self,
        events_path: str | Path,
        as_of: dt.date,
        out_dir: str | Path,
        *,
        config: Any = None,
        window_days: int | None = None,
        transform: Any = None,
        tracker: Tracker | None = None,
        id_map: Any = None,
    ):
        """Build the feature dir of ``as_of`` (re-applying ``transform`` when given).

        ``id_map`` (a function of the customer_id Series, e.g. pseudonymization) is passed
        to the features layer when it supports it (see :attr:`supports_id_map`).
        """
        from archetype.features import compute_feature_dir

        extra = {"id_map": id_map} if id_map is not None else {}
        return compute_feature_dir(
            events_path, as_of, out_dir, config=config, window_days=window_days,
            transform=transform, tracker=tracker, **extra,
        )

    def fit(
        self,
        embedding: np.ndarray,
        k: int,
        *,
        init: np.ndarray | None = None,
        seed: int = 0,
        backend: str = "auto",
        device: str = "auto",
        metric: str = "l2",
        tracker: Tracker | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Mini-batch k-means; warm-started from ``init`` (k, d) when given."""
        from archetype import MiniBatchKMeans

        est = MiniBatchKMeans(
            n_clusters=k,
            init="k-means++" if init is None else np.asarray(init, dtype=np.float32),
            n_init=1,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            random_state=seed,
            backend=backend,
            device=device,
            metric=metric,
        )
        est.fit(embedding)
        info = {
            "inertia": float(getattr(est, "inertia_", float("nan"))),
            "n_iter": int(getattr(est, "n_iter_", 0) or 0),
            "n_steps": int(getattr(est, "n_steps_", 0) or 0),
            "backend": str(getattr(est, "backend_", backend)),
            "device": str(getattr(est, "device_", device)),
            "warm_start": init is not None,
        }
        return np.ascontiguousarray(est.cluster_centers_, dtype=np.float32), info

    def assign(
        self,
        embedding: np.ndarray,
        centroids: np.ndarray,
        *,
        metric: str = "l2",
        backend: str = "auto",
        device: str = "auto",
    ):
        """Nearest centroid, distance and margin of every row."""
        from archetype.cluster import assign

        return assign(embedding, centroids, metric=metric, backend=backend, device=device)


def get_engine(name: str, address: str | None = None, **kwargs: Any):
    """The engine called ``name`` (``"local"`` or ``"ray"``).

    Parameters
    ----------
    name : {"local", "ray"}
    address : str, optional
        Ray cluster address (``ray``; default: ``RAY_ADDRESS`` or a local cluster).
    **kwargs
        ``batch_size``/``max_iter`` (both engines), ``num_workers``/``num_gpus`` (Ray).
    """
    if name == "local":
        return LocalEngine(**{k: v for k, v in kwargs.items() if k in ("batch_size", "max_iter")})
    if name == "ray":
        try:
            mod = importlib.import_module("archetype.distributed.ray_engine")
        except ImportError as e:
            raise UserError(
                f"--engine ray needs ray and archetype.distributed.ray_engine ({e}); "
                "pip install 'archetype[ray]'"
            ) from None
        ray_kwargs = {k: v for k, v in kwargs.items()
                      if k in ("num_workers", "num_gpus", "batch_size", "max_iter")}
        return mod.RayEngine(address=address, **ray_kwargs)
    raise UserError(f"engine={name!r} should be one of local, ray")
