"""The fitted map from raw features to the embedding, saved as ``transform.json``.

Per column, in order: ``log1p`` (count/money/duration features, when enabled) -> clip at
fitted quantiles (winsorize) -> ``(x - median) / scale`` with scale = IQR, or the standard
deviation when the IQR is 0, or 1 when both are 0 -> times the family weight.  Optionally
then ``(x - mean) @ components.T`` (PCA fitted by SVD).  Everything runs in float64 from
parameters stored as exact JSON floats, and is cast to float32 at the end, so re-applying a
loaded transform reproduces the embedding bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from archetype.errors import UserError
from archetype.features.config import FeatureConfig

VERSION = 1


@dataclass
class FeatureTransform:
    """A fitted feature transform (see module docstring).

    Attributes
    ----------
    feature_names : list[str]
        Raw input columns, in order.
    families : list[str]
        Family of each input column.
    log1p : list[bool]
        Whether each column goes through ``log1p``.
    lower, upper : list[float]
        Winsorizing bounds (after log1p); ``-inf``/``inf`` = none.
    center, scale : list[float]
        Robust centering and scaling.
    weights : list[float]
        Per-column family weight.
    pca_mean, pca_components : optional
        PCA mean (d,) and components (m, d), or ``None``.
    extra : dict
        Build settings to reproduce the raw features (``channels``, ``occasions``).
    """

    feature_names: list[str]
    families: list[str]
    log1p: list[bool]
    lower: list[float]
    upper: list[float]
    center: list[float]
    scale: list[float]
    weights: list[float]
    pca_mean: list[float] | None = None
    pca_components: list[list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output_names(self) -> list[str]:
        """Embedding column names: the features, or ``pc1..pcm`` with PCA."""
        if self.pca_components is None:
            return list(self.feature_names)
        return [f"pc{i + 1}" for i in range(len(self.pca_components))]

    @classmethod
    def fit(
        cls,
        df: pl.DataFrame,
        config: FeatureConfig | None = None,
        *,
        specs: list | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> FeatureTransform:
        """Fit on raw features ``df`` (``customer_id`` + features).

        ``specs`` (list of :class:`~archetype.features.spec.FeatureSpec`) give each column's
        family and log flag; without them the family catalog of the default build is used.
        """
        cfg = config or FeatureConfig()
        names = [c for c in df.columns if c != "customer_id"]
        if not names:
            raise UserError("no feature columns to fit a transform on")
        if df.height == 0:
            raise UserError("no customers to fit a transform on")
        by_name = {s.name: s for s in (specs or _default_specs(names))}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise UserError(f"unknown feature column(s) {missing}; no family/unit known")
        fams = [by_name[n].family for n in names]
        logs = [bool(cfg.log1p and by_name[n].log) for n in names]
        x = _pre(df, names, logs)
        if cfg.winsorize is not None:
            lo_q, hi_q = cfg.winsorize
            lower = np.quantile(x, lo_q, axis=0) if lo_q > 0 else np.full(x.shape[1], -np.inf)
            upper = np.quantile(x, hi_q, axis=0) if hi_q < 1 else np.full(x.shape[1], np.inf)
        else:
            lower = np.full(x.shape[1], -np.inf)
            upper = np.full(x.shape[1], np.inf)
        x = np.clip(x, lower, upper)
        center = np.median(x, axis=0)
        q75, q25 = np.quantile(x, [0.75, 0.25], axis=0)
        scale = q75 - q25
        std = x.std(axis=0)
        scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
        weights = [float(cfg.family_weights.get(f, 1.0)) for f in fams]
        t = cls(
            feature_names=names,
            families=fams,
            log1p=logs,
            lower=[float(v) for v in lower],
            upper=[float(v) for v in upper],
            center=[float(v) for v in center],
            scale=[float(v) for v in scale],
            weights=weights,
            extra=dict(extra or {}),
        )
        if cfg.pca_components is not None:
            z = t._scaled(df)
            m = min(cfg.pca_components, z.shape[1], z.shape[0])
            mean = z.mean(axis=0)
            _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
            comps = vt[:m]
            # Deterministic signs: the largest-magnitude loading of each component is positive.
            signs = np.sign(comps[np.arange(m), np.abs(comps).argmax(axis=1)])
            comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
            t.pca_mean = [float(v) for v in mean]
            t.pca_components = [[float(v) for v in row] for row in comps]
        return t

    def _scaled(self, df: pl.DataFrame) -> np.ndarray:
        missing = [n for n in self.feature_names if n not in df.columns]
        if missing:
            raise UserError(
                f"features lack column(s) {', '.join(missing)} that the transform was fitted on",
                column=missing[0],
            )
        return self._scale(_pre(df, self.feature_names, self.log1p))

    def _params(self) -> dict[str, np.ndarray | None]:
        """The parameters as arrays, built once (the per-request NumPy path reuses them)."""
        # Cached against the very field objects (held, so ``is`` cannot be fooled by a
        # reused id): assigning a new list to a field rebuilds the arrays.
        key = (self.log1p, self.lower, self.upper, self.center, self.scale, self.weights,
               self.pca_mean, self.pca_components)  # fmt: skip
        cached = self.__dict__.get("_arrays")
        if cached is not None and all(x is y for x, y in zip(cached[0], key, strict=True)):
            return cached[1]
        lg = np.flatnonzero(np.array(self.log1p, dtype=bool))
        p = {
            "log": lg if len(lg) else None,
            "lower": np.array(self.lower, dtype=np.float64),
            "upper": np.array(self.upper, dtype=np.float64),
            "center": np.array(self.center, dtype=np.float64),
            "scale": np.array(self.scale, dtype=np.float64),
            "weights": np.array(self.weights, dtype=np.float64),
            "pca_mean": None if self.pca_mean is None else np.array(self.pca_mean),
            "pca_t": None if self.pca_components is None else np.array(self.pca_components).T,
        }
        self.__dict__["_arrays"] = (key, p)
        return p

    def _scale(self, x: np.ndarray) -> np.ndarray:
        """log1p'd raw features (n, d_raw) float64 -> clipped, centered, scaled, weighted."""
        p = self._params()
        x = np.clip(x, p["lower"], p["upper"])
        x = (x - p["center"]) / p["scale"]
        x *= p["weights"]
        return x

    def _finish(self, x: np.ndarray) -> np.ndarray:
        p = self._params()
        if p["pca_t"] is not None:
            x = (x - p["pca_mean"]) @ p["pca_t"]
        out = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(out).all():
            raise UserError("embedding has non-finite values; check the raw features")
        return out

    def transform(self, df: pl.DataFrame) -> np.ndarray:
        """Raw features -> embedding, float32 C-order, shape (n, len(output_names))."""
        return self._finish(self._scaled(df))

    def transform_numpy(self, X: np.ndarray) -> np.ndarray:
        """:meth:`transform` of raw features already in an array, in ``feature_names`` order.

        ``X`` is ``(n, d_raw)`` or ``(d_raw,)`` float64 (a 1-D row gives a ``(1, d)``
        result).  The same float operations as :meth:`transform` (so the same result for
        the same input), without Polars: a few microseconds per call for one row, the
        service's per-request path.
        """
        x = np.array(X, dtype=np.float64, ndmin=2)  # a copy: log1p is applied in place
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(
                f"X has shape {np.shape(X)}; expected (n, {len(self.feature_names)}) "
                "raw features in feature_names order"
            )
        if not np.isfinite(x).all():
            bad = [n for j, n in enumerate(self.feature_names) if not np.isfinite(x[:, j]).all()]
            raise UserError(f"raw feature(s) {', '.join(bad)} have NaN/inf values", column=bad[0])
        lg = self._params()["log"]
        if lg is not None:
            x[:, lg] = np.log1p(np.maximum(x[:, lg], 0.0))
        return self._finish(self._scale(x))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "feature_names": list(self.feature_names),
            "families": list(self.families),
            "log1p": list(self.log1p),
            "lower": [_enc(v) for v in self.lower],
            "upper": [_enc(v) for v in self.upper],
            "center": list(self.center),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "pca_mean": self.pca_mean,
            "pca_components": self.pca_components,
            "output_names": self.output_names,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureTransform:
        try:
            if int(d.get("version", VERSION)) > VERSION:
                raise UserError(f"transform version {d['version']} is newer than {VERSION}")
            return cls(
                feature_names=list(d["feature_names"]),
                families=list(d["families"]),
                log1p=[bool(v) for v in d["log1p"]],
                lower=[_dec(v) for v in d["lower"]],
                upper=[_dec(v) for v in d["upper"]],
                center=[float(v) for v in d["center"]],
                scale=[float(v) for v in d["scale"]],
                weights=[float(v) for v in d["weights"]],
                pca_mean=d.get("pca_mean"),
                pca_components=d.get("pca_components"),
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, UserError):
                raise
            raise UserError(f"not a valid transform ({type(e).__name__}: {e})") from None


def _pre(df: pl.DataFrame, names: list[str], logs: list[bool]) -> np.ndarray:
    x = df.select([pl.col(n).cast(pl.Float64) for n in names]).to_numpy().astype(np.float64)
    if not np.isfinite(x).all():
        bad = [n for j, n in enumerate(names) if not np.isfinite(x[:, j]).all()]
        raise UserError(f"raw feature(s) {', '.join(bad)} have NaN/inf values", column=bad[0])
    lg = np.array(logs, dtype=bool)
    if lg.any():
        x[:, lg] = np.log1p(np.maximum(x[:, lg], 0.0))
    return x


def _enc(v: float) -> float | str:
    return v if np.isfinite(v) else ("inf" if v > 0 else "-inf")


def _dec(v: float | str) -> float:
    return float(v)


def _default_specs(names: list[str]):
    from archetype.features.catalog import specs_for_names

    return specs_for_names(names)
