"""Continuous learning between nightly runs: online centroids with stable segment ids.

Each segment keeps the sum and the weight of its members' **current** vectors.  When a
customer's vector or segment changes, its old contribution is removed and the new one
added (one point per customer, not one per event, so heavy users do not dominate).  With
no half-life and unbounded moves a centroid update is therefore exactly one batch Lloyd
update on the current assignments: ``centroid_j = mean of the current vectors of j``.

* **half-life** (event time, optional): a contribution added at ``t`` weighs
  ``2 ** ((t - t_ref) / half_life)``; only ratios matter, so nothing is decayed in place
  (sums are rebased now and then to stay in range).  Customers who stopped changing weigh
  less than those who are active now.
* **bounded moves**: one update moves a centroid by at most ``max_move`` times its
  distance to the nearest other centroid (the rest waits for the next update).
* **no create / split / delete**: ``k`` and the ids are the model's.  Instead, alerts:
  *starvation* when a segment's share of the total weight falls below ``min_share`` times
  its share at the start, *drift* when a centroid has moved more than ``drift_alert`` times
  its start-of-day nearest-centroid distance.  The next nightly run's matching acts on them.
* **hysteresis** (:meth:`OnlineCentroids.assign`): a customer leaves its segment only when
  another centroid is closer by a factor: ``d_new <= (1 - hysteresis) * d_current``
  (squared L2, or cosine distance).
* **versions**: every update that moves a centroid is a version ``<model>+<n>`` with its
  parent, event time, the shift of each segment id and the alerts raised.

``config = LearningConfig(max_move=None, half_life=None)`` gives the exact Lloyd update
(tested to 1e-6 against NumPy).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field

from archetype.live.triggers.config import US, Duration, _Model, format_duration, validate

REBASE_HALF_LIVES = 16.0


class LearningConfig(_Model):
    """The ``[learning]`` table."""

    enabled: bool = True
    half_life: Duration | None = None
    max_move: float | None = Field(0.05, gt=0.0)
    hysteresis: float = Field(0.05, ge=0.0, lt=1.0)
    update_every: Duration = 1 * US["h"]
    min_share: float = Field(0.25, ge=0.0, le=1.0)
    drift_alert: float = Field(0.5, gt=0.0)

    @classmethod
    def from_dict(cls, d: dict | None, *, source: str = "[learning]") -> LearningConfig:
        return validate(cls, d or {}, source)


@dataclass
class LearningStep:
    """One centroid update (a new version)."""

    version: str
    parent: str
    ts_us: int
    shift: dict[int, float]
    bounded: list[int] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "parent": self.parent,
            "ts_us": self.ts_us,
            "shift": {str(k): v for k, v in self.shift.items()},
            "bounded": self.bounded,
            "alerts": self.alerts,
        }


def _config_dict(cfg: LearningConfig) -> dict[str, Any]:
    """``cfg`` as a dict that validates back to ``cfg`` (durations spelled out)."""
    d = cfg.model_dump()
    for k in ("half_life", "update_every"):
        if d[k] is not None:
            d[k] = format_duration(d[k])
    return d


def _nn_dist(c: np.ndarray) -> np.ndarray:
    """Distance of each row to its nearest other row (inf when k == 1)."""
    d2 = (c * c).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * c @ c.T
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def _normalize(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


class OnlineCentroids:
    """Centroids of a fixed set of segment ids, updated from customers' current vectors.

    Parameters
    ----------
    centroids : ndarray (k, d)
        The model's centroids (row i is segment ``segment_ids[i]``).
    segment_ids : sequence of int
    config : LearningConfig
    model_version : str
    metric : {"l2", "cosine"}
    """

    def __init__(
        self,
        centroids: np.ndarray,
        segment_ids,
        config: LearningConfig | None = None,
        *,
        model_version: str = "model",
        metric: str = "l2",
    ) -> None:
        c = np.array(centroids, dtype=np.float64)
        if c.ndim != 2:
            raise ValueError(f"centroids must be 2-D, got shape {c.shape}")
        self.metric = metric
        if metric == "cosine":
            c = _normalize(c)
        self.config = config or LearningConfig()
        self.ids = [int(i) for i in segment_ids]
        if len(self.ids) != c.shape[0]:
            raise ValueError(f"{len(self.ids)} segment ids for {c.shape[0]} centroids")
        self.row = {sid: i for i, sid in enumerate(self.ids)}
        self.base = c.copy()
        self.centroids = c
        self.sums = np.zeros_like(c)
        self.weights = np.zeros(c.shape[0])
        self.base_share = np.full(c.shape[0], 1.0 / c.shape[0])
        self.base_nn = _nn_dist(c)
        self.t_ref = 0
        self.model_version = model_version
        self.n_version = 0
        self.last_step_us: int | None = None
        self.active_alerts: set[tuple[str, int]] = set()
        self.generation = 0  # bumped when the learner restarts from a new nightly model

    # ----- weights ----------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return (
            self.model_version if self.n_version == 0 else f"{self.model_version}+{self.n_version}"
        )

    def weight(self, t_us: np.ndarray | int | None) -> np.ndarray | float:
        """Weight of a contribution added at event time ``t_us`` (1 without half-life)."""
        h = self.config.half_life
        if h is None or t_us is None:
            return np.ones(np.shape(t_us)) if np.ndim(t_us) else 1.0
        return np.exp2((np.asarray(t_us, dtype=np.float64) - self.t_ref) / h)

    def _rebase(self, t_us: int) -> None:
        h = self.config.half_life
        if h is None or (t_us - self.t_ref) / h < REBASE_HALF_LIVES:
            return
        f = np.exp2(-(t_us - self.t_ref) / h)
        self.sums *= f
        self.weights *= f
        self.t_ref = int(t_us)

    # ----- bootstrap and updates ----------------------------------------------------------------
    def bootstrap(
        self, X: np.ndarray, labels: np.ndarray, t_us: np.ndarray | int | None = None
    ) -> None:
        """Set the sums from every customer's current vector and label (row index 0..k-1).

        Labels < 0 (no segment) are skipped; ``t_us`` are the contributions' event times
        (used with a half-life).
        """
        X = self._prep(X)
        labels = np.asarray(labels, dtype=np.int64)
        if t_us is not None and self.config.half_life is not None:
            self.t_ref = int(np.max(t_us)) if np.ndim(t_us) else int(t_us)
        w = np.broadcast_to(self.weight(t_us), labels.shape).astype(np.float64)
        keep = labels >= 0
        k = self.centroids.shape[0]
        self.sums = np.zeros_like(self.centroids)
        np.add.at(self.sums, labels[keep], X[keep] * w[keep, None])
        self.weights = np.bincount(labels[keep], weights=w[keep], minlength=k)
        total = self.weights.sum()
        if total > 0:
            self.base_share = self.weights / total

    def _prep(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        return _normalize(X) if self.metric == "cosine" else X

    def update(self, old_labels, new_labels, old_X, new_X, *, old_t=None, new_t=None) -> None:
        """Replace customers' contributions: remove ``old_X`` from ``old_labels``' sums, add
        ``new_X`` to ``new_labels``' (label -1 = none; rows are customers)."""
        old_labels = np.atleast_1d(np.asarray(old_labels, dtype=np.int64))
        new_labels = np.atleast_1d(np.asarray(new_labels, dtype=np.int64))
        if new_t is not None and self.config.half_life is not None:
            self._rebase(int(np.max(new_t)))
        for labels, X, t, sign in (
            (old_labels, old_X, old_t, -1.0),
            (new_labels, new_X, new_t, 1.0),
        ):
            keep = labels >= 0
            if not keep.any():
                continue
            Xk = self._prep(X)[keep]
            w = np.broadcast_to(self.weight(t), labels.shape).astype(np.float64)[keep]
            np.add.at(self.sums, labels[keep], sign * Xk * w[:, None])
            np.add.at(self.weights, labels[keep], sign * w)

    # ----- centroid update --------------------------------------------------------------------
    def targets(self) -> np.ndarray:
        """The Lloyd means of the current contributions (old centroid where empty)."""
        out = self.centroids.copy()
        ok = self.weights > 1e-12 * max(1.0, float(self.weights.max(initial=0.0)))
        out[ok] = self.sums[ok] / self.weights[ok, None]
        return _normalize(out) if self.metric == "cosine" else out

    def step(self, ts_us: int) -> LearningStep | None:
        """Move centroids toward their targets (bounded); a new version if any moved."""
        self.last_step_us = int(ts_us)
        target = self.targets()
        delta = target - self.centroids
        dist = np.linalg.norm(delta, axis=1)
        bounded: list[int] = []
        if self.config.max_move is not None:
            limit = self.config.max_move * _nn_dist(self.centroids)
            over = dist > limit
            if over.any():
                delta[over] *= (limit[over] / dist[over])[:, None]
                bounded = [self.ids[i] for i in np.flatnonzero(over)]
        new = self.centroids + delta
        if self.metric == "cosine":
            new = _normalize(new)
        shift = np.linalg.norm(new - self.centroids, axis=1)
        alerts = self._alerts(new, int(ts_us))
        if not (shift > 0).any() and not alerts:
            return None
        parent = self.version
        self.centroids = new
        self.n_version += 1
        return LearningStep(
            version=self.version,
            parent=parent,
            ts_us=int(ts_us),
            shift={sid: float(s) for sid, s in zip(self.ids, shift, strict=True)},
            bounded=bounded,
            alerts=alerts,
        )

    def _alerts(self, new: np.ndarray, ts_us: int) -> list[dict[str, Any]]:
        out = []
        total = self.weights.sum()
        share = self.weights / total if total > 0 else np.zeros_like(self.weights)
        moved = np.linalg.norm(new - self.base, axis=1)
        for i, sid in enumerate(self.ids):
            for kind, value, limit, on in (
                (
                    "starvation",
                    share[i],
                    self.config.min_share * self.base_share[i],
                    share[i] < self.config.min_share * self.base_share[i],
                ),
                (
                    "drift",
                    moved[i],
                    self.config.drift_alert * self.base_nn[i],
                    moved[i] > self.config.drift_alert * self.base_nn[i],
                ),
            ):
                key = (kind, sid)
                if on and key not in self.active_alerts:
                    self.active_alerts.add(key)
                    out.append(
                        {
                            "kind": kind,
                            "segment_id": sid,
                            "value": float(value),
                            "threshold": float(limit),
                            "ts_us": ts_us,
                        }
                    )
                elif not on and key in self.active_alerts:
                    self.active_alerts.discard(key)
                    out.append(
                        {
                            "kind": f"{kind}_cleared",
                            "segment_id": sid,
                            "value": float(value),
                            "threshold": float(limit),
                            "ts_us": ts_us,
                        }
                    )
        return out

    # ----- assignment -------------------------------------------------------------------------
    def distances(self, X: np.ndarray) -> np.ndarray:
        """(n, k) squared L2 (or cosine) distances to the current centroids."""
        X = self._prep(X)
        C = self.centroids
        if self.metric == "cosine":
            return 1.0 - X @ C.T
        d2 = (X * X).sum(1)[:, None] + (C * C).sum(1)[None, :] - 2.0 * X @ C.T
        return np.maximum(d2, 0.0)

    def assign(self, X: np.ndarray, current: np.ndarray | None = None) -> np.ndarray:
        """Row labels with hysteresis: stay unless the nearest is ``(1 - h)`` times closer."""
        D = self.distances(X)
        best = D.argmin(axis=1)
        if current is None:
            return best
        cur = np.asarray(current, dtype=np.int64)
        has = cur >= 0
        out = best.copy()
        rows = np.flatnonzero(has)
        d_cur = D[rows, cur[rows]]
        d_best = D[rows, best[rows]]
        stay = d_best > (1.0 - self.config.hysteresis) * d_cur
        out[rows[stay]] = cur[rows[stay]]
        return out

    # ----- persistence ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "ids": self.ids,
            "metric": self.metric,
            "t_ref": self.t_ref,
            "model_version": self.model_version,
            "n_version": self.n_version,
            "last_step_us": self.last_step_us,
            "config": _config_dict(self.config),
            "alerts": sorted([list(a) for a in self.active_alerts]),
            "generation": self.generation,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            centroids=self.centroids,
            base=self.base,
            sums=self.sums,
            weights=self.weights,
            base_share=self.base_share,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, b: bytes) -> OnlineCentroids:
        z = np.load(io.BytesIO(b))
        meta = json.loads(z["meta"].tobytes())
        self = cls(
            z["base"],
            meta["ids"],
            LearningConfig(**meta["config"]),
            model_version=meta["model_version"],
            metric=meta["metric"],
        )
        self.centroids = z["centroids"]
        self.sums = z["sums"]
        self.weights = z["weights"]
        self.base_share = z["base_share"]
        self.t_ref = meta["t_ref"]
        self.n_version = meta["n_version"]
        self.last_step_us = meta["last_step_us"]
        self.active_alerts = {(k, int(s)) for k, s in meta["alerts"]}
        self.generation = int(meta.get("generation", 0))
        return self
