"""The fitted map from raw features to the embedding, saved as ``transform.json``.

Which columns: every raw feature except those left out at fit time, each recorded with its
reason in ``dropped`` (so a re-applied transform makes the same choice):

- ``constant``: one value for everyone after winsorizing (a transaction-only log's view,
  cart and email features; a feature that is 0 for 99% of customers);
- ``never defined``: no customer has the value (its ``defined_when`` rule holds for
  nobody), so every row holds the fill;
- ``duplicate``: |Pearson r| >= ``max_correlation`` with an earlier kept feature (e.g.
  ``purchases`` with ``frequency`` when nobody buys twice a day): one behavior counts once.

Per kept column, in order: ``log1p`` (count/money/duration features, when enabled) -> clip
at fitted quantiles (winsorize) -> ``(x - center) / scale`` -> times the family weight;
center = median; scale = the larger of the IQR and the standard deviation (``scaling =
"max"``, default: neither a narrow middle — a share that is 0 for most customers — nor a
narrow spread inflates a feature), the standard deviation (``"std"``) or the IQR
(``"robust"``, falling back to the std when the IQR is 0; the scaling of older
transforms); 1 when it is 0.  Optionally
then ``(x - mean) @ components.T`` (PCA fitted by SVD).  Everything runs in float64 from
parameters stored as exact JSON floats, and is cast to float32 at the end, so re-applying a
loaded transform reproduces the embedding bit for bit.  Older ``transform.json`` files
(IQR scale, no ``dropped`` record) load and apply as they were written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from archetype.errors import UserError
from archetype.features.config import FeatureConfig
from archetype.features.spec import FeatureSpec, defined_masks

VERSION = 1
#: Rows used to measure correlations between features (a fixed-seed sample beyond this).
CORRELATION_SAMPLE = 200_000


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
    dropped : list of dict
        Raw features left out of the embedding at fit time: ``{"feature", "reason"}``.
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
    dropped: list[dict[str, str]] = field(default_factory=list)

    @property
    def dropped_names(self) -> list[str]:
        """Raw features left out of the embedding (see :attr:`dropped`)."""
        return [d["feature"] for d in self.dropped]

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
        logs = [bool(cfg.log1p and by_name[n].log) for n in names]
        x = _pre(df, names, logs)
        lower, upper = _winsor_bounds(x, cfg.winsorize)
        x = np.clip(x, lower, upper)
        dropped = _choose_dropped(df, x, names, [by_name[n] for n in names], cfg)
        keep = [j for j, n in enumerate(names) if n not in dropped]
        x = x[:, keep]
        kept = [names[j] for j in keep]
        fams = [by_name[n].family for n in kept]
        center, scale = _center_scale(x, cfg.scaling)
        weights = [float(cfg.family_weights.get(f, 1.0)) for f in fams]
        t = cls(
            feature_names=kept,
            families=fams,
            log1p=[logs[j] for j in keep],
            lower=[float(lower[j]) for j in keep],
            upper=[float(upper[j]) for j in keep],
            center=[float(v) for v in center],
            scale=[float(v) for v in scale],
            weights=weights,
            extra=dict(extra or {}),
            dropped=[{"feature": n, "reason": r} for n, r in dropped.items()],
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
            "dropped": [dict(d) for d in self.dropped],
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
                dropped=[
                    {"feature": str(x["feature"]), "reason": str(x.get("reason", ""))}
                    for x in d.get("dropped", [])
                ],
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


def _winsor_bounds(
    x: np.ndarray, winsorize: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column clip bounds at the fitted quantiles (``-inf``/``inf`` = none)."""
    d = x.shape[1]
    if winsorize is None:
        return np.full(d, -np.inf), np.full(d, np.inf)
    lo_q, hi_q = winsorize
    lower = np.quantile(x, lo_q, axis=0) if lo_q > 0 else np.full(d, -np.inf)
    upper = np.quantile(x, hi_q, axis=0) if hi_q < 1 else np.full(d, np.inf)
    return lower, upper


def _center_scale(x: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """Median and scale per column (1 where the scale is 0).

    ``"max"``: the larger of the IQR and the standard deviation; ``"std"``: the standard
    deviation; ``"robust"``: the IQR, or the standard deviation when the IQR is 0.
    """
    center = np.median(x, axis=0)
    std = x.std(axis=0)
    if scaling == "std":
        scale = std
    else:
        q75, q25 = np.quantile(x, [0.75, 0.25], axis=0)
        iqr = q75 - q25
        scale = np.maximum(iqr, std) if scaling == "max" else np.where(iqr > 0, iqr, std)
    return center, np.where(scale > 0, scale, 1.0)


def _choose_dropped(
    df: pl.DataFrame, x: np.ndarray, names: list[str], specs: list[FeatureSpec],
    cfg: FeatureConfig,
) -> dict[str, str]:  # fmt: skip
    """``{feature: reason}`` for the columns of ``x`` (clipped) left out of the embedding.

    Nothing is dropped when it would leave no feature at all.
    """
    out: dict[str, str] = {}
    masks = defined_masks(df, specs)
    for j, n in enumerate(names):
        col = x[:, j]
        if n in masks and not masks[n].any():
            out[n] = f"never defined: no {specs[j].defined_for}"
        elif col.max() == col.min():
            out[n] = f"constant: {_num(col[0])} for every customer after winsorizing"
    if cfg.max_correlation is not None:
        live = [j for j, n in enumerate(names) if n not in out]
        rows = x
        if x.shape[0] > CORRELATION_SAMPLE:
            pick = np.random.default_rng(0).choice(x.shape[0], CORRELATION_SAMPLE, replace=False)
            rows = x[np.sort(pick)]
        if len(live) > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.corrcoef(rows[:, live], rowvar=False)
            kept: list[int] = []
            for a, j in enumerate(live):
                hit = next((b for b in kept if abs(r[a, b]) >= cfg.max_correlation), None)
                if hit is None:
                    kept.append(a)
                else:
                    out[names[j]] = (
                        f"duplicate of {names[live[hit]]} (r = {r[a, hit]:.3f} >= "
                        f"{cfg.max_correlation:g})"
                    )
    if len(out) == len(names):
        return {}
    return out


def _num(v: float) -> str:
    return f"{v:.6g}"


def _enc(v: float) -> float | str:
    return v if np.isfinite(v) else ("inf" if v > 0 else "-inf")


def _dec(v: float | str) -> float:
    return float(v)


def _default_specs(names: list[str]):
    from archetype.features.catalog import specs_for_names

    return specs_for_names(names)
